// `sluice setup` (root): the system accounts of config accounts.*, the
// groups sluice-q, sluice-db and sluice-notify, and the ownership and modes of the
// instance (common brief "Accounts"). Idempotent: existing accounts are
// kept, ownership is applied again.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "admin/cli/cli.hpp"
#include "common/fd.hpp"
#include "queue/store/queue.hpp"

namespace sluice::cli {
namespace {

namespace fs = std::filesystem;

const char* kDbGroup = "sluice-db";
const char* kNotifyGroup = "sluice-notify";

// Runs ARGV (a system tool); true when it exits 0.
bool run_tool(const std::vector<std::string>& argv) {
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execvp(a[0], a.data());
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

bool ensure_group(const std::string& g) {
  if (getgrnam(g.c_str())) return true;
  std::printf("creating group %s\n", g.c_str());
  return run_tool({"groupadd", "--system", g});
}

// Each account gets a group of its own name (made first, so useradd never
// trips over an existing group such as sluice-q).
bool ensure_user(const std::string& u) {
  if (!ensure_group(u)) return false;
  if (getpwnam(u.c_str())) return true;
  std::printf("creating account %s\n", u.c_str());
  return run_tool({"useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell",
                   "/usr/sbin/nologin", "-g", u, u});
}

struct Ids {
  uid_t uid;
  gid_t gid;
};

bool ids(const std::string& user, const std::string& group, Ids& out) {
  struct passwd* pw = user == "root" ? getpwuid(0) : getpwnam(user.c_str());
  struct group* gr = group == "root" ? getgrgid(0) : getgrnam(group.c_str());
  if (!pw || !gr) return false;
  out = {pw->pw_uid, gr->gr_gid};
  return true;
}

// chown + chmod of PATH; files and directories below get OWNER too, with
// FILE_MODE and DIR_MODE when RECURSE.
bool apply(const std::string& path, const std::string& user, const std::string& group, mode_t mode, bool recurse,
           mode_t dir_mode = 02770, mode_t file_mode = 0660) {
  Ids id{};
  if (!ids(user, group, id)) return false;
  std::error_code ec;
  if (!fs::exists(path, ec)) return true;
  if (::lchown(path.c_str(), id.uid, id.gid) != 0 || ::chmod(path.c_str(), mode) != 0) return false;
  if (!recurse) return true;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::string p = it->path().string();
    bool dir = it->is_directory(ec) && !it->is_symlink(ec);
    if (::lchown(p.c_str(), id.uid, id.gid) != 0) return false;
    if (!it->is_symlink(ec) && ::chmod(p.c_str(), dir ? dir_mode : file_mode) != 0) return false;
  }
  return !ec;
}

bool apply_queue(const std::string& qdir, const std::string& q, const std::string& sms) {
  // Directories a newer layout has and an older instance lacks (free/).
  if (!queue::create_layout(qdir).is_ok()) return false;
  if (!apply(qdir, q, q, 02771, false)) return false;
  for (const char* d : {"msg", "hold", "corrupt", "free"})
    if (!apply(qdir + "/" + d, q, q, 02770, true)) return false;
  for (const char* f : {"flush"})
    if (!apply(qdir + "/" + f, q, q, 0660, false)) return false;
  // The notify spool is shared through its own group: sluice-local (mbox)
  // writes requests, sluice-sms reads and removes them; neither can touch
  // the other's files elsewhere.
  return apply(qdir + "/notify", sms, kNotifyGroup, 02770, true);
}

bool apply_instance(const Config& cfg) {
  std::string root = cfg.root();
  std::string q = cfg.str("accounts.queue"), mbox = cfg.str("accounts.mbox");
  std::string db = cfg.path("tables.sqlite");
  std::string dbdir = db.substr(0, db.rfind('/'));
  bool ok = apply(root, "root", "root", 0755, false) && apply(root + "/etc", "root", "root", 0755, false) &&
            apply(cfg.file(), "root", "root", 0644, false) && apply(root + "/etc/tls", "root", "root", 0755, false) &&
            apply(cfg.path("tls.cert"), "root", "root", 0644, false) &&
            apply(cfg.path("tls.key"), "root", cfg.str("accounts.smtpd"), 0640, false) &&
            apply_queue(cfg.path("queue.dir"), q, cfg.str("accounts.sms")) &&
            apply(cfg.path("local.mail_dir"), mbox, mbox, 0700, true, 0700, 0600) &&
            apply(cfg.path("run_dir"), "root", "root", 0755, false);
  // The remote pool shares its down marks and per-destination slots here;
  // its members run as the remote account and cannot create it in run/.
  std::string state = cfg.path("remote.state_dir");
  std::string remote = cfg.str("accounts.remote");
  ok = ok && make_dirs(state, 0700) && apply(state, remote, remote, 0700, true, 0700, 0600);
  if (cfg.str("tables.backend") == "sqlite")
    ok = ok && apply(dbdir, "root", kDbGroup, 02770, true, 02770, 0660);
  return ok;
}

// bin/sluice-inject beside this binary: setgid sluice-q, so any local user
// can queue mail but never read the queue.
bool apply_inject(const std::string& q) {
  std::string inject = exe_dir() + "/sluice-inject";
  if (::access(inject.c_str(), F_OK) != 0) {
    std::printf("no %s: skipped\n", inject.c_str());
    return true;
  }
  std::printf("%s: root:%s 02755\n", inject.c_str(), q.c_str());
  return apply(inject, "root", q, 02755, false);
}

}  // namespace


int cmd_setup(const Args& args, const std::string& config_arg) {
  if (!args.empty()) return usage("usage: sluice setup\n");
  // Without a configuration yet (`make install` before the first init),
  // setup makes the default accounts and leaves the instance part for later.
  std::string path = find_config_path(config_arg.empty() ? nullptr : config_arg.c_str());
  bool have_instance = ::access(path.c_str(), F_OK) == 0;
  Config cfg = Config::defaults("/");
  if (have_instance && !load_config(config_arg, cfg)) return kExitFail;
  std::vector<std::string> accounts;
  for (const char* k : {"accounts.queue", "accounts.mbox", "accounts.smtpd", "accounts.auth", "accounts.remote",
                        "accounts.sms"})
    accounts.push_back(cfg.str(k));
  if (::geteuid() != 0) {
    std::string list;
    for (const auto& a : accounts) list += " " + a;
    return fail("setup must run as root: it creates the accounts" + list + " and the groups " +
                cfg.str("accounts.queue") + " and " + kDbGroup + ", and changes the owners of " + cfg.root());
  }
  for (const auto& a : accounts)
    if (!ensure_user(a)) return fail("cannot create the account " + a + " (useradd failed)");
  if (!ensure_group(kDbGroup)) return fail(std::string("cannot create the group ") + kDbGroup);
  // The programs that open the SQLite database (scheduler, local deliverer,
  // auth) reach it through the group sluice-db.
  for (const char* k : {"accounts.queue", "accounts.mbox", "accounts.auth"})
    if (!run_tool({"usermod", "-a", "-G", kDbGroup, cfg.str(k)}))
      return fail("cannot add " + cfg.str(k) + " to the group " + kDbGroup);
  if (!ensure_group(kNotifyGroup)) return fail(std::string("cannot create the group ") + kNotifyGroup);
  for (const char* k : {"accounts.mbox", "accounts.sms"})
    if (!run_tool({"usermod", "-a", "-G", kNotifyGroup, cfg.str(k)}))
      return fail("cannot add " + cfg.str(k) + " to the group " + kNotifyGroup);
  if (!apply_inject(cfg.str("accounts.queue")))
    return fail("cannot make sluice-inject setgid: " + std::string(std::strerror(errno)));
  if (!have_instance) {
    std::printf("accounts in place; no configuration at %s yet: run `sluice init DIR --domain D`, then setup again\n",
                path.c_str());
    return kExitOk;
  }
  if (!apply_instance(cfg)) return fail("cannot set ownership in " + cfg.root() + ": " + std::strerror(errno));
  std::printf("instance %s: accounts and ownership in place\n", cfg.root().c_str());
  return kExitOk;
}

}  // namespace sluice::cli
