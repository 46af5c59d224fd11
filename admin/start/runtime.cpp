#include "admin/start/runtime.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::start {

namespace {
std::string err(const std::string& what) { return what + ": " + strerror(errno); }
}  // namespace

Result<UniqueFd> lock_instance(const std::string& run_dir) {
  std::string path = run_dir + "/sluice-start.lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) return Status::perm("5.3.0", err("cannot open " + path));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return Status::temp("4.3.0", "another sluice-start runs this instance (" + path + " is locked)");
    return Status::perm("5.3.0", err("cannot lock " + path));
  }
  return fd;
}

Result<UniqueFd> make_unix_listener(const std::string& path, std::optional<Account> owner, int type, int mode) {
  struct sockaddr_un sa {};
  if (path.size() >= sizeof sa.sun_path)
    return Status::perm("5.3.5", "socket path " + path + " is longer than " +
                                     std::to_string(sizeof sa.sun_path - 1) + " bytes; use a shorter run_dir");
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path.data(), path.size());
  UniqueFd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!fd) return Status::perm("5.3.0", err("socket"));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Status::perm("5.3.0", err("cannot remove " + path));
  // Created 0600 from the start: no instant where another user could connect.
  mode_t old = ::umask(077);
  int rc = ::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&sa), sizeof sa);
  int saved = errno;
  ::umask(old);
  errno = saved;
  if (rc != 0) return Status::perm("5.3.0", err("cannot bind " + path));
  if (owner && ::chown(path.c_str(), owner->uid, owner->gid) != 0)
    return Status::perm("5.3.0", err("cannot chown " + path));
  if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) return Status::perm("5.3.0", err("cannot chmod " + path));
  if (::listen(fd.get(), 128) != 0) return Status::perm("5.3.0", err("cannot listen on " + path));
  return fd;
}

bool write_pid_file(const std::string& path) {
  return write_file_atomic(path, std::to_string(::getpid()) + "\n", 0644);
}


std::optional<Account> lookup_account(const std::string& name) {
  struct passwd* pw = ::getpwnam(name.c_str());
  if (!pw) return std::nullopt;
  return Account{pw->pw_uid, pw->pw_gid};
}

}  // namespace sluice::start
