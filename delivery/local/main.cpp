// sluice-local: the local deliverer.
//
// SYNOPSIS
//   sluice-local [-c FILE] --sender ADDR --rcpt ADDR [--rcpt ADDR...] [--qid ID] < message
//   sluice-local [-c FILE]          (pool member: started by sluice-start)
//
// DESCRIPTION
//   Delivers a message to the recipients of local domains: users get it in
//   their Maildir++ (MAIL_DIR/DOMAIN/LOCALPART/), aliases expand (recursively,
//   with catch-alls "@domain" and the recipient delimiter), outside alias
//   targets get it forwarded through sluice-inject, quotas are kept in
//   maildirsize, and SMS notices are queued in QUEUE_DIR/notify/.
//   docs/sluice-local.md is the manual.
//
//   With an inherited listening socket named "local" ($LISTEN_FDS,
//   $LISTEN_FDNAMES), it is one member of the pool sluice-sched talks to:
//   it accepts one connection at a time and serves jobs on it
//   (common/deliver_proto.hpp), every job already waiting delivered in the
//   same round so they share their disk syncs, until the peer closes it
//   (the scheduler does after local.max_use jobs), and exits between
//   connections once it has served local.max_use jobs or got SIGHUP, so
//   sluice-start starts a fresh process (a bound on leaks, as Postfix's
//   max_use; a reload). Without one, it delivers the message on
//   fd 0 once and prints a result line per recipient.
//
// INPUTS AND OUTPUTS
//   The configuration from -c FILE, $SLUICE_CONFIG or /etc/sluice/sluice.toml;
//   the tables (opened once per process); the message on fd 0 or passed with
//   each job. Writes mailboxes and notify requests; one key=value log line
//   per recipient outcome on stderr.
//
// PRIVILEGES
//   Runs as the mailbox account (accounts.mbox, sluice-mbox): sluice-start
//   starts it so. Started as root from a shell, it drops to the owner of
//   local.mail_dir (the mailbox account after `sluice setup`); when root owns
//   that directory (an instance never set up) it says so and stays root, so
//   the files it makes always match their store.
//
// EXIT STATUS
//   Standalone: 0 every recipient delivered, 100 any failed permanently,
//   111 otherwise (qmail-local's convention); 64 usage error.
//   Pool member: 0 after local.max_use jobs; 71 accept failed; 81 a malformed
//   job packet. Both: 78 bad configuration; 75 the tables cannot be opened.
#include <fcntl.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "common/config.hpp"
#include "common/daemon.hpp"
#include "common/log.hpp"
#include "delivery/local/local.hpp"
#include "delivery/local/pool.hpp"

using namespace sluice;

namespace {

// As root (a shell, not sluice-start), deliver as the owner of the mailbox
// store, so every file made belongs to the account that reads them later:
// accounts.mbox after `sluice setup`, the one account of --single-user.
// A store still owned by root (never set up) is written as root, said once.
Status drop_root(const std::string& mail_dir) {
  if (::geteuid() != 0) return Status::ok();
  struct stat st;
  if (::stat(mail_dir.c_str(), &st) != 0 || st.st_uid == 0) {
    log::warn({{"event", "running_as_root"}, {"reason", mail_dir + " is owned by root (see `sluice setup`)"}});
    return Status::ok();
  }
  struct passwd* pw = ::getpwuid(st.st_uid);
  if (!pw) return Status::perm("5.3.0", mail_dir + " belongs to uid " + std::to_string(st.st_uid) + ", no account");
  return daemon::drop_privileges(pw->pw_name);
}

}  // namespace

int main(int argc, char** argv) {
  daemon::ensure_std_fds();
  log::init("sluice-local");
  // Mailboxes are private (0700/0600 by their own modes); notify requests
  // must stay readable by sluice-sms through the group.
  ::umask(007);
  auto listeners = daemon::inherited_listeners();
  auto cfg = daemon::load_config(daemon::find_config_option(argc, argv));
  if (!cfg) return 78;
  auto opts = local::Options::from_config(*cfg);
  if (!opts) {
    log::error({{"event", "config_error"}, {"error", opts.error().text}});
    return 78;
  }
  if (Status st = drop_root(opts->mail_dir); !st.is_ok()) {
    log::error({{"event", "privileges"}, {"error", st.text}});
    return 78;
  }
  auto tables = tables::open_tables(*cfg);
  if (!tables) {
    log::error({{"event", "tables_error"}, {"error", tables.error().text}});
    return 75;
  }
  local::Deliverer d(std::move(*opts), **tables);
  auto it = listeners.find("local");
  if (it == listeners.end() || it->second.empty()) {
    deliver::Handler h = [&d](const deliver::Job& j, int fd) { return d.deliver(j, fd); };
    return deliver::run_standalone(argc, argv, h);
  }
  deliver::RoundHandler rounds = [&d](const std::vector<deliver::Job>& jobs, const std::vector<int>& fds) {
    return d.deliver_round(jobs, fds);
  };
  daemon::signal_ready();
  // The scheduler sends at most queue.local_pipeline jobs ahead on one
  // connection; the bounds here cap a round's memory: a round holds its
  // messages, and one of 50 MB should not have company.
  return local::run_pool(it->second[0], rounds, 64, 8LL << 20, cfg->integer("local.max_use"));
}
