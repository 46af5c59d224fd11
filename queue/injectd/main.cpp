// sluice-injectd: the persistent path into the queue. Clients (sendmail,
// and sluice-smtpd) hand it messages over RUN_DIR/inject.sock with the
// protocol of queue/store/submit.hpp instead of starting sluice-inject for
// each one; it commits them with the same code (queue/store) under the same
// account, so the privilege split is unchanged and a script pays one exec
// (its own sendmail) per message instead of two.
//
// Input:  connections on the "inject" listener that sluice-start passes
//         (LISTEN_FDS; the socket is 0666: any local user may queue mail,
//         as with the setgid sluice-inject). The peer's uid comes from
//         SO_PEERCRED and is recorded; only root and the sluice-smtpd
//         account may state an authenticated user, client address or HELO.
// Output: committed queue files; one reply line per connection; a log line
//         event=queued qid=... per message.
// Privileges: the queue account (sluice-q); no other access.
// Exit: 71 accept failed; 78 bad configuration or no listener (it is run by
//       sluice-start); SIGTERM ends it (a commit in progress is simply not
//       answered, and the client says "try again").
#include <pwd.h>

#include <csignal>
#include <cstdio>
#include <string_view>

#include "common/config.hpp"
#include "common/daemon.hpp"
#include "common/log.hpp"
#include "queue/injectd/server.hpp"

using namespace sluice;

int main(int argc, char** argv) {
  log::init("sluice-injectd");
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGHUP, SIG_IGN);  // nothing to reload that a restart would not
  const char* cfg_arg = nullptr;
  if (!daemon::parse_config_option(argc, argv, "usage: sluice-injectd [-c FILE] (run by sluice-start)", cfg_arg)) return 64;
  auto listeners = daemon::inherited_listeners();
  auto cfg = daemon::load_config(cfg_arg);
  if (!cfg) return 78;
  int listener = daemon::listener_named(listeners, "inject");
  if (listener < 0) return 78;
  injectd::Settings s;
  s.qdir = cfg->path("queue.dir");
  s.min_free = cfg->bytes("queue.min_free");
  s.max_message = cfg->bytes("limits.message_size");
  struct passwd* pw = ::getpwnam(cfg->str("accounts.smtpd").c_str());
  s.trusted_uid = pw ? pw->pw_uid : 0;
  daemon::signal_ready();
  return injectd::serve(listener, s, 256);
}
