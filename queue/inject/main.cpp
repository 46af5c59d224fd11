// sluice-inject: puts one message into the queue (the qmail-queue interface).
//
// Input:  the message on fd 0 (LF line endings), the envelope on fd 1:
//         F<sender>\0T<rcpt>\0...\0 with the extra records of
//         queue/store/queue.hpp (a plain qmail-queue envelope works unchanged).
//         Config: -c FILE, else $SLUICE_CONFIG, else /etc/sluice/sluice.toml.
// Output: the message in queue.dir, committed by one rename after fsync; on
//         refusal one reply line on fd 2 ("4.3.0 text"), which sluice-smtpd
//         relays to its client. Nothing on success (cron mails any output),
//         except "queued qid=QID" on fd 2 when SLUICE_INJECT_REPORT_QID=1
//         (sluice-smtpd sets it for its filter chains).
// Privileges: installed setgid sluice-q so any local user can queue mail and
//         nobody can read the queue. When setgid, it trusts only a config
//         file that its caller cannot have written (owned by root or by the
//         queue group, not writable by others).
// Exit (qmail-queue's codes): 0 queued; 11 address too long; 53 disk full or
//         write error; 54 cannot read the message or envelope; 55 cannot
//         create the queue file; 81 internal error; 91 envelope format error.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>

#include "common/config.hpp"
#include "common/fd.hpp"
#include "common/log.hpp"
#include "queue/store/queue.hpp"

using namespace sluice;

namespace {

int refuse(int code, const std::string& line) {
  std::string l = line + "\n";
  (void)!::write(2, l.data(), l.size());
  return code;
}

// A setgid program must not let its caller choose what it reads or where it
// writes with the group's rights.
bool config_trustworthy(const std::string& path, std::string& why) {
  if (::getegid() == ::getgid()) return true;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return why = "cannot stat " + path, false;
  if ((st.st_uid != 0 && st.st_gid != ::getegid()) || (st.st_mode & S_IWOTH))
    return why = path + " is not owned by root or the queue group, or is writable by others", false;
  return true;
}

int run(int argc, char** argv) {
  const char* cfg_arg = nullptr;
  for (int i = 1; i < argc; i++) {
    if (std::string_view(argv[i]) == "-c" && i + 1 < argc) cfg_arg = argv[++i];
    else return refuse(81, "4.3.5 usage: sluice-inject [-c FILE] <message 1<envelope");
  }
  std::string path = find_config_path(cfg_arg), why;
  if (!config_trustworthy(path, why)) return refuse(81, "4.3.5 " + why);
  auto cfg = Config::load(path);
  if (!cfg) return refuse(81, "4.3.5 " + cfg->file() + cfg.error().text);
  std::string qdir = cfg->path("queue.dir");

  auto staging = queue::Staging::open(qdir, cfg->bytes("queue.min_free"));
  if (!staging) {
    const std::string& t = staging.error().text;
    int code = atoi(t.c_str());
    return refuse(code ? code : 55, "4.3.1 " + t.substr(t.find(' ') + 1));
  }
  if (int rc = staging->copy_from(0); rc != 0)
    return refuse(rc, rc == 53 ? "4.3.1 insufficient system storage" : "4.3.0 cannot read the message");
  std::string envdata;
  if (!read_all(1, envdata)) return refuse(54, "4.3.0 cannot read the envelope");
  queue::Envelope env;
  queue::EnvelopeError err;
  if (!queue::parse_envelope(envdata, env, err)) return refuse(err.exit_code, err.text);
  // Who queued it is known here, not claimed by the caller.
  std::erase_if(env.params, [](const auto& p) { return p.first == "uid"; });
  env.params.emplace_back("uid", std::to_string(::getuid()));
  if (int rc = staging->commit(env, ::time(nullptr)); rc != 0)
    return refuse(rc, rc == 53 ? "4.3.1 insufficient system storage" : "4.3.0 queue write error");
  // sluice-smtpd at the end of a filter chain wants the id for its 250
  // reply; everyone else (cron through sendmail) gets silence.
  if (const char* v = getenv("SLUICE_INJECT_REPORT_QID"); v && *v == '1') {
    std::string line = "queued qid=" + staging->qid() + "\n";
    (void)!::write(2, line.data(), line.size());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  log::init("sluice-inject");
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    return refuse(81, std::string("4.3.0 internal error: ") + e.what());
  }
}
