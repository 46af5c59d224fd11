#include "admin/start/runtime.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
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

namespace {
bool split_host_port(const std::string& a, std::string& host, std::string& port) {
  size_t colon = a.rfind(':');
  if (colon == std::string::npos || colon + 1 == a.size()) return false;
  host = a.substr(0, colon);
  port = a.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "*") host.clear();
  return port.find_first_not_of("0123456789") == std::string::npos;
}

Result<UniqueFd> bind_one(const struct addrinfo* ai, const std::string& address) {
  UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
  if (!fd) return Status::perm("5.3.0", err("socket for " + address));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // An IPv6 socket serves IPv6 only, so "[::]:25" and "0.0.0.0:25" can coexist.
  if (ai->ai_family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) return Status::perm("5.3.0", err("cannot bind " + address));
  if (::listen(fd.get(), SOMAXCONN) != 0) return Status::perm("5.3.0", err("cannot listen on " + address));
  return fd;
}
}  // namespace

Result<std::vector<UniqueFd>> make_tcp_listeners(const std::string& address) {
  std::string host, port;
  if (!split_host_port(address, host, port))
    return Status::perm("5.3.5", "bad listen address " + address + " (host:port, [v6]:port or *:port)");
  struct addrinfo hints {};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_ADDRCONFIG;
  struct addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) return Status::perm("5.3.5", "cannot resolve listen address " + address + ": " + gai_strerror(rc));
  std::vector<UniqueFd> out;
  Status failed = Status::ok();
  for (auto* ai = res; ai; ai = ai->ai_next) {
    auto fd = bind_one(ai, address);
    if (!fd) {
      failed = fd.error();
      break;
    }
    out.push_back(std::move(*fd));
  }
  ::freeaddrinfo(res);
  if (!failed.is_ok()) return failed;
  if (out.empty()) return Status::perm("5.3.5", "no address for " + address);
  return out;
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
