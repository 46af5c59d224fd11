// sluice-auth: the only reader of password hashes. The listeners
// (sluice-smtpd, later sluice-pop3d) ask it whether a recipient exists and
// whether a password is right, so a flaw in a network-facing program does
// not leak the hashes; it also keeps the per-IP failure counts that ban a
// password-guessing client across every listener process.
//
// Input:  connections on the "auth" listener that sluice-start passes
//         (RUN_DIR/auth.sock, owned by accounts.smtpd, mode 0600: only the
//         listener connects); the line protocol of listen/auth/auth.hpp.
//         Configuration: tables.*, local.recipient_delimiter,
//         local.default_quota, auth.max_failures, auth.ban_time.
//         Asks sluice-quota (RUN_DIR/quota.sock) whether a recipient's
//         mailbox is full.
// Output: one answer line per request; event=login_failed log lines
//         (client, user, banned). Never a password or a hash.
// Privileges: accounts.auth, a member of the group that may read the
//         SQLite database; nothing else.
// Exit: 64 usage; 71 accept failed; 78 bad configuration, tables that
//       cannot be opened, or no listener. SIGTERM ends it.
#include <csignal>
#include <cstdio>
#include <string_view>

#include "common/config.hpp"
#include "common/daemon.hpp"
#include "common/log.hpp"
#include "common/tables.hpp"
#include "listen/auth/server.hpp"

using namespace sluice;

int main(int argc, char** argv) {
  log::init("sluice-auth");
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGHUP, SIG_IGN);  // the tables are read live; nothing else to reload
  const char* cfg_arg = nullptr;
  if (!daemon::parse_config_option(argc, argv, "usage: sluice-auth [-c FILE] (run by sluice-start)", cfg_arg)) return 64;
  auto listeners = daemon::inherited_listeners();
  auto cfg = daemon::load_config(cfg_arg);
  if (!cfg) return 78;
  int listener = daemon::listener_named(listeners, "auth");
  if (listener < 0) return 78;
  // Fail at start, where sluice-start sees it, rather than on every query.
  if (auto t = tables::open_tables(*cfg); !t) {
    log::error({{"event", "tables_error"}, {"error", t.error().text}});
    return 78;
  }
  auth::Settings s;
  s.delimiter = cfg->str("local.recipient_delimiter");
  s.default_quota = cfg->bytes("local.default_quota");
  s.quota_socket = cfg->path("run_dir") + "/quota.sock";
  auth::Bans bans(cfg->integer("auth.max_failures"), cfg->seconds("auth.ban_time"));
  daemon::signal_ready();
  return auth::serve(listener, *cfg, bans, s, 256);
}
