#include "admin/start/instance.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <set>

#include "admin/start/runtime.hpp"
#include "admin/start/services.hpp"
#include "admin/start/supervisor.hpp"
#include "common/config.hpp"
#include "common/daemon.hpp"
#include "common/log.hpp"

namespace sluice::start {

const char* const kUsage = "usage: sluice-start [-c FILE | DIR] [--single-user NAME]\n";

bool parse_options(const std::vector<std::string>& args, Options& out, std::string& error) {
  for (size_t i = 0; i < args.size(); i++) {
    const std::string& a = args[i];
    auto value = [&](const char* opt) -> const std::string* {
      if (i + 1 >= args.size()) {
        error = std::string(opt) + " needs a value";
        return nullptr;
      }
      return &args[++i];
    };
    if (a == "-h" || a == "--help") {
      out.help = true;
    } else if (a == "-c" || a == "--config") {
      const std::string* v = value("-c");
      if (!v) return false;
      out.config = *v;
    } else if (a == "--single-user") {
      const std::string* v = value("--single-user");
      if (!v) return false;
      out.single_user = *v;
    } else if (a.rfind("--single-user=", 0) == 0 && a.size() > 14) {
      out.single_user = a.substr(14);
    } else if (!a.empty() && a[0] != '-' && out.config.empty()) {
      out.config = a + "/etc/sluice.toml";
    } else {
      error = "unexpected argument: " + a;
      return false;
    }
  }
  return true;
}

namespace {

std::string absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char buf[4096];
  if (!::getcwd(buf, sizeof buf)) return path;
  return std::string(buf) + "/" + path;
}

bool executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

std::string current_user() {
  struct passwd* pw = ::getpwuid(::geteuid());
  return pw ? pw->pw_name : std::to_string(::geteuid());
}

// Decides who the programs run as; an error is the operator's message.
bool choose_mode(const Options& opt, RunMode& mode, std::string& error) {
  if (::geteuid() == 0) {
    if (opt.single_user.empty()) {
      mode = RunMode::accounts;
      return true;
    }
    auto a = lookup_account(opt.single_user);
    if (opt.single_user == "root" || (a && a->uid == 0)) {
      error = "--single-user " + opt.single_user + ": refusing to run the programs as root";
      return false;
    }
    mode = RunMode::single_user;
    log::info({{"event", "single_user"}, {"user", opt.single_user}});
    return true;
  }
  if (!opt.single_user.empty() && opt.single_user != current_user()) {
    error = "--single-user " + opt.single_user + " needs root; not root, everything runs as " + current_user();
    return false;
  }
  mode = RunMode::current_user;
  log::info({{"event", "single_user"}, {"user", current_user()}, {"reason", "not started as root"}});
  return true;
}

// The pool sockets the plan uses, plus the sockets systemd handed us.
// Returns false (logged) when a socket cannot be made.
bool open_sockets(const Plan& plan, const Config& cfg, RunMode mode, const std::string& single_user,
                  std::map<std::string, std::vector<int>> inherited,
                  std::map<std::string, std::vector<UniqueFd>>& out, std::vector<std::string>& files) {
  std::set<std::string> used;
  for (const auto& sp : plan.services) used.insert(sp.listeners.begin(), sp.listeners.end());
  for (const auto& name : used) {
    const SocketDef* sd = find_socket(name);
    if (!sd) {
      // A network listener: systemd's socket when it passed one, else
      // bound here, as root, before any program drops its privileges.
      if (inherited.count(name) || !listen_key(name)) continue;
      for (const auto& address : cfg.list(listen_key(name))) {
        auto fds = make_tcp_listeners(address);
        if (!fds) {
          log::error({{"event", "socket_failed"}, {"name", name}, {"error", fds.error().text}});
          return false;
        }
        for (auto& fd : *fds) out[name].push_back(std::move(fd));
      }
      continue;
    }
    std::string path = cfg.path("run_dir") + "/" + sd->file;
    std::optional<Account> owner;
    std::string who = effective_account(mode, cfg.str(sd->owner_key), single_user);
    if (!who.empty()) owner = lookup_account(who);
    auto fd = make_unix_listener(path, owner, sd->type, sd->mode);
    if (!fd) {
      log::error({{"event", "socket_failed"}, {"name", name}, {"error", fd.error().text}});
      return false;
    }
    out[name].push_back(std::move(*fd));
    files.push_back(path);
  }
  for (auto& [name, fds] : inherited) {
    bool known = std::find(activation_names().begin(), activation_names().end(), name) != activation_names().end();
    for (int fd : fds) {
      if (known) out[name].emplace_back(fd);
      else ::close(fd);
    }
    if (!known)
      log::warn({{"event", "inherited_listener"}, {"name", name}, {"action", "closed"}, {"reason", "unknown name"}});
    else
      log::info({{"event", "inherited_listener"}, {"name", name}, {"fds", std::to_string(fds.size())},
                 {"action", used.count(name) ? "used" : "kept, unused"}});
  }
  return true;
}

// Sockets, then the supervisor's loop; the socket files go when it ends.
int supervise(Config cfg, Plan plan, Settings st, std::map<std::string, std::vector<int>> inherited) {
  std::map<std::string, std::vector<UniqueFd>> sockets;
  std::vector<std::string> socket_files;
  int status = kExitFailed;
  if (open_sockets(plan, cfg, st.mode, st.single_user, std::move(inherited), sockets, socket_files)) {
    st.ready_timeout = Millis{cfg.seconds("start.ready_timeout") * 1000};
    st.stop_timeout = Millis{cfg.seconds("start.stop_timeout") * 1000};
    st.batch = batch_scheduling(cfg);
    std::string bin = exe_dir();
    Planner planner = [bin](const Config& c) { return make_plan(service_table(), c, bin, executable); };
    // Nothing the programs need lives in the cwd; do not hold a mount busy.
    if (::chdir("/") != 0) log::warn({{"event", "chdir_failed"}, {"error", strerror(errno)}});
    Supervisor sup(std::move(cfg), std::move(plan), std::move(st), std::move(sockets), planner);
    status = sup.run();
  }
  for (const auto& f : socket_files) ::unlink(f.c_str());
  return status;
}

}  // namespace

