#include "filters/shell/shell.hpp"

#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "common/fd.hpp"
#include "common/log.hpp"

extern char** environ;

namespace sluice::filter {

bool split_argv(const std::vector<std::string>& args, std::vector<std::string>& script,
                std::vector<std::string>& next) {
  script.clear();
  next.clear();
  size_t i = 0;
  while (i < args.size() && args[i] != "--") script.push_back(args[i++]);
  if (i == args.size()) return false;
  next.assign(args.begin() + static_cast<long>(i) + 1, args.end());
  return !script.empty() && !next.empty();
}

std::vector<std::string> script_environment(const queue::Envelope& env, size_t message_size) {
  std::string rcpts;
  for (const auto& r : env.rcpts) rcpts += (rcpts.empty() ? "" : " ") + r.address;
  std::vector<std::string> out = {"SLUICE_SENDER=" + env.sender, "SLUICE_RECIPIENTS=" + rcpts,
                                  "SLUICE_RCPT_COUNT=" + std::to_string(env.rcpts.size()),
                                  "SLUICE_SIZE=" + std::to_string(message_size)};
  for (const auto& [k, v] : env.params) {
    std::string name = "SLUICE_";
    for (char c : k) name += isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(toupper(c)) : '_';
    out.push_back(name + "=" + v);
  }
  return out;
}

Verdict verdict(int st, const std::string& line) {
  Verdict v;
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
    v.pass = true;
    return v;
  }
  bool perm = WIFEXITED(st) && (WEXITSTATUS(st) == 31 || WEXITSTATUS(st) == 100);
  char cls = perm ? '5' : '4';
  // "5.7.1 text" or "550 5.7.1 text": kept only when its class agrees with
  // the exit status, so a script cannot turn a crash into a permanent refusal.
  bool usable = !line.empty() && line[0] == cls;
  v.exit_code = perm ? 31 : 71;
  if (usable) v.reply = line;
  else v.reply = perm ? "5.7.1 Message rejected by content filter" : "4.7.1 Content filter failed, try again later";
  return v;
}

std::string to_lf(std::string t) {
  std::string out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size(); i++)
    if (!(t[i] == '\r' && i + 1 < t.size() && t[i + 1] == '\n')) out += t[i];
  return out;
}

namespace {

int refuse(int code, const std::string& line) {
  (void)write_all(2, line + "\n");
  return code;
}

UniqueFd memfd_with(const char* name, std::string_view data) {
  UniqueFd fd(::memfd_create(name, MFD_CLOEXEC));
  if (fd && (!write_all(fd.get(), data) || ::lseek(fd.get(), 0, SEEK_SET) != 0)) fd.reset();
  return fd;
}

// The reply line: the last line of the script's stderr that looks like one;
// the other lines go on to our stderr (the log).
std::string reply_of(const std::string& err) {
  std::string reply, other;
  size_t pos = 0;
  while (pos < err.size()) {
    size_t nl = err.find('\n', pos);
    std::string l = err.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? err.size() : nl + 1;
    bool looks = l.size() > 5 && (l[0] == '4' || l[0] == '5') &&
                 ((l[1] == '.' && isdigit(static_cast<unsigned char>(l[2]))) ||
                  (l.size() > 9 && l[3] == ' ' && l[4] == l[0] && l[5] == '.'));
    if (looks) reply = l;
    else if (!l.empty()) other += l + "\n";
  }
  if (!other.empty()) (void)write_all(2, other);
  return reply;
}

int run_script(const std::vector<std::string>& script, const std::vector<std::string>& vars, int in, int out,
               int err) {
  std::vector<std::string> envs = vars;
  for (char** e = environ; *e; e++)
    if (strncmp(*e, "SLUICE_", 7) != 0 || strncmp(*e, "SLUICE_CONFIG=", 14) == 0) envs.push_back(*e);
  std::vector<char*> envp, argv;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  for (const auto& a : script) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in, 0);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    errno = rc;
    return -1;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string read_back(int fd) {
  std::string s;
  if (::lseek(fd, 0, SEEK_SET) == 0) (void)read_all(fd, s);
  return s;
}

}  // namespace

int run(const std::vector<std::string>& args) {
  std::vector<std::string> script, next;
  if (!split_argv(args, script, next)) return refuse(81, "4.3.5 usage: sluice-filter-shell SCRIPT [ARG...] -- NEXT...");
  std::string message, envdata;
  if (!read_all(0, message)) return refuse(54, "4.3.0 cannot read the message");
  if (!read_all(1, envdata)) return refuse(54, "4.3.0 cannot read the envelope");
  queue::Envelope env;
  queue::EnvelopeError eerr;
  if (!queue::parse_envelope(envdata, env, eerr)) return refuse(eerr.exit_code, eerr.text);
  UniqueFd in = memfd_with("sluice-filter-in", message);
  UniqueFd out(::memfd_create("sluice-filter-out", MFD_CLOEXEC));
  UniqueFd err(::memfd_create("sluice-filter-err", MFD_CLOEXEC));
  if (!in || !out || !err) return refuse(71, std::string("4.3.0 memfd: ") + strerror(errno));
  int status = run_script(script, script_environment(env, message.size()), in.get(), out.get(), err.get());
  if (status < 0) return refuse(71, "4.3.5 cannot run " + script[0] + ": " + strerror(errno));
  Verdict v = verdict(status, reply_of(read_back(err.get())));
  if (!v.pass) {
    log::info({{"event", "filtered"}, {"script", script[0]}, {"reply", v.reply}, {"from", env.sender}});
    return refuse(v.exit_code, v.reply);
  }
  std::string replacement = read_back(out.get());
  if (!replacement.empty()) in = memfd_with("sluice-filter-in", to_lf(std::move(replacement)));
  UniqueFd envfd = memfd_with("sluice-filter-env", envdata);
  if (!in || !envfd) return refuse(71, std::string("4.3.0 memfd: ") + strerror(errno));
  // Chain-load the next stage: its exit status is ours.
  if (::dup2(in.get(), 0) < 0 || ::dup2(envfd.get(), 1) < 0) return refuse(71, "4.3.0 dup2 failed");
  std::vector<char*> argv;
  for (const auto& a : next) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  return refuse(71, "4.3.5 cannot run " + next[0] + ": " + strerror(errno));
}

}  // namespace sluice::filter
