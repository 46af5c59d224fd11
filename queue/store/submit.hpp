// The persistent path into the queue (DESIGN.md "Cost"): a client hands a
// message to sluice-injectd over RUN_DIR/inject.sock instead of starting
// sluice-inject, and gets the same answer sluice-inject's exit status and
// reply line would give. Same commit code (queue::Staging), same account.
//
// Request (stream): "ENVLEN\n", ENVLEN bytes of the fd 1 envelope, then the
// message until the client shuts down its writing side. Or framed:
// "ENVLEN MSGLEN\n", the envelope, MSGLEN bytes of message; after a "0 QID"
// reply the connection takes the next request (sluice-smtpd keeps a few
// such connections open instead of connecting for every message).
// Reply: one line, "0 QID" when committed, else "CODE REPLY" with CODE one
// of sluice-inject's exit statuses and REPLY its fd 2 line ("4.3.1 ..."); a
// refusal ends the connection.
#pragma once
#include <string>
#include <string_view>

namespace sluice::queue {

struct Submitted {
  bool connected = false;  // false: nobody listens; the caller may run sluice-inject instead
  int code = 0;            // sluice-inject's exit status meaning
  std::string text;        // the qid when code == 0, else the reply line
};

Submitted submit(const std::string& socket_path, std::string_view envelope, std::string_view message);

// Reads the daemon's reply line into CODE and TEXT. False when there is no
// whole line: the daemon died before answering, and whether the message
// was committed is unknown.
bool parse_reply(std::string_view reply, int& code, std::string& text);

// Largest envelope the daemon accepts (1,000 recipients of 254 octets with
// their DSN records fit many times over).
inline constexpr size_t kMaxEnvelope = 4 << 20;

}  // namespace sluice::queue
