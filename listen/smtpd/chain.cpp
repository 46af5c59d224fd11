#include "listen/smtpd/chain.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>

#include "common/fd.hpp"
#include "common/log.hpp"

extern char** environ;

namespace sluice::smtpd {

using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;
using asio::posix::stream_descriptor;

std::vector<std::string> chain_argv(const std::vector<std::string>& filters, const std::string& exe_dir) {
  std::vector<std::string> argv = filters;
  argv.push_back(exe_dir + "/sluice-inject");
  if (argv[0].find('/') == std::string::npos && ::access((exe_dir + "/" + argv[0]).c_str(), X_OK) == 0)
    argv[0] = exe_dir + "/" + argv[0];
  return argv;
}

namespace {

bool is_reply_line(std::string_view l) {
  auto digit = [&](size_t i) { return i < l.size() && isdigit(static_cast<unsigned char>(l[i])); };
  if (l.empty() || (l[0] != '4' && l[0] != '5')) return false;
  if (l.size() > 5 && l[1] == '.' && digit(2)) return true;                               // 5.7.1 text
  return l.size() > 9 && digit(1) && digit(2) && l[3] == ' ' && l[4] == l[0] && l[5] == '.';  // 550 5.7.1 text
}

struct State {
  explicit State(const asio::any_io_executor& ex) : msg(ex), env(ex), err(ex), pid(ex), err_done(ex) {}
  stream_descriptor msg, env, err, pid;
  std::string message, envelope, err_text;
  asio::steady_timer err_done;  // cancelled when the stderr reader ends
  bool reader_done = false, timed_out = false;
};

// ST keeps D and DATA alive until the write ends, even after run_chain returned.
awaitable<void> write_pipe(std::shared_ptr<State> st, stream_descriptor& d, const std::string& data) {
  (void)st;
  std::error_code ec;
  co_await asio::async_write(d, asio::buffer(data), redirect_error(use_awaitable, ec));
  // EOF tells the chain the message (or envelope) is complete.
  if (d.is_open()) d.close(ec);
}

awaitable<void> read_stderr(std::shared_ptr<State> st) {
  char buf[4096];
  for (;;) {
    std::error_code ec;
    size_t n = co_await st->err.async_read_some(asio::buffer(buf), redirect_error(use_awaitable, ec));
    // A chain that writes without end is not given our memory.
    if (st->err_text.size() < 65536) st->err_text.append(buf, n);
    if (ec) break;
  }
  st->reader_done = true;
  st->err_done.cancel();
}

// posix_spawn: vfork semantics, so the cost does not grow with the number
// of sessions this worker holds. The chain gets its own process group
// (killed as a whole on time-out) and SIGPIPE back at its default.
pid_t spawn(const std::vector<std::string>& argv, int in, int env, int err) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in, 0);
  posix_spawn_file_actions_adddup2(&fa, env, 1);
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawnattr_init(&at);
  sigset_t none, def;
  sigemptyset(&none);
  sigemptyset(&def);
  sigaddset(&def, SIGPIPE);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &def);
  posix_spawnattr_setpgroup(&at, 0);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = argv[0].find('/') == std::string::npos
               ? posix_spawnp(&pid, args[0], &fa, &at, args.data(), environ)
               : posix_spawn(&pid, args[0], &fa, &at, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (rc != 0) {
    errno = rc;
    return -1;
  }
  return pid;
}

InjectResult temp(std::string text) { return InjectResult{75, "4.3.0 " + std::move(text)}; }

}  // namespace

std::string reply_line_of(const std::string& text, std::string* other) {
  std::string reply;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (is_reply_line(line)) reply = line;
    else if (other && !line.empty()) *other += line + "\n";
  }
  return reply;
}

awaitable<InjectResult> run_chain(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                                  const std::string& envelope, const std::string& message) {
  auto ex = co_await asio::this_coro::executor;
  int p_msg[2], p_env[2], p_err[2];
  if (::pipe2(p_msg, O_CLOEXEC) != 0) co_return temp(std::string("pipe: ") + strerror(errno));
  UniqueFd msg_r(p_msg[0]), msg_w(p_msg[1]);
  if (::pipe2(p_env, O_CLOEXEC) != 0) co_return temp(std::string("pipe: ") + strerror(errno));
  UniqueFd env_r(p_env[0]), env_w(p_env[1]);
  if (::pipe2(p_err, O_CLOEXEC) != 0) co_return temp(std::string("pipe: ") + strerror(errno));
  UniqueFd err_r(p_err[0]), err_w(p_err[1]);
  pid_t pid = spawn(argv, msg_r.get(), env_r.get(), err_w.get());
  if (pid < 0) co_return temp("cannot start the message filter " + argv[0] + ": " + strerror(errno));
  msg_r.reset();
  env_r.reset();
  err_w.reset();
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    co_return temp(std::string("pidfd_open: ") + strerror(errno));
  }
  auto st = std::make_shared<State>(ex);
  st->pid.assign(pidfd);
  st->msg.assign(msg_w.release());
  st->env.assign(env_w.release());
  st->err.assign(err_r.release());
  st->message = message;
  st->envelope = envelope;
  asio::co_spawn(ex, write_pipe(st, st->msg, st->message), asio::detached);
  asio::co_spawn(ex, write_pipe(st, st->env, st->envelope), asio::detached);
  asio::co_spawn(ex, read_stderr(st), asio::detached);

  asio::steady_timer deadline(ex, timeout);
  deadline.async_wait([st, pid](std::error_code ec) {
    if (ec) return;
    st->timed_out = true;
    ::kill(-pid, SIGKILL);  // the whole chain, and whatever it started
  });
  std::error_code ec;
  co_await st->pid.async_wait(stream_descriptor::wait_read, redirect_error(use_awaitable, ec));
  deadline.cancel();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // The chain is gone: what it did not read it will never read.
  if (st->msg.is_open()) st->msg.close(ec);
  if (st->env.is_open()) st->env.close(ec);
  if (!st->reader_done) {
    // A process the chain left behind may still hold fd 2; wait a little.
    st->err_done.expires_after(std::chrono::seconds(2));
    co_await st->err_done.async_wait(redirect_error(use_awaitable, ec));
    if (!st->reader_done) st->err.close(ec);
  }
  std::string other, qid;
  std::string reply = reply_line_of(st->err_text, &other);
  // sluice-inject's "queued qid=QID" (SLUICE_INJECT_REPORT_QID) is ours, not a log line.
  if (auto at = other.rfind("queued qid="); at != std::string::npos && (at == 0 || other[at - 1] == '\n')) {
    auto end = other.find('\n', at);
    qid = other.substr(at + 11, end == std::string::npos ? std::string::npos : end - at - 11);
    other.erase(at, end == std::string::npos ? std::string::npos : end - at + 1);
  }
  if (!other.empty()) (void)write_all(2, other);  // the chain's own log lines
  if (st->timed_out) co_return temp("message filter timed out, try again later");
  if (WIFSIGNALED(status)) co_return temp("message filter killed by signal " + std::to_string(WTERMSIG(status)));
  InjectResult r;
  r.code = WEXITSTATUS(status);
  r.text = r.code == 0 ? qid : reply;
  co_return r;
}

}  // namespace sluice::smtpd
