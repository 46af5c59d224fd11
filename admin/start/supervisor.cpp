#include "admin/start/supervisor.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "admin/start/spawn.hpp"
#include "common/daemon.hpp"
#include "common/log.hpp"

namespace sluice::start {

namespace {
sigset_t supervised_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  return set;
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exit:" + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal:" + std::to_string(WTERMSIG(status));
  return "unknown:" + std::to_string(status);
}

std::string ms_text(Millis ms) {
  return std::to_string(ms.count() / 1000) + "." + std::to_string(ms.count() % 1000 / 100) + "s";
}
}  // namespace

void block_signals() {
  sigset_t set = supervised_signals();
  sigprocmask(SIG_BLOCK, &set, nullptr);
  // A log reader that goes away must not kill the supervisor.
  signal(SIGPIPE, SIG_IGN);
}

Supervisor::Supervisor(Config cfg, Plan plan, Settings settings,
                       std::map<std::string, std::vector<UniqueFd>> sockets, Planner planner)
    : cfg_(std::move(cfg)),
      plan_(std::move(plan)),
      settings_(std::move(settings)),
      sockets_(std::move(sockets)),
      planner_(std::move(planner)) {
  sigset_t set = supervised_signals();
  sigfd_ = UniqueFd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  for (size_t i = 0; i < plan_.services.size(); i++) {
    add_slots(i, 0, plan_.services[i].count);
    if (!plan_.services[i].shared_regions) continue;
    auto f = shared::RegionFile::create(plan_.services[i].name.c_str());
    if (f)
      regions_.emplace(i, std::move(*f));
    else  // the programs then count alone, each in its own memory
      log::error({{"event", "shared_file_failed"}, {"name", plan_.services[i].name}, {"error", f.error().text}});
  }
}

void Supervisor::release_region(Slot& s) {
  if (s.region < 0) return;
  if (auto it = regions_.find(s.service); it != regions_.end()) it->second.release(s.region);
  s.region = -1;
}

void Supervisor::add_slots(size_t service, int from, int to) {
  for (int k = from; k < to; k++) {
    Slot s{};
    s.service = service;
    s.index = k;
    s.start_at = Clock::now();
    s.backoff = Backoff(settings_.backoff);
    slots_.push_back(std::move(s));
  }
}

std::string Supervisor::account_of(const ServicePlan& sp) const {
  return effective_account(settings_.mode, sp.account, settings_.single_user);
}

void Supervisor::start_slot(Slot& s) {
  const ServicePlan& sp = plan_.services[s.service];
  SpawnRequest req{sp.name, sp.program, account_of(sp), {}, settings_.config_path};
  req.batch = settings_.batch;
  for (const auto& name : sp.listeners)
    if (auto it = sockets_.find(name); it != sockets_.end())
      for (const auto& fd : it->second) req.sockets.emplace_back(name, fd.get());
  if (auto it = regions_.find(s.service); it != regions_.end()) {
    if (auto k = it->second.acquire()) {
      s.region = *k;
      req.shared_fd = it->second.fd();
      req.shared_region = *k;
    } else {
      log::warn({{"event", "no_shared_region"}, {"name", sp.name}, {"regions", std::to_string(shared::kMaxRegions)},
                 {"action", "the process counts alone"}});
    }
  }
  auto r = spawn(req);
  s.started = Clock::now();
  if (!r) {
    release_region(s);
    // fork or pipe failed: a resource shortage; try again like a crash.
    log::error({{"event", "spawn_failed"}, {"name", sp.name}, {"error", r.error().text}});
    s.start_at = s.started + s.backoff.on_exit(Millis{0}, false);
    return;
  }
  s.pid = r->pid;
  s.ready = std::move(r->ready);
  s.is_ready = false;
  if (!s.unready_since) s.unready_since = s.started;
  log::info({{"event", "started"}, {"name", sp.name}, {"pid", std::to_string(s.pid)},
             {"account", req.account.empty() ? "(current)" : req.account}});
}

void Supervisor::start_due(Clock::time_point now) {
  if (stopping_) return;
  for (auto& s : slots_)
    if (s.pid == 0 && !s.retired && s.start_at <= now) start_slot(s);
}

void Supervisor::announce() {
  announced_ = true;
  if (!write_file_atomic(settings_.pid_file, std::to_string(::getpid()) + "\n", 0644)) {
    log::error({{"event", "pid_file_failed"}, {"file", settings_.pid_file}, {"error", strerror(errno)}});
    begin_stop(111);
    return;
  }
  log::info({{"event", "ready"}, {"pid", std::to_string(::getpid())}, {"programs", std::to_string(slots_.size())}});
  daemon::signal_ready();
}

