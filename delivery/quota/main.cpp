// sluice-quota: answers whether a message fits in a recipient's mailbox,
// so sluice-smtpd can refuse a full one at RCPT (4.2.2/5.2.2) without any
// listener-side program reading the mailboxes.
//
// Input:  connections on the "quota" listener that sluice-start passes
//         (RUN_DIR/quota.sock, owned by accounts.auth, mode 0600: only
//         sluice-auth connects); the line protocol of delivery/quota/quota.hpp.
//         Configuration: tables.*, local.mail_dir, local.recipient_delimiter,
//         local.default_quota, local.quota_exceeded.
// Output: one answer line per request. A Maildir++ maildirsize that is
//         missing or stale is rebuilt, as any Maildir++ reader does.
// Privileges: accounts.mbox, the owner of the mailboxes (they stay 0700);
//         reads the tables like sluice-local. Writes nothing but
//         maildirsize.
// Exit: 64 usage; 71 accept failed; 78 bad configuration, tables that
//       cannot be opened, or no listener. SIGTERM ends it.
#include <csignal>

#include "common/accept_loop.hpp"
#include "common/config.hpp"
#include "common/daemon.hpp"
#include "common/line_service.hpp"
#include "common/log.hpp"
#include "common/tables.hpp"
#include "delivery/quota/quota.hpp"

using namespace sluice;

int main(int argc, char** argv) {
  log::init("sluice-quota");
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGHUP, SIG_IGN);  // the tables are read live; nothing else to reload
  const char* cfg_arg = nullptr;
  if (!daemon::parse_config_option(argc, argv, "usage: sluice-quota [-c FILE] (run by sluice-start)", cfg_arg))
    return 64;
  auto listeners = daemon::inherited_listeners();
  auto cfg = daemon::load_config(cfg_arg);
  if (!cfg) return 78;
  auto opts = local::Options::from_config(*cfg);
  if (!opts) {
    log::error({{"event", "config_error"}, {"error", opts.error().text}});
    return 78;
  }
  int listener = daemon::listener_named(listeners, "quota");
  if (listener < 0) return 78;
  if (auto t = tables::open_tables(*cfg); !t) {
    log::error({{"event", "tables_error"}, {"error", t.error().text}});
    return 78;
  }
  TablesPool pool(*cfg);
  daemon::signal_ready();
  return serve_threads(listener, 32, [&](int fd) {
    serve_lines(fd, pool, [&](std::string_view line, tables::Tables& t) { return quota::answer(line, t, *opts); });
  });
}
