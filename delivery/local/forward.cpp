#include "delivery/local/forward.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include "common/date.hpp"
#include "common/fd.hpp"

extern char** environ;

namespace sluice::local {
namespace {

Status sys_error(const char* what) { return Status::temp("4.3.0", std::string(what) + ": " + strerror(errno)); }

// "4.7.1 text" / "5.1.1 text": the one reply line a refusing stage writes.
bool is_reply(std::string_view line) {
  return line.size() >= 5 && (line[0] == '4' || line[0] == '5') && line[1] == '.' &&
         line.find_first_not_of("0123456789.", 2) > 4;
}

std::string find_reply(std::string_view err) {
  std::string found;
  for (size_t i = 0; i < err.size();) {
    size_t e = err.find('\n', i);
    if (e == std::string_view::npos) e = err.size();
    std::string_view line = err.substr(i, e - i);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (is_reply(line)) found = line;
    i = e + 1;
  }
  return found;
}

std::string find_qid(std::string_view err) {
  size_t p = err.find("qid=");
  if (p == std::string_view::npos) return "";
  std::string_view q = err.substr(p + 4);
  size_t e = q.find_first_of(" \t\r\n\"");
  return std::string(q.substr(0, e));
}

// Collects the child's fd 2 until EOF or the deadline.
bool read_until(int fd, std::string& out, long long deadline_ms) {
  char buf[4096];
  for (;;) {
    long long now = monotonic_ms();
    if (now >= deadline_ms) return false;
    struct pollfd p {fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(deadline_ms - now, INT_MAX)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return true;
    if (out.size() < 65536) out.append(buf, static_cast<size_t>(r));
  }
}

}  // namespace

std::string default_inject_path() { return exe_dir() + "/sluice-inject"; }

std::string forward_envelope(const ForwardRequest& r) {
  std::string e = "F" + r.sender;
  e += '\0';
  if (auto it = r.params.find("ret"); it != r.params.end() && !it->second.empty()) e += "R" + it->second + '\0';
  if (auto it = r.params.find("envid"); it != r.params.end() && !it->second.empty()) e += "E" + it->second + '\0';
  e += "T" + r.target;
  e += '\0';
  e += '\0';
  return e;
}

Status map_inject_result(int wait_status, std::string_view err, const std::string& target) {
  std::string reply = find_reply(err);
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) {
    std::string qid = find_qid(err);
    return Status::ok("forwarded to " + target + (qid.empty() ? ", queued" : ", queued as " + qid));
  }
  std::string why = WIFEXITED(wait_status) ? "sluice-inject exited " + std::to_string(WEXITSTATUS(wait_status))
                                           : "sluice-inject killed by signal " + std::to_string(WTERMSIG(wait_status));
  bool perm = (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 31) || (!reply.empty() && reply[0] == '5');
  std::string enh = perm ? "5.3.0" : "4.3.0", text = why;
  if (!reply.empty()) {
    size_t sp = reply.find(' ');
    enh = reply.substr(0, sp);
    if (perm && enh[0] != '5') enh[0] = '5';
    if (!perm && enh[0] != '4') enh[0] = '4';
    text = sp == std::string::npos ? why : reply.substr(sp + 1);
  }
  text = "forward to " + target + " failed: " + text;
  return perm ? Status::perm(enh, text) : Status::temp(enh, text);
}

Status forward(const ForwardRequest& r, std::string_view prefix, std::string_view message) {
  // The message on fd 0 as an anonymous file: no temporary file to clean
  // up, and sluice-inject can read it at its own pace.
  UniqueFd msg(::memfd_create("sluice-forward", MFD_CLOEXEC));
  if (!msg) return sys_error("memfd_create");
  if (!write_all(msg.get(), prefix) || !write_all(msg.get(), message) || ::lseek(msg.get(), 0, SEEK_SET) != 0)
    return sys_error("forward copy");
  int env_p[2], err_p[2];
  if (::pipe2(env_p, O_CLOEXEC) != 0) return sys_error("pipe");
  UniqueFd env_r(env_p[0]), env_w(env_p[1]);
  if (::pipe2(err_p, O_CLOEXEC) != 0) return sys_error("pipe");
  UniqueFd err_r(err_p[0]), err_w(err_p[1]);
  // The envelope is small (one recipient): it fits the pipe before the
  // child starts, so no writer has to wait on it.
  std::string env = forward_envelope(r);
  if (env.size() > 60000 || !write_all(env_w.get(), env)) return sys_error("envelope");
  env_w.reset();

  std::vector<std::string> envs;
  for (char** e = environ; *e; e++)
    if (r.config_file.empty() || strncmp(*e, "SLUICE_CONFIG=", 14) != 0) envs.emplace_back(*e);
  if (!r.config_file.empty()) envs.push_back("SLUICE_CONFIG=" + r.config_file);
  std::vector<char*> envp;
  for (auto& s : envs) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = r.inject;
  char* argv[] = {exe.data(), nullptr};

  pid_t pid = ::fork();
  if (pid < 0) return sys_error("fork");
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    if (::dup2(msg.get(), 0) < 0 || ::dup2(env_r.get(), 1) < 0 || ::dup2(err_w.get(), 2) < 0) ::_exit(71);
    ::execve(exe.c_str(), argv, envp.data());
    static const char m[] = "4.3.0 cannot run sluice-inject\n";
    (void)!::write(2, m, sizeof m - 1);
    ::_exit(71);
  }
  err_w.reset();
  env_r.reset();
  msg.reset();
  std::string err;
  bool finished = read_until(err_r.get(), err, monotonic_ms() + r.timeout_seconds * 1000LL);
  if (!finished) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!finished) return Status::temp("4.4.7", "forward to " + r.target + ": sluice-inject timed out");
  return map_inject_result(status, err, r.target);
}

}  // namespace sluice::local