// Before event=ready: every slot must become ready within ready_timeout of
// its first start, restarts included, or the instance gives up (exit 111)
// and lets systemd or supervise report it.
void Supervisor::check_startup(Clock::time_point now) {
  for (auto& s : slots_) {
    if (s.is_ready || !s.unready_since || now - *s.unready_since < settings_.ready_timeout) continue;
    log::error({{"event", "not_ready"}, {"name", plan_.services[s.service].name},
                {"pid", s.pid > 0 ? std::to_string(s.pid) : "none"}, {"timeout", ms_text(settings_.ready_timeout)},
                {"action", "stopping"}});
    begin_stop(111);
    return;
  }
  if (std::all_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.pid != 0 && s.is_ready; }))
    announce();
}

void Supervisor::check_ready(Clock::time_point now) {
  if (stopping_) return;
  if (!announced_) {
    check_startup(now);
    return;
  }
  for (auto& s : slots_) {
    if (s.pid == 0 || s.is_ready || now - s.started < settings_.ready_timeout) continue;
    const std::string& name = plan_.services[s.service].name;
    // Once the instance runs, one stuck program must not stop the rest:
    // kill it and let the restart logic (with its throttle) take over.
    log::warn({{"event", "not_ready"}, {"name", name}, {"pid", std::to_string(s.pid)}, {"action", "kill"}});
    ::kill(s.pid, SIGKILL);
    s.ready.reset();
  }
}

void Supervisor::on_ready_fd(Slot& s) {
  char c;
  ssize_t n = ::read(s.ready.get(), &c, 1);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  s.ready.reset();
  if (n == 1) {
    s.is_ready = true;
    s.unready_since.reset();
    log::info({{"event", "child_ready"}, {"name", plan_.services[s.service].name}, {"pid", std::to_string(s.pid)}});
  }
  // EOF without a byte: the program closed the pipe or died; its exit
  // (SIGCHLD) or the ready timeout decides what happens.
}

void Supervisor::on_exit(Slot& s, int status) {
  const std::string& name = plan_.services[s.service].name;
  auto ran = std::chrono::duration_cast<Millis>(Clock::now() - s.started);
  // Death by SIGHUP is a program without a reload handler obeying our
  // reload: it restarts at once and reads the new file.
  bool clean = (WIFEXITED(status) && WEXITSTATUS(status) == 0 && s.is_ready) ||
               (WIFSIGNALED(status) && WTERMSIG(status) == SIGHUP);
  std::string pid = std::to_string(s.pid);
  s.pid = 0;
  release_region(s);
  s.ready.reset();
  s.is_ready = false;
  if (stopping_ || s.retired) {
    log::info({{"event", "exited"}, {"name", name}, {"pid", pid}, {"status", describe(status)}});
    return;
  }
  Millis wait = s.backoff.on_exit(ran, clean);
  s.start_at = Clock::now() + wait;
  auto level = clean ? log::Level::info : log::Level::warn;
  log::emit(level, {{"event", "restart"}, {"name", name}, {"pid", pid}, {"status", describe(status)},
                    {"ran", ms_text(ran)}, {"delay", ms_text(wait)}});
}

void Supervisor::reap() {
  int status;
  pid_t pid;
  while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
    for (auto& s : slots_)
      if (s.pid == pid) on_exit(s, status);
  }
  // Retired slots whose process is gone are dropped.
  slots_.erase(std::remove_if(slots_.begin(), slots_.end(), [](const Slot& s) { return s.retired && s.pid == 0; }),
               slots_.end());
}

void Supervisor::begin_stop(int code) {
  if (stopping_) return;
  stopping_ = true;
  exit_code_ = code;
  stop_deadline_ = Clock::now() + settings_.stop_timeout;
  // From now on `sluice status` says "not running".
  if (announced_) ::unlink(settings_.pid_file.c_str());
  log::info({{"event", "stopping"}, {"programs", std::to_string(running())}});
  for (auto& s : slots_)
    if (s.pid > 0) ::kill(s.pid, SIGTERM);
}

void Supervisor::stop_tick(Clock::time_point now) {
  if (!stopping_ || killed_ || now < stop_deadline_) return;
  killed_ = true;
  for (auto& s : slots_)
    if (s.pid > 0) {
      log::warn({{"event", "kill"}, {"name", plan_.services[s.service].name}, {"pid", std::to_string(s.pid)}});
      ::kill(s.pid, SIGKILL);
    }
}

int Supervisor::running() const {
  return static_cast<int>(std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return s.pid > 0; }));
}

