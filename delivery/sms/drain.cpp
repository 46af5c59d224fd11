#include "delivery/sms/drain.hpp"

#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "common/fd.hpp"
#include "common/log.hpp"
#include "delivery/sms/compose.hpp"
#include "delivery/sms/split.hpp"

namespace sluice::sms {

Result<DrainOptions> DrainOptions::from_config(const Config& cfg) {
  DrainOptions o;
  o.spool = cfg.path("queue.dir") + "/notify";
  long long parts = cfg.integer("sms.max_parts");
  if (parts < 1 || parts > 255) return Status::perm("5.3.5", "sms.max_parts must be 1-255");
  o.max_parts = static_cast<int>(parts);
  o.max_age = cfg.seconds("sms.max_age");
  o.retry_first = std::max(1LL, cfg.seconds("sms.retry_first"));
  o.retry_max = std::max(o.retry_first, cfg.seconds("sms.retry_max"));
  // A request leaves the spool when its batch has been answered, so a crash
  // repeats at most one batch: keep it to what the SMSC has in flight anyway.
  if (cfg.str("sms.transport") == "smpp")
    o.batch = static_cast<size_t>(std::clamp(cfg.integer("sms.smpp.window"), 1LL, 100LL));
  return o;
}

Drainer::Drainer(DrainOptions o, Transport& t, Clock clock)
    : o_(std::move(o)), t_(t), clock_(std::move(clock)), counts_(o_.spool + "/state") {}

void Drainer::remove(const notify::Request& r) {
  if (::unlink(r.file.c_str()) != 0 && errno != ENOENT)
    log::error({{"qid", r.qid}, {"event", "sms_remove_failed"}, {"file", r.file}, {"error", std::strerror(errno)}});
  fsync_dir(o_.spool + "/new");
  retry_.erase(r.file);
  quiet_logged_.erase(r.file);
}

bool Drainer::pick(const notify::Request& r, time_t now, std::map<std::string, int>& in_batch, std::string& who,
                   size_t& waiting) {
  auto rt = retry_.find(r.file);
  if (rt != retry_.end() && rt->second.next > now) {
    waiting++;
    return false;
  }
  if (now - r.created > o_.max_age) {
    log::warn({{"qid", r.qid}, {"event", "sms_expired"}, {"phone", r.to}, {"rcpt", r.rcpt},
               {"age", std::to_string(now - r.created) + "s"}, {"reason", "older than sms.max_age"}});
    remove(r);
    return false;
  }
  if (!rule_matches(r)) {
    log::info({{"qid", r.qid}, {"event", "sms_not_wanted"}, {"rcpt", r.rcpt}, {"reason", "no match word"}});
    remove(r);
    return false;
  }
  struct tm lt;
  localtime_r(&now, &lt);
  if (in_quiet(r.quiet, lt)) {
    if (quiet_logged_.insert(r.file).second)
      log::info({{"qid", r.qid}, {"event", "sms_quiet_hours"}, {"rcpt", r.rcpt}, {"quiet", r.quiet}});
    waiting++;
    return false;
  }
  who.clear();
  if (r.daily_cap > 0) {
    who = r.rcpt.empty() ? r.to : r.rcpt;
    int sent = counts_.count(who, local_day(now)) + in_batch[who];
    if (sent >= r.daily_cap) {
      log::warn({{"qid", r.qid}, {"event", "sms_daily_cap"}, {"rcpt", r.rcpt}, {"phone", r.to},
                 {"cap", std::to_string(r.daily_cap)}, {"reason", "daily cap reached; not sent"}});
      remove(r);
      return false;
    }
    in_batch[who]++;
  }
  return true;
}

void Drainer::finish(const Picked& p, const Message& m, const Status& s, time_t now) {
  const notify::Request& r = p.req;
  std::string parts = std::to_string(m.text.parts.size());
  if (s.is_ok()) {
    // Count before removing: a crash in between sends again, never more
    // than the cap allows through a lost count.
    if (!p.who.empty() && !counts_.add(p.who, local_day(now)))
      log::warn({{"qid", r.qid}, {"event", "sms_state_write_failed"}, {"error", std::strerror(errno)}});
    log::info({{"qid", r.qid}, {"event", "sms_sent"}, {"phone", r.to}, {"rcpt", r.rcpt}, {"parts", parts},
               {"data_coding", std::to_string(m.text.data_coding)}, {"trimmed", m.text.trimmed ? "yes" : "no"},
               {"result", s.text}});
    remove(r);
  } else if (s.is_perm()) {
    log::error({{"qid", r.qid}, {"event", "sms_failed"}, {"phone", r.to}, {"rcpt", r.rcpt}, {"error", s.text}});
    remove(r);
  } else {
    Retry& rt = retry_[r.file];
    rt.delay = rt.delay ? std::min(rt.delay * 2, o_.retry_max) : o_.retry_first;
    rt.next = now + rt.delay;
    log::warn({{"qid", r.qid}, {"event", "sms_deferred"}, {"phone", r.to}, {"error", s.text},
               {"retry_in", std::to_string(rt.delay) + "s"}});
  }
}

size_t Drainer::pass() {
  time_t now = clock_();
  // An unreadable spool looks like an empty one to notify::list(): say why.
  std::string newdir = o_.spool + "/new";
  bool usable = ::access(newdir.c_str(), R_OK | W_OK | X_OK) == 0 || errno == ENOENT;
  if (!usable && spool_ok_)
    log::error({{"event", "spool_unreadable"}, {"dir", newdir}, {"error", std::strerror(errno)},
                {"hint", "run `sluice setup` (group sluice-notify)"}});
  spool_ok_ = usable;
  std::vector<Picked> picked;
  std::vector<Message> batch;
  std::map<std::string, int> in_batch;
  size_t waiting = 0;
  for (auto& r : notify::list(o_.spool)) {
    if (picked.size() >= o_.batch) {
      waiting++;
      continue;
    }
    std::string who;
    if (!pick(r, now, in_batch, who, waiting)) continue;
    Message m{r.qid, r.to, split(compose(r), o_.max_parts)};
    batch.push_back(std::move(m));
    picked.push_back({std::move(r), who});
  }
  if (batch.empty()) return waiting;
  std::vector<Status> st = t_.send(batch);
  now = clock_();
  for (size_t i = 0; i < picked.size(); i++) {
    Status s = i < st.size() ? st[i] : Status::temp("4.3.0", "no answer from the transport");
    finish(picked[i], batch[i], s, now);
    if (s.is_temp()) waiting++;
  }
  return waiting;
}

}  // namespace sluice::sms
