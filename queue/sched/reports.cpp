#include "queue/sched/reports.hpp"

#include <unistd.h>

#include <ctime>

#include "common/log.hpp"

namespace sluice::sched {

bool notify_wants(const std::string& notify, std::string_view kind) {
  if (notify.empty()) return kind != "SUCCESS";
  if (notify == "NEVER") return false;
  size_t i = 0;
  while (i <= notify.size()) {
    size_t j = notify.find(',', i);
    if (j == std::string::npos) j = notify.size();
    if (std::string_view(notify).substr(i, j - i) == kind) return true;
    i = j + 1;
  }
  return false;
}

Status send_report(const ReportContext& ctx, const queue::Entry& e, int fd, std::vector<dsn::RcptReport> items) {
  if (items.empty()) return Status::ok();
  bool any_failed = false;
  for (const auto& it : items) any_failed |= it.action == dsn::Action::failed;
  queue::Envelope out;
  std::string to = e.env.sender;
  if (to.empty()) {
    // RFC 3461 section 6.2: never report on a report. Postfix's "double
    // bounce": the postmaster hears once of an undeliverable bounce.
    if (!any_failed || e.env.param("double_bounce") == "1") {
      if (any_failed)
        log::warn({{"event", "double_bounce_dropped"}, {"qid", e.qid}, {"rcpt", items[0].final_recipient}});
      return Status::ok();
    }
    to = ctx.postmaster;
    out.params.emplace_back("double_bounce", "1");
  }
  dsn::Report r;
  r.reporting_mta = ctx.hostname;
  r.envid = e.env.param("envid");
  r.ret = e.env.param("ret");
  r.original_sender = e.env.sender;
  r.to = to;
  r.qid = e.qid;
  r.arrival = e.arrival;
  r.rcpts = std::move(items);
  // Enough of the original for compose() to choose the whole message or its headers.
  size_t want = static_cast<size_t>(std::min<long long>(e.msg_length, dsn::kDefaultReturnLimit + 1));
  std::string original(want, '\0');
  ssize_t n = ::pread(fd, original.data(), want, e.msg_offset);
  if (n < 0) return Status::temp("4.3.0", "cannot read the message for its report");
  original.resize(static_cast<size_t>(n));
  std::string text = dsn::compose(r, original);
  out.rcpts.push_back(queue::Rcpt{to, "", "", queue::RcptState::pending, 0});
  if (!e.env.param("smtputf8").empty()) out.params.emplace_back("smtputf8", "1");
  auto qid = queue::commit_message(ctx.qdir, text, out, ctx.min_free);
  if (!qid) {
    log::error({{"event", "report_failed"}, {"qid", e.qid}, {"error", qid.error().text}});
    return Status::temp("4.3.0", "cannot queue the report: " + qid.error().text);
  }
  log::info({{"event", "report"}, {"qid", e.qid}, {"report_qid", *qid}, {"to", to},
             {"action", dsn::action_name(r.rcpts[0].action)}});
  return Status::ok();
}

}  // namespace sluice::sched
