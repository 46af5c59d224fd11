#include "queue/store/submit.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fd.hpp"

namespace sluice::queue {

Submitted submit(const std::string& socket_path, std::string_view envelope, std::string_view message) {
  Submitted out;
  struct sockaddr_un sa {};
  if (socket_path.size() >= sizeof sa.sun_path) return out;
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, socket_path.data(), socket_path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd || ::connect(fd.get(), reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) != 0) return out;
  out.connected = true;
  // A daemon that refuses early (a bad envelope) closes while we still
  // write: EPIPE here, and its reply line is still there to read.
  std::string head = std::to_string(envelope.size()) + "\n";
  if (write_all(fd.get(), head) && write_all(fd.get(), envelope)) write_all(fd.get(), message);
  ::shutdown(fd.get(), SHUT_WR);
  std::string reply;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || reply.size() > 4096) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  if (!parse_reply(reply, out.code, out.text)) {
    // Whether the message was committed is unknown, so the answer is "try
    // again" (at worst a duplicate).
    out.code = 75;
    out.text = "4.3.0 sluice-injectd closed the connection without an answer";
  }
  return out;
}

bool parse_reply(std::string_view reply, int& code, std::string& text) {
  size_t nl = reply.find('\n'), sp = reply.find(' ');
  if (nl == std::string_view::npos || sp == std::string_view::npos || sp > nl) return false;
  code = atoi(std::string(reply.substr(0, sp)).c_str());
  text = std::string(reply.substr(sp + 1, nl - sp - 1));
  return true;
}

}  // namespace sluice::queue
