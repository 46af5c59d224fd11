#include "admin/start/spawn.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/daemon.hpp"
#include "common/log.hpp"

namespace sluice::start {

namespace {

// Everything here runs in the forked child of a single-threaded parent,
// so allocating is safe; nothing returns.
[[noreturn]] void child_fail(const SpawnRequest& req, const std::string& what) {
  log::error({{"event", "spawn_failed"}, {"name", req.name}, {"error", what}});
  _exit(111);
}

// Places SOURCES on fds 3, 4, ... in order. Every source is first copied
// above the target range so that moving one never overwrites another.
void place_fds(const SpawnRequest& req, const std::vector<int>& sources) {
  int top = 3 + static_cast<int>(sources.size());
  std::vector<int> high;
  for (int fd : sources) {
    int h = ::fcntl(fd, F_DUPFD_CLOEXEC, top + 64);
    if (h < 0) child_fail(req, std::string("dup: ") + strerror(errno));
    high.push_back(h);
  }
  for (size_t i = 0; i < high.size(); i++)
    if (::dup2(high[i], 3 + static_cast<int>(i)) < 0) child_fail(req, std::string("dup2: ") + strerror(errno));
  // Everything else goes: the lock, other services' sockets, other
  // children's readiness pipes, unused systemd sockets.
  ::close_range(static_cast<unsigned>(top), ~0U, 0);
}

void set_env(const SpawnRequest& req, int ready_fd) {
  unsetenv("NOTIFY_SOCKET");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDNAMES");
  if (!req.sockets.empty()) {
    std::string names;
    for (const auto& [name, fd] : req.sockets) names += (names.empty() ? "" : ":") + name;
    setenv("LISTEN_FDS", std::to_string(req.sockets.size()).c_str(), 1);
    setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    setenv("LISTEN_FDNAMES", names.c_str(), 1);
  }
  setenv("SLUICE_READY_FD", std::to_string(ready_fd).c_str(), 1);
  unsetenv("SLUICE_SHARED_FD");
  unsetenv("SLUICE_SHARED_REGION");
  if (req.shared_fd >= 0 && req.shared_region >= 0) {
    setenv("SLUICE_SHARED_FD", std::to_string(ready_fd + 1).c_str(), 1);
    setenv("SLUICE_SHARED_REGION", std::to_string(req.shared_region).c_str(), 1);
  }
  setenv("SLUICE_CONFIG", req.config_path.c_str(), 1);
}

[[noreturn]] void run_child(const SpawnRequest& req, int ready_write, pid_t parent) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);

  int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(2, 1) < 0) child_fail(req, "cannot set up fds 0 and 1");

  std::vector<int> sources;
  for (const auto& s : req.sockets) sources.push_back(s.second);
  sources.push_back(ready_write);
  if (req.shared_fd >= 0 && req.shared_region >= 0) sources.push_back(req.shared_fd);
  place_fds(req, sources);
  set_env(req, 3 + static_cast<int>(req.sockets.size()));

  // Mail programs hand work to each other at every step (listener,
  // sluice-auth, sluice-injectd, sluice-sched, deliverers). Under load, a
  // woken program that preempts the one that woke it costs two context
  // switches and cuts short the work the waker had ready; SCHED_BATCH lets
  // the waker run on and the woken one take the next turn. An idle CPU
  // still runs a woken program at once. A failure is not worth a refusal.
  if (req.batch) {
    struct sched_param none {};
    if (::sched_setscheduler(0, SCHED_BATCH, &none) != 0)
      log::warn({{"event", "sched_batch_failed"}, {"name", req.name}, {"error", strerror(errno)}});
  }
  if (!req.account.empty()) {
    Status s = daemon::drop_privileges(req.account);
    if (!s.is_ok()) child_fail(req, s.text);
  }
  // After the uid change: changing credentials clears the death signal.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) _exit(111);  // sluice-start died before the prctl

  char* argv[] = {const_cast<char*>(req.program.c_str()), nullptr};
  ::execv(req.program.c_str(), argv);
  child_fail(req, "cannot run " + req.program + ": " + strerror(errno));
}

}  // namespace

Result<Spawned> spawn(const SpawnRequest& req) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Status::temp("4.3.0", std::string("pipe: ") + strerror(errno));
  UniqueFd rd(p[0]), wr(p[1]);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return Status::temp("4.3.0", std::string("fork: ") + strerror(errno));
  if (pid == 0) run_child(req, wr.get(), parent);
  return Spawned{pid, std::move(rd)};
}

}  // namespace sluice::start
