#include "queue/sched/scheduler.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/address.hpp"
#include "common/daemon.hpp"
#include "common/log.hpp"

namespace sluice::sched {
namespace {

constexpr const char* kHex = "0123456789abcdef";
constexpr size_t kMaxRcptsPerJob = 1000;

std::string domain_of(const std::string& a) {
  auto at = a.rfind('@');
  return at == std::string::npos ? "" : addr::lower_ascii(a.substr(at + 1));
}

}  // namespace

long long backoff(int tries, long long first, long long max) {
  long long d = first > 0 ? first : 1;
  for (int i = 1; i < tries && d < max; i++) d *= 2;
  return d < max ? d : max;
}

Scheduler::Scheduler(const Config& cfg, std::unique_ptr<tables::Tables> tables)
    : cfg_(cfg), tables_(std::move(tables)) {
  apply_config(cfg);
  std::string run = cfg.path("run_dir");
  local_ = std::make_unique<Transport>("local", run + "/local.sock", cfg.integer("queue.local_concurrency"),
                                       cfg.integer("local.max_use"), cfg.integer("queue.local_pipeline"));
  remote_ = std::make_unique<Transport>("remote", run + "/remote.sock", cfg.integer("queue.remote_concurrency"),
                                        cfg.integer("local.max_use"));
}

void Scheduler::apply_config(const Config& cfg) {
  qdir_ = cfg.path("queue.dir");
  retry_first_ = cfg.seconds("queue.retry_first");
  retry_max_ = cfg.seconds("queue.retry_max");
  lifetime_ = cfg.seconds("queue.lifetime");
  bounce_lifetime_ = cfg.seconds("queue.bounce_lifetime");
  delay_warning_ = cfg.seconds("queue.delay_warning");
  scan_interval_ = std::max(1LL, cfg.seconds("queue.scan_interval"));
  reports_.qdir = qdir_;
  reports_.hostname = cfg.hostname();
  reports_.min_free = cfg.bytes("queue.min_free");
  reports_.postmaster = cfg.str("queue.postmaster");
  if (reports_.postmaster.empty()) {
    auto domains = tables_->list_domains();
    reports_.postmaster = "postmaster@" + (domains && !domains->empty() ? domains->front() : reports_.hostname);
  }
  if (local_)
    local_->set_max(cfg.integer("queue.local_concurrency"), cfg.integer("local.max_use"),
                    cfg.integer("queue.local_pipeline"));
  if (remote_) remote_->set_max(cfg.integer("queue.remote_concurrency"), cfg.integer("local.max_use"));
}

Transport& Scheduler::transport_for(const std::string& name) { return name == "local" ? *local_ : *remote_; }

// --- attempts -----------------------------------------------------------------

void Scheduler::due(long long now) {
  while (!timers_.empty() && timers_.top().first <= now) {
    auto [t, qid] = timers_.top();
    timers_.pop();
    auto it = msgs_.find(qid);
    // Stale timers (rescheduled since, or already running) are skipped.
    if (it != msgs_.end() && !it->second.active && it->second.next_try == t) ready_.push_back(qid);
  }
  // Each active message holds an fd and its envelope: bound them.
  size_t limit = 4 * (cfg_.integer("queue.local_concurrency") + cfg_.integer("queue.remote_concurrency")) + 16;
  while (!ready_.empty() && active_ < limit && !stopping_) {
    auto it = msgs_.find(ready_.front());
    ready_.pop_front();
    if (it != msgs_.end() && !it->second.active) attempt(it->second, now);
  }
}

void Scheduler::attempt(Msg& m, long long now) {
  // Read-only: the same descriptor goes to the deliverers, who have no
  // business writing the queue; finish() opens the file for writing only
  // when it has marks to write (a fully delivered message needs none).
  m.fd = UniqueFd(::open(m.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!m.fd) {
    if (errno == ENOENT) msgs_.erase(m.qid);
    else log::error({{"event", "open_failed"}, {"qid", m.qid}, {"error", strerror(errno)}});
    return;
  }
  auto e = queue::read_entry_fd(m.fd.get(), m.path);
  if (!e) {
    if (e.error().text.starts_with("corrupt")) queue::quarantine(qdir_, m.path);
    else log::error({{"event", "read_failed"}, {"qid", m.qid}, {"error", e.error().text}});
    std::string qid = m.qid;
    m.fd.reset();
    msgs_.erase(qid);
    return;
  }
  m.entry = std::move(*e);
  m.entry.qid = m.qid;
  m.active = true;
  active_++;
  m.failed.clear();
  m.delivered.clear();
  const auto& env = m.entry.env;
  if (m.entry.tries == 0)
    log::info({{"event", "new"}, {"qid", m.qid}, {"from", env.sender}, {"size", std::to_string(m.entry.msg_length)},
               {"nrcpt", std::to_string(env.rcpts.size())}, {"uid", env.param("uid")}});

  std::map<std::string, std::vector<size_t>> groups;  // transport -> pending recipients
  long long life = env.sender.empty() ? bounce_lifetime_ : lifetime_;
  bool expired = now >= m.entry.arrival + life;
  for (size_t i = 0; i < env.rcpts.size(); i++) {
    const auto& r = env.rcpts[i];
    if (r.state != queue::RcptState::pending) continue;
    if (expired) {
      std::string last = m.last_error.count(i) ? m.last_error[i] : "no delivery attempt succeeded";
      m.failed.push_back({i,
                          dsn::RcptReport{r.address, r.orcpt, dsn::Action::failed,
                                          Status::temp("4.4.7", "delivery time expired; last error: " + last), "",
                                          "", now},
                          notify_wants(r.notify, "FAILURE")});
      continue;
    }
    auto local = tables_->is_local_domain(domain_of(r.address));
    if (!local) {
      m.last_error[i] = local.error().enhanced + " " + local.error().text;
      continue;
    }
    groups[*local ? "local" : "remote"].push_back(i);
  }
  if (expired) log::info({{"event", "expired"}, {"qid", m.qid}});
  for (auto& [name, idx] : groups) {
    for (size_t k = 0; k < idx.size(); k += kMaxRcptsPerJob) {
      std::vector<size_t> part(idx.begin() + static_cast<long>(k),
                               idx.begin() + static_cast<long>(std::min(idx.size(), k + kMaxRcptsPerJob)));
      waiting_[name].push_back(Waiting{m.qid, std::move(part)});
      m.jobs++;
    }
  }
  if (m.jobs == 0) {
    finish(m);
    return;
  }
  // dispatch() may finish (and erase) M: nothing below may touch it.
  for (auto& [name, idx] : groups) dispatch(transport_for(name));
}

void Scheduler::dispatch(Transport& t) {
  auto& q = waiting_[t.name()];
  int broken = 0;  // connections found dead on send in this call
  while (!q.empty()) {
    std::string error;
    Conn* c = t.pick(error);
    if (!c) {
      if (error.empty()) return;  // all busy: a result will call us again
      log::warn({{"event", "transport_unavailable"}, {"transport", t.name()}, {"error", error}});
      while (!q.empty()) {
        Waiting w = std::move(q.front());
        q.pop_front();
        if (auto it = msgs_.find(w.qid); it != msgs_.end()) fail_job(it->second, w.rcpts, Status::temp("4.4.1", error));
      }
      return;
    }
    Waiting w = std::move(q.front());
    q.pop_front();
    auto it = msgs_.find(w.qid);
    if (it == msgs_.end()) continue;
    Msg& m = it->second;
    const auto& env = m.entry.env;
    deliver::Job job;
    job.qid = m.qid;
    job.offset = m.entry.msg_offset;
    job.length = m.entry.msg_length;
    job.sender = env.sender;
    for (const auto& [k, v] : env.params) job.params[k] = v;
    for (size_t i : w.rcpts)
      job.rcpts.push_back(deliver::Recipient{i, env.rcpts[i].address, env.rcpts[i].notify, env.rcpts[i].orcpt});
    if (t.send(*c, job, m.fd.get())) continue;
    // C is dead: another connection gets the job, and what C had in flight is deferred.
    if (++broken < 3) q.push_front(std::move(w));
    else fail_job(m, w.rcpts, Status::temp("4.3.0", "cannot hand the job to the " + t.name() + " deliverer"));
    reap(t);
  }
}

// Defers the jobs that were in flight on connections found dead.
void Scheduler::reap(Transport& t) {
  for (auto& j : t.take_lost())
    if (auto it = msgs_.find(j.qid); it != msgs_.end())
      fail_job(it->second, j.rcpts, Status::temp("4.3.0", "the " + t.name() + " deliverer died during delivery"));
}

void Scheduler::fail_job(Msg& m, const std::vector<size_t>& rcpts, const Status& why) {
  for (size_t i : rcpts) {
    m.last_error[i] = why.enhanced + " " + why.text;
    log::info({{"event", "delivery"}, {"qid", m.qid}, {"rcpt", m.entry.env.rcpts[i].address}, {"status", "deferred"},
               {"dsn", why.enhanced}, {"text", why.text}});
  }
  if (--m.jobs == 0) finish(m);
}

void Scheduler::results(Msg& m, const std::vector<deliver::RcptResult>& rs) {
  long long now = ::time(nullptr);
  std::string delay = std::to_string(now - m.entry.arrival);
  auto& rcpts = m.entry.env.rcpts;
  for (const auto& r : rs) {
    if (r.index >= rcpts.size()) continue;
    auto& rc = rcpts[r.index];
    const char* what = r.status.is_ok() ? "sent" : r.status.is_perm() ? "bounced" : "deferred";
    log::info({{"event", "delivery"}, {"qid", m.qid}, {"rcpt", rc.address}, {"status", what},
               {"dsn", r.status.enhanced}, {"delay", delay}, {"relay", r.remote_mta.empty() ? "-" : r.remote_mta},
               {"text", r.status.text}});
    dsn::RcptReport rep{rc.address, rc.orcpt, dsn::Action::delivered, r.status, r.remote_mta,
                        r.remote_mta.empty() ? "" : "smtp; " + r.status.text, now};
    if (r.status.is_ok()) {
      // RFC 3461 5.2.2: a next hop without DSN makes our success report
      // say "relayed"; one that got the NOTIFY reports itself.
      bool due = notify_wants(rc.notify, "SUCCESS") && r.action != "notify_passed";
      if (r.action == "relayed") rep.action = dsn::Action::relayed;
      m.delivered.push_back({r.index, std::move(rep), due});
    } else if (r.status.is_perm()) {
      rep.action = dsn::Action::failed;
      m.failed.push_back({r.index, std::move(rep), notify_wants(rc.notify, "FAILURE")});
    } else {
      m.last_error[r.index] = r.status.enhanced + " " + r.status.text;
    }
  }
  // A deliverer that answered for fewer recipients than it was given left the rest undone.
  if (--m.jobs == 0) finish(m);
}

// The status of a recipient that is still waiting: its last temporary
// reply ("4.2.2 mailbox full") as a Status, for delay reports.
static Status deferral(const std::map<size_t, std::string>& last, size_t i) {
  auto it = last.find(i);
  if (it == last.end()) return Status::temp("4.4.1", "delivery delayed");
  std::string_view s = it->second;
  auto sp = s.find(' ');
  std::string_view code = s.substr(0, sp);
  if (code.size() >= 5 && code[0] == '4' && code[1] == '.')
    return Status::temp(std::string(code), std::string(sp == std::string_view::npos ? "" : s.substr(sp + 1)));
  return Status::temp("4.4.1", std::string(s));
}

// The end of an attempt: reports first, then the marks they allow, then
// either removal (every recipient final) or the next try.
void Scheduler::finish(Msg& m) {
  long long now = ::time(nullptr);
  auto& rcpts = m.entry.env.rcpts;
  auto due = [](const std::vector<Msg::Outcome>& v) {
    std::vector<dsn::RcptReport> out;
    for (const auto& o : v)
      if (o.report_due) out.push_back(o.report);
    return out;
  };
  // A failed recipient is final only once its bounce is queued (Queue property 3).
  bool bounced = send_report(reports_, m.entry, m.fd.get(), due(m.failed)).is_ok();
  if (!send_report(reports_, m.entry, m.fd.get(), due(m.delivered)).is_ok())
    log::warn({{"event", "success_report_lost"}, {"qid", m.qid}});
  std::vector<const queue::Rcpt*> dmarks, fmarks;
  for (const auto& o : m.delivered) {
    rcpts[o.index].state = queue::RcptState::delivered;
    dmarks.push_back(&rcpts[o.index]);
  }
  if (bounced)
    for (const auto& o : m.failed) {
      rcpts[o.index].state = queue::RcptState::failed;
      fmarks.push_back(&rcpts[o.index]);
    }
  bool all_final = std::none_of(rcpts.begin(), rcpts.end(),
                                [](const queue::Rcpt& r) { return r.state == queue::RcptState::pending; });
  int fd = m.fd.get();
  if (all_final && !m.gone) {
    // No mark needs to be synced: if the removal is lost in a crash, the
    // message is delivered again (at least once), never lost. The file
    // goes to free/ for reuse (queue/store/recycle.cpp).
    queue::retire(qdir_, m.path, fd);
    log::info({{"event", "removed"}, {"qid", m.qid}});
  } else {
    // Through the descriptor, not the path: a message held or moved while
    // it was being delivered still gets its marks.
    UniqueFd rw(::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_RDWR | O_CLOEXEC));
    fd = rw.get();
    bool ok = fd >= 0 && queue::mark_rcpts(fd, dmarks, queue::RcptState::delivered, false) &&
              queue::mark_rcpts(fd, fmarks, queue::RcptState::failed, false);
    if (!all_final) {
      if (m.entry.flags != queue::kFlagDelayWarned && delay_warning_ > 0 && now - m.entry.arrival >= delay_warning_) {
        std::vector<dsn::RcptReport> delayed;
        for (size_t i = 0; i < rcpts.size(); i++)
          if (rcpts[i].state == queue::RcptState::pending && notify_wants(rcpts[i].notify, "DELAY"))
            delayed.push_back({rcpts[i].address, rcpts[i].orcpt, dsn::Action::delayed, deferral(m.last_error, i), "", "", now});
        if (send_report(reports_, m.entry, fd, delayed).is_ok()) m.entry.flags = queue::kFlagDelayWarned;
      }
      m.entry.tries++;
      m.next_try = m.entry.next_try = now + backoff(m.entry.tries, retry_first_, retry_max_);
      for (size_t i = 0; i < rcpts.size(); i++)
        if (rcpts[i].state == queue::RcptState::pending && m.last_error.count(i)) {
          m.entry.reason = rcpts[i].address + ": " + m.last_error[i];
          break;
        }
      ok = queue::write_ctl(fd, m.entry) && ok;
      timers_.emplace(m.next_try, m.qid);
    }
    if (!ok || ::fdatasync(fd) != 0)
      log::error({{"event", "mark_failed"}, {"qid", m.qid}, {"error", strerror(errno)}});
  }
  m.fd.reset();
  m.active = false;
  m.failed.clear();
  m.delivered.clear();
  active_--;
  if (all_final || m.gone) msgs_.erase(m.qid);
}

// --- the loop -----------------------------------------------------------------

int Scheduler::run() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signals_ = UniqueFd(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  inotify_ = UniqueFd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!signals_ || !inotify_) {
    log::error({{"event", "init_failed"}, {"error", strerror(errno)}});
    return 111;
  }
  for (int i = 0; i < 16; i++) {
    std::string dir = qdir_ + "/msg/" + kHex[i];
    int wd = ::inotify_add_watch(inotify_.get(), dir.c_str(), IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE);
    if (wd < 0) {
      log::error({{"event", "init_failed"}, {"dir", dir}, {"error", strerror(errno)}});
      return 111;
    }
    watches_[wd] = dir;
  }
  int wd = ::inotify_add_watch(inotify_.get(), qdir_.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO);
  if (wd >= 0) watches_[wd] = qdir_;
  // Watching first, scanning second: a message committed in between is seen twice, never missed.
  scan();
  if (::access((qdir_ + "/flush").c_str(), F_OK) == 0) ::unlink((qdir_ + "/flush").c_str());
  daemon::signal_ready();
  log::info({{"event", "started"}, {"messages", std::to_string(msgs_.size())}});
  long long next_scan = ::time(nullptr) + scan_interval_, stop_deadline = 0;
  for (;;) {
    long long now = ::time(nullptr);
    due(now);
    if (stopping_ && (local_->busy_count() + remote_->busy_count() == 0 || now >= stop_deadline)) break;
    if (now >= next_scan) {
      scan();
      next_scan = now + scan_interval_;
    }
    std::vector<struct pollfd> pfds = {{inotify_.get(), POLLIN, 0}, {signals_.get(), POLLIN, 0}};
    for (Transport* t : {local_.get(), remote_.get()})
      for (auto& c : t->conns())
        if (c.fd >= 0) pfds.push_back({c.fd, POLLIN, 0});  // idle ones too: a hangup means the deliverer left
    long long wait = std::min(next_scan, timers_.empty() ? next_scan : timers_.top().first) - now;
    if (!ready_.empty() && active_ == 0) wait = 0;
    int timeout = static_cast<int>(std::clamp(wait, 0LL, 3600LL) * 1000);
    if (stopping_) timeout = 200;
    if (::poll(pfds.data(), pfds.size(), timeout) < 0 && errno != EINTR) {
      log::error({{"event", "poll_failed"}, {"error", strerror(errno)}});
      return 111;
    }
    if (pfds[1].revents) {
      struct signalfd_siginfo si;
      while (::read(signals_.get(), &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGHUP) {
          auto c = Config::load(cfg_.file());
          if (c) {
            cfg_ = *c;
            apply_config(cfg_);
            local_->retire_all();
            remote_->retire_all();
            log::info({{"event", "reloaded"}});
          } else {
            log::error({{"event", "reload_failed"}, {"error", c.error().text}});
          }
        } else if (!stopping_) {
          stopping_ = true;
          stop_deadline = ::time(nullptr) + 10;
          log::info({{"event", "stopping"}, {"in_flight", std::to_string(local_->busy_count() + remote_->busy_count())}});
        }
      }
    }
    if (pfds[0].revents) handle_inotify();
    for (size_t k = 2; k < pfds.size(); k++) {
      if (!pfds[k].revents) continue;
      for (Transport* t : {local_.get(), remote_.get()}) {
        for (auto& c : t->conns()) {
          if (c.fd != pfds[k].fd) continue;
          if (!c.busy()) {
            t->drop(c);
            break;
          }
          for (auto& a : t->receive(c))
            if (auto it = msgs_.find(a.job.qid); it != msgs_.end()) results(it->second, a.results);
          reap(*t);
          dispatch(*t);
          break;
        }
      }
    }
  }
  log::info({{"event", "stopped"}});
  return 0;
}

}  // namespace sluice::sched
