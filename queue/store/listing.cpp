// How the queue is shown to people: `sluice queue list`, `mailq`,
// `sendmail -bp` print the same one line per message.
#include <ctime>

#include "queue/store/queue.hpp"

namespace sluice::queue {

std::string iso_time(long long t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string queue_state(const queue::Listed& l) {
  if (l.held) return "held";
  // A message that has failed an attempt waits for its retry time; one that
  // was never tried (or whose retry time has come) is the scheduler's now.
  return l.entry.tries > 0 ? "deferred" : "active";
}

std::string queue_line(const queue::Listed& l) {
  const auto& e = l.entry;
  std::string out = e.qid + " " + iso_time(e.arrival) + " " + std::to_string(e.msg_length) + " " + queue_state(l) +
                    " " + std::to_string(e.tries) + " " + (e.env.sender.empty() ? "<>" : e.env.sender);
  for (const auto& r : e.env.rcpts)
    if (r.state == queue::RcptState::pending) out += " " + r.address;
  if (!e.reason.empty()) out += " (" + e.reason + ")";
  return out;
}

}  // namespace sluice::queue