int run_instance(const Options& opt) {
  // First: the variables are for us, not for the programs we start.
  auto inherited = daemon::inherited_listeners();
  block_signals();

  std::string config_path = absolute(find_config_path(opt.config.empty() ? nullptr : opt.config.c_str()));
  auto cfg = Config::load(config_path);
  if (!cfg) {
    log::error({{"event", "config_error"}, {"error", cfg.error().text}});
    return kExitConfig;
  }
  if (cfg->str("log.level") == "debug") log::set_min_level(log::Level::debug);

  RunMode mode;
  std::string error;
  if (!choose_mode(opt, mode, error)) {
    log::error({{"event", "refused"}, {"error", error}});
    return kExitConfig;
  }
  auto plan = make_plan(service_table(), *cfg, exe_dir(), executable);
  if (!plan) {
    log::error({{"event", "config_error"}, {"error", plan.error().text}});
    return kExitConfig;
  }
  for (const auto& p : plan->absent)
    log::info({{"event", "absent"}, {"program", p}, {"action", "not started until it is installed"}});
  if (Status s = check_accounts(*plan, *cfg, mode, opt.single_user, lookup_account); !s.is_ok()) {
    log::error({{"event", "refused"}, {"error", s.text}});
    return kExitConfig;
  }

  std::string run_dir = cfg->path("run_dir");
  if (!make_dirs(run_dir, 0755)) {
    log::error({{"event", "run_dir_failed"}, {"dir", run_dir}, {"error", strerror(errno)}});
    return kExitFailed;
  }
  auto lock = lock_instance(run_dir);
  if (!lock) {
    log::error({{"event", "refused"}, {"error", lock.error().text}});
    return lock.error().is_temp() ? kExitRunning : kExitFailed;
  }
  Settings st;
  st.config_path = config_path;
  st.mode = mode;
  st.single_user = opt.single_user;
  st.pid_file = run_dir + "/sluice-start.pid";
  return supervise(std::move(*cfg), std::move(*plan), std::move(st), std::move(inherited));
}

}  // namespace sluice::start
