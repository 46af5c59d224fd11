#include "common/daemon.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "common/log.hpp"

namespace sluice::daemon {

void signal_ready() {
  if (const char* s = getenv("SLUICE_READY_FD")) {
    int fd = atoi(s);
    if (fd > 2) {
      (void)!::write(fd, "R", 1);
      ::close(fd);
    }
    unsetenv("SLUICE_READY_FD");
  }
  if (const char* path = getenv("NOTIFY_SOCKET"); path && (path[0] == '/' || path[0] == '@')) {
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      struct sockaddr_un sa {};
      sa.sun_family = AF_UNIX;
      size_t n = strnlen(path, sizeof sa.sun_path - 1);
      memcpy(sa.sun_path, path, n);
      if (sa.sun_path[0] == '@') sa.sun_path[0] = 0;
      (void)!::sendto(fd, "READY=1", 7, 0, reinterpret_cast<struct sockaddr*>(&sa),
                      static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + n));
      ::close(fd);
    }
  }
}

std::map<std::string, std::vector<int>> inherited_listeners() {
  std::map<std::string, std::vector<int>> out;
  const char* n = getenv("LISTEN_FDS");
  const char* pid = getenv("LISTEN_PID");
  if (!n || (pid && atol(pid) != static_cast<long>(getpid()))) return out;
  int count = atoi(n);
  std::vector<std::string> names;
  if (const char* s = getenv("LISTEN_FDNAMES")) {
    std::string all = s;
    size_t i = 0;
    while (i <= all.size()) {
      size_t j = all.find(':', i);
      if (j == std::string::npos) j = all.size();
      names.push_back(all.substr(i, j - i));
      i = j + 1;
    }
  }
  for (int k = 0; k < count && k < 1024; k++) {
    int fd = 3 + k;
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    out[k < static_cast<int>(names.size()) ? names[k] : "unknown"].push_back(fd);
  }
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDNAMES");
  return out;
}

bool parse_config_option(int argc, char** argv, const char* usage, const char*& cfg_arg) {
  cfg_arg = nullptr;
  for (int i = 1; i < argc; i++) {
    if (std::string_view(argv[i]) == "-c" && i + 1 < argc) {
      cfg_arg = argv[++i];
    } else {
      fprintf(stderr, "%s\n", usage);
      return false;
    }
  }
  return true;
}

const char* find_config_option(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i++)
    if (std::string_view(argv[i]) == "-c") return argv[i + 1];
  return nullptr;
}

void ensure_std_fds() {
  for (int fd = 0; fd < 3; fd++)
    if (::fcntl(fd, F_GETFD) < 0) ::open("/dev/null", O_RDWR);
}

int listener_named(const std::map<std::string, std::vector<int>>& listeners, const std::string& name) {
  auto it = listeners.find(name);
  if (it != listeners.end() && !it->second.empty()) return it->second[0];
  std::string why = "no inherited \"" + name + "\" socket: run by sluice-start";
  log::error({{"event", "no_listener"}, {"error", why}});
  return -1;
}

Status drop_privileges(const std::string& account) {
  if (::geteuid() != 0) return Status::ok();
  struct passwd* pw = ::getpwnam(account.c_str());
  if (!pw) return Status::perm("5.3.0", "account " + account + " does not exist (run `sluice setup`); refusing to run as root");
  if (pw->pw_uid == 0) return Status::perm("5.3.0", "account " + account + " is root; refusing");
  if (::initgroups(pw->pw_name, pw->pw_gid) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0)
    return Status::perm("5.3.0", "cannot drop to " + account + ": " + strerror(errno));
  // Irrevocable: setuid as root sets all three uids; check it stuck.
  if (::setuid(0) == 0) return Status::perm("5.3.0", "privileges could be regained; refusing");
  return Status::ok();
}

std::optional<Config> load_config(const char* cfg_arg) {
  auto cfg = Config::load(find_config_path(cfg_arg));
  if (!cfg) {
    log::error({{"event", "config_error"}, {"error", cfg.error().text}});
    return std::nullopt;
  }
  return std::move(*cfg);
}

}  // namespace sluice::daemon
