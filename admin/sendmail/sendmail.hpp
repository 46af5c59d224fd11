// The classic sendmail command line on top of sluice-inject: argument
// parsing and message preparation are pure functions (unit tested in
// tests/unit/cli_sendmail_test.cpp); run.cpp does the I/O.
#pragma once
#include "common/date.hpp"
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "queue/store/queue.hpp"

namespace sluice::sendmail {

// sysexits.h, the statuses scripts (cron, PHP, mutt, git) expect.
inline constexpr int kExOk = 0;
inline constexpr int kExUsage = 64;
inline constexpr int kExDataErr = 65;
inline constexpr int kExUnavailable = 69;
inline constexpr int kExSoftware = 70;
inline constexpr int kExTempFail = 75;
inline constexpr int kExConfig = 78;

enum class Mode { deliver, print_queue, flush, rebuild_aliases };

struct Options {
  Mode mode = Mode::deliver;
  bool extract = false;      // -t: recipients from To/Cc/Bcc
  bool ignore_dots = false;  // -i, -oi: a lone "." does not end input
  bool sender_given = false;
  std::string sender;        // -f / -r, as given
  std::string full_name;     // -F
  std::string config;        // -C FILE: the sluice configuration
  std::string notify;        // -N, in envelope form: "NEVER" or "SUCCESS,DELAY,FAILURE"
  std::string ret;           // -R: "FULL" or "HDRS"
  std::string envid;         // -V
  std::vector<std::string> rcpts;
};

// ARGV without argv[0]. AS_MAILQ: invoked as mailq (argv[0]), i.e. -bp.
// Returns "" or the text of a usage error.
std::string parse_args(const std::vector<std::string>& argv, bool as_mailq, Options& o);

// What the message preparation needs from the system.
struct Context {
  std::string hostname;  // config `hostname`: qualifies bare local parts (Postfix myorigin)
  std::string login;     // the caller's login name
  std::string gecos;     // the caller's full name, used when -F is absent
  long long now = 0;     // unix time for Date:
  std::string unique;    // unique text for Message-ID:
};

struct Prepared {
  std::string message;  // LF line endings, Bcc removed, From/Date/Message-ID present
  queue::Envelope env;
};

// Turns INPUT (stdin bytes) into the queued message and its envelope.
// Errors: Status::perm with the sysexits code to use in `enhanced`
// ("64" no recipients, "65" bad address).
Result<Prepared> prepare(std::string_view input, const Options& o, const Context& ctx);

// Addresses of a header value or command-line argument: RFC 5322 lists,
// where a bare local part ("root") gets "@HOSTNAME".
Result<std::vector<std::string>> parse_addresses(std::string_view value, const std::string& hostname);

// RFC 5322 date-time in the local time zone.
using sluice::rfc5322_date;  // common/date.hpp

// The sendmail exit status for a sluice-inject exit status (qmail-queue codes).
int exit_for_inject(int inject_status);

}  // namespace sluice::sendmail
