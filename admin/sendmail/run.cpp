// The I/O of sendmail: read the message, build the context from the system
// and the configuration, hand message and envelope to sluice-inject
// through two pipes; mailq lists the queue.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "admin/sendmail/run.hpp"
#include "admin/sendmail/sendmail.hpp"
#include "common/config.hpp"
#include "common/fd.hpp"
#include "queue/store/queue.hpp"
#include "queue/store/submit.hpp"

namespace sluice::sendmail {
namespace {

int say(int code, const std::string& text) {
  std::fprintf(stderr, "sendmail: %s\n", text.c_str());
  return code;
}

Context make_context(const Config& cfg) {
  Context c;
  c.hostname = cfg.hostname();
  if (struct passwd* pw = getpwuid(getuid())) {
    c.login = pw->pw_name;
    std::string g = pw->pw_gecos ? pw->pw_gecos : "";
    c.gecos = g.substr(0, g.find(','));  // the full name is the first GECOS field
  } else {
    c.login = "uid" + std::to_string(getuid());
  }
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  c.now = ts.tv_sec;
  char u[64];
  std::snprintf(u, sizeof u, "%lld.%09ld.%d", static_cast<long long>(ts.tv_sec), ts.tv_nsec, static_cast<int>(getpid()));
  c.unique = u;
  return c;
}

// Runs sluice-inject with MESSAGE on fd 0 and ENVELOPE on fd 1; its stderr
// (log lines, the reply line when it refuses) is ours. Returns its status.
int inject(const std::string& message, const std::string& envelope, const std::string& config) {
  int mp[2], ep[2];
  if (pipe2(mp, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0) return -1;
  std::string exe = exe_dir() + "/sluice-inject";
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (dup2(mp[0], 0) < 0 || dup2(ep[0], 1) < 0) _exit(81);
    if (!config.empty()) setenv("SLUICE_CONFIG", config.c_str(), 1);
    execl(exe.c_str(), "sluice-inject", static_cast<char*>(nullptr));
    std::fprintf(stderr, "sendmail: cannot run %s: %s\n", exe.c_str(), std::strerror(errno));
    _exit(127);
  }
  ::close(mp[0]);
  ::close(ep[0]);
  UniqueFd msg(mp[1]), env(ep[1]);
  // sluice-inject reads the whole message before the envelope; a refusal
  // midway closes the pipe (EPIPE), and its exit status says why.
  write_all(msg.get(), message);
  msg.reset();
  write_all(env.get(), envelope);
  env.reset();
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return -1;
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  return -1;
}

int print_queue(const Config& cfg) {
  std::string qdir = cfg.path("queue.dir");
  if (::access((qdir + "/msg").c_str(), R_OK | X_OK) != 0)
    return say(kExUnavailable, "cannot read the queue " + qdir + ": " + std::strerror(errno));
  auto all = queue::list(qdir);
  if (all.empty()) {
    std::printf("Mail queue is empty\n");
    return kExOk;
  }
  for (const auto& l : all) std::printf("%s\n", queue::queue_line(l).c_str());
  return kExOk;
}

}  // namespace

int run(const std::vector<std::string>& argv, bool as_mailq) {
  signal(SIGPIPE, SIG_IGN);
  Options o;
  if (std::string e = parse_args(argv, as_mailq, o); !e.empty()) {
    say(kExUsage, e);
    std::fputs("usage: sendmail [-t] [-i] [-f sender] [-F name] [-N dsn] [-R full|hdrs] [-V envid] [-bp] [--] "
               "[recipient ...]\n",
               stderr);
    return kExUsage;
  }
  auto cfg = Config::load(find_config_path(o.config.empty() ? nullptr : o.config.c_str()));
  if (!cfg) return say(kExConfig, cfg.error().text);
  if (o.mode == Mode::print_queue) return print_queue(*cfg);
  if (o.mode == Mode::flush) {
    Status st = queue::request_flush(cfg->path("queue.dir"));
    return st.is_ok() ? kExOk : say(kExTempFail, "cannot request a queue run: " + st.text);
  }
  if (o.mode == Mode::rebuild_aliases) {
    std::printf("sluice keeps aliases in its tables (sluice alias ...): nothing to rebuild\n");
    return kExOk;
  }
  std::string input;
  if (!read_all(0, input)) return say(kExTempFail, std::string("cannot read the message: ") + std::strerror(errno));
  auto p = prepare(input, o, make_context(*cfg));
  if (!p) return say(std::stoi(p.error().enhanced), p.error().text);
  std::string envelope = queue::encode_envelope(p->env);
  // The persistent path first: one exec (ours) per message instead of two.
  // Only when nobody listens (no running instance, or a bare queue) do we
  // start sluice-inject, which needs no daemon.
  auto sub = queue::submit(cfg->path("run_dir") + "/inject.sock", envelope, p->message);
  if (sub.connected) {
    int code = exit_for_inject(sub.code);
    if (code != kExOk)
      say(code, "message not queued: " + sub.text + (code == kExTempFail ? " (temporary; try again later)" : ""));
    return code;
  }
  int st = inject(p->message, envelope, o.config);
  if (st < 0) return say(kExTempFail, "cannot run sluice-inject: " + std::string(std::strerror(errno)));
  if (st == 127) return kExUnavailable;
  int code = exit_for_inject(st);
  if (code != kExOk)
    say(code, "message not queued: sluice-inject exited " + std::to_string(st) +
                  (code == kExTempFail ? " (temporary; try again later)" : ""));
  return code;
}

}  // namespace sluice::sendmail
