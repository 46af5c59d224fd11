// What sluice-smtpd decides without talking to anyone: its settings from
// the configuration, trusted networks, the Received line, and the SMTP
// reply for an injection result. Pure functions, unit-tested.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "listen/smtpd/command.hpp"
#include "listen/smtpd/gates.hpp"
#include "listen/smtpd/milter.hpp"

namespace sluice::smtpd {

enum class Port { smtp, submission, submissions };
const char* port_name(Port p);

struct Settings {
  std::string hostname;
  long long max_size = 0;
  long long max_rcpts = 0;
  long long max_errors = 0;
  long long auth_failures = 0;
  long long greet_pause_ms = 0;
  long long timeout_s = 300;
  std::vector<Network> trusted;
  std::string inject_socket, auth_socket;
  long long workers = 1;  // smtpd.workers: how many share the daemons' threads
  // smtpd.filters: the chain's argv (sluice-inject appended), empty for
  // the persistent path through inject_socket.
  std::vector<std::string> filters;
  long long filter_timeout_s = 300;
  std::string exe_dir;  // where sluice-inject and sluice-filter-* are
  bool received_auth = false;  // name the authenticated user in Received
  bool vrfy = false;           // answer VRFY from the user table (smtpd.vrfy)
  Gates gates;
  MilterSettings milters;      // smtpd.milters and their time-outs
};
// Reads the smtpd.* and limits.* keys. An error names the bad value.
Result<Settings> load_settings(const Config& cfg);

struct ReceivedInfo {
  std::string helo, client_ip, hostname;
  std::string auth_user;  // named only when the admin allows (smtpd.received_auth)
  bool esmtp = true, tls = false, auth = false, utf8 = false;
  std::string tls_version, tls_cipher;
  std::string rcpt;  // named in "for <...>" when the message has one recipient
  long long time = 0;
};
// The Received line (RFC 5321 4.4, protocol names of RFC 3848 and 6531),
// folded, LF line endings, ending in LF.
std::string received_header(const ReceivedInfo& r);

// Submission (RFC 6409 8.2, 8.3): the Message-ID and Date lines MESSAGE
// (LF line endings) lacks in its header, "" when it has both. UNIQUE makes
// the Message-ID unique (time and randomness from the caller).
std::string missing_headers(std::string_view message, const std::string& hostname, long long now,
                            std::string_view unique);

// The reply for sluice-inject's / sluice-injectd's answer: CODE its exit
// status, TEXT the queue id (CODE 0) or its reply line ("5.7.1 text", or a
// full "550 5.7.1 text" from a filter).
Reply injection_reply(int code, const std::string& text);

}  // namespace sluice::smtpd
