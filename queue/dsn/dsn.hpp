// Delivery status notifications: RFC 3464 message/delivery-status inside an
// RFC 6522 multipart/report, composed the way Postfix's bounce daemon does,
// so mail clients and scripts (Python's email package) read them as
// standard bounces.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/date.hpp"
#include "common/status.hpp"

namespace sluice::dsn {

enum class Action { failed, delayed, delivered, relayed, expanded };

struct RcptReport {
  std::string final_recipient;     // the address tried, "bob@example.org"
  std::string original_recipient;  // ORCPT as given ("rfc822;bob@x") or ""
  Action action = Action::failed;
  Status status;                   // Status: field is status.enhanced
  std::string remote_mta;          // host name of the remote MTA, or ""
  std::string diagnostic;          // "smtp; 550 5.1.1 no such user", or "" for our own status.text
  long long last_attempt = 0;      // unix time; 0: omitted
};

struct Report {
  std::string reporting_mta;  // our host name: Reporting-MTA and MAILER-DAEMON@host
  std::string envid;          // ENVID of MAIL FROM, "" when none
  std::string ret;            // "FULL", "HDRS" or "" (not given)
  std::string original_sender;
  std::string to;             // recipient of the report (the original sender)
  std::string qid;            // our queue id: X-Sluice-Queue-ID
  long long arrival = 0;      // unix time the message was queued; 0: omitted
  std::vector<RcptReport> rcpts;
  long long date = 0;         // Date: of the report; 0: now
};

// Postfix's bounce_size_limit default: the most of the original returned.
inline constexpr std::size_t kDefaultReturnLimit = 50000;

// Composes the whole report message (RFC 5322, LF line endings, ready for
// injection with the null sender). Headers: From "Mail Delivery System"
// <MAILER-DAEMON@reporting_mta>, To, Subject by the most severe action
// ("Undelivered Mail Returned to Sender" when any recipient failed, else
// "Delayed Mail (still being retried)" when any is delayed, else
// "Successful Mail Delivery Report"), Date, Message-ID, MIME-Version,
// Auto-Submitted: auto-replied.
// Parts: (1) text/plain explanation naming each recipient and its reason;
// (2) message/delivery-status (message/global-delivery-status, RFC 6533,
// when an address is not ASCII); (3) the original: message/rfc822 when
// RET=FULL, or when RET is not given and a recipient failed (as Postfix
// does), provided ORIGINAL_MESSAGE is at most RETURN_LIMIT bytes; otherwise
// text/rfc822-headers with its header block.
// ORIGINAL_MESSAGE has LF line endings, as queued.
std::string compose(const Report& r, std::string_view original_message,
                    std::size_t return_limit = kDefaultReturnLimit);

// "failed", "delayed", ... as written in the Action: field.
const char* action_name(Action a);

// RFC 5322 date-time (common/date.hpp), as the report headers write it.
using sluice::rfc5322_date;

}  // namespace sluice::dsn