void Supervisor::reload() {
  auto fresh = Config::load(settings_.config_path);
  if (!fresh) {
    log::error({{"event", "reload_failed"}, {"error", fresh.error().text}, {"action", "keeping the old configuration"}});
    return;
  }
  auto plan = planner_(*fresh);
  if (!plan) {
    log::error({{"event", "reload_failed"}, {"error", plan.error().text}, {"action", "keeping the old configuration"}});
    return;
  }
  cfg_ = std::move(*fresh);
  settings_.batch = batch_scheduling(cfg_);  // for programs started from now on
  // Pool sizes follow the new file; programs, accounts and sockets are
  // fixed for the supervisor's life (they need root or a restart).
  for (size_t i = 0; i < plan_.services.size(); i++) {
    auto& sp = plan_.services[i];
    auto it = std::find_if(plan->services.begin(), plan->services.end(),
                           [&](const ServicePlan& n) { return n.name == sp.name; });
    if (it == plan->services.end() || it->count == sp.count) continue;
    log::info({{"event", "resize"}, {"name", sp.name}, {"from", std::to_string(sp.count)},
               {"to", std::to_string(it->count)}});
    if (it->count > sp.count) add_slots(i, sp.count, it->count);
    for (auto& s : slots_)
      if (s.service == i && s.index >= it->count && !s.retired) {
        s.retired = true;
        if (s.pid > 0) ::kill(s.pid, SIGTERM);
      }
    sp.count = it->count;
  }
  reap();  // drops retired slots that were not running
  // Only programs that said they are ready have their SIGHUP handler in
  // place; one still starting reads the new file anyway.
  int sent = 0;
  size_t n = slots_.size();  // replace_for_reload appends
  for (size_t i = 0; i < n; i++) {
    Slot& s = slots_[i];
    if (s.pid <= 0 || !s.is_ready || s.retired || ::kill(s.pid, SIGHUP) != 0) continue;
    sent++;
    if (plan_.services[s.service].replace_on_reload) replace_for_reload(slots_[i]);
  }
  log::info({{"event", "reload"}, {"signalled", std::to_string(sent)}});
}

// The signalled process keeps its sessions and its region in a retired
// slot until it exits; its slot starts a fresh process now.
void Supervisor::replace_for_reload(Slot& s) {
  Slot old;
  old.service = s.service;
  old.index = s.index;
  old.pid = std::exchange(s.pid, 0);
  old.is_ready = true;
  old.retired = true;
  old.region = std::exchange(s.region, -1);
  old.started = s.started;
  s.ready.reset();
  s.is_ready = false;
  s.start_at = Clock::now();
  log::info({{"event", "draining"}, {"name", plan_.services[s.service].name}, {"pid", std::to_string(old.pid)}});
  slots_.push_back(std::move(old));
}

void Supervisor::on_signals() {
  struct signalfd_siginfo si;
  bool child = false;
  while (::read(sigfd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    switch (si.ssi_signo) {
      case SIGCHLD: child = true; break;
      case SIGTERM:
      case SIGINT: begin_stop(0); break;
      case SIGHUP:
        if (!stopping_) reload();
        break;
    }
  }
  if (child) reap();
}

int Supervisor::poll_timeout_ms(Clock::time_point now) const {
  auto next = Clock::time_point::max();
  if (stopping_) {
    if (!killed_) next = stop_deadline_;
  } else {
    for (const auto& s : slots_) {
      if (s.pid == 0 && !s.retired) next = std::min(next, s.start_at);
      if (s.pid > 0 && !s.is_ready) next = std::min(next, s.started + settings_.ready_timeout);
      if (!announced_ && s.unready_since) next = std::min(next, *s.unready_since + settings_.ready_timeout);
    }
  }
  if (next == Clock::time_point::max()) return -1;
  if (next <= now) return 0;
  // Round up so the loop does not wake a millisecond early and spin.
  return static_cast<int>(std::chrono::duration_cast<Millis>(next - now).count()) + 1;
}

int Supervisor::run() {
  if (!sigfd_) {
    log::error({{"event", "signalfd_failed"}, {"error", strerror(errno)}});
    return 111;
  }
  for (;;) {
    auto now = Clock::now();
    start_due(now);
    check_ready(now);
    stop_tick(now);
    if (stopping_ && running() == 0) break;

    std::vector<struct pollfd> fds{{sigfd_.get(), POLLIN, 0}};
    std::vector<pid_t> owners{0};
    for (const auto& s : slots_)
      if (s.ready) {
        fds.push_back({s.ready.get(), POLLIN, 0});
        owners.push_back(s.pid);
      }
    int n = ::poll(fds.data(), fds.size(), poll_timeout_ms(Clock::now()));
    if (n < 0 && errno != EINTR) {
      log::error({{"event", "poll_failed"}, {"error", strerror(errno)}});
      begin_stop(111);
      continue;
    }
    // Readiness first: a program that wrote its byte and then died must
    // count as having been ready (its exit is then a clean pool exit).
    for (size_t i = 1; n > 0 && i < fds.size(); i++)
      if (fds[i].revents)
        for (auto& s : slots_)
          if (s.pid == owners[i] && s.ready) on_ready_fd(s);
    if (n > 0 && fds[0].revents) on_signals();
  }
  log::info({{"event", "stopped"}, {"status", std::to_string(exit_code_)}});
  return exit_code_;
}

}  // namespace sluice::start
