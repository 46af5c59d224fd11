// Delivery status notifications the scheduler sends: bounces, delay
// warnings, success reports (RFC 3464, composed by queue/dsn). A report is
// itself committed to the queue before the recipients it speaks of are
// marked final, so a crash in between repeats the report, never loses it.
#pragma once
#include <string>
#include <vector>

#include "common/status.hpp"
#include "queue/dsn/dsn.hpp"
#include "queue/store/queue.hpp"

namespace sluice::sched {

struct ReportContext {
  std::string qdir;
  std::string hostname;    // Reporting-MTA and MAILER-DAEMON@
  std::string postmaster;  // where undeliverable bounces go
  long long min_free = 0;
};

// Commits a report about ITEMS of message E (whose bytes are read through
// FD). A message from the null sender gets no report, except that a failure
// of one that is not itself a notice to postmaster goes to the postmaster
// once. Returns ok when nothing more is owed (sent, or none due), temp when
// the report could not be queued (retry later).
Status send_report(const ReportContext& ctx, const queue::Entry& e, int fd, std::vector<dsn::RcptReport> items);

// Whether a recipient's NOTIFY asks for a report of KIND ("SUCCESS",
// "FAILURE", "DELAY"). An absent NOTIFY means FAILURE and DELAY (RFC 3461 4.1).
bool notify_wants(const std::string& notify, std::string_view kind);

}  // namespace sluice::sched
