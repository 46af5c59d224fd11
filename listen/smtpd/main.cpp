// sluice-smtpd: the ESMTP listener (RFC 5321 with PIPELINING, SIZE,
// 8BITMIME, ENHANCEDSTATUSCODES, DSN, SMTPUTF8, CHUNKING, STARTTLS, AUTH).
//
// Input:  the listening sockets sluice-start (or systemd) passes, named
//         smtp (MX port: greet pause, relay only for trusted networks and
//         authenticated users), submission (STARTTLS and AUTH required)
//         and submissions (implicit TLS, RFC 8314; AUTH required).
//         Configuration: smtpd.*, limits.*, tls.*.
// Output: each accepted message goes to sluice-injectd over
//         RUN_DIR/inject.sock with a Received line prepended, LF line
//         endings, or, when smtpd.filters is set, through that chain with
//         bin/sluice-inject appended (spawned per message, listen/smtpd/
//         chain.hpp); the client gets the injection's answer. Recipient and
//         password checks are questions to sluice-auth (RUN_DIR/auth.sock):
//         this program never reads password hashes, the queue or a mailbox.
//         Milters (smtpd.milters) are asked at every stage over their own
//         sockets and may refuse or edit the message (milter.hpp).
//         Logs: event=session_end per session, event=accepted per message
//         (qid, size, sender, recipients, TLS, auth), event=refused per
//         refusal with the gate's name.
// Privileges: started under accounts.smtpd by sluice-start, which binds the
//         ports as root first; reads tls.key (group accounts.smtpd).
// One process is one worker: a single-threaded event loop, a coroutine per
// session; sluice-start runs smtpd.workers of them on the same sockets.
// Exit: 0 after SIGTERM, or after SIGHUP once its sessions are done (so a
//       fresh worker reads the new configuration); 64 usage; 71 a listener
//       cannot be used; 78 bad configuration or no listener.
#include <sys/resource.h>

#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <string_view>

#include "common/config.hpp"
#include "common/daemon.hpp"
#include "common/log.hpp"
#include "listen/smtpd/server.hpp"

using namespace sluice;

int main(int argc, char** argv) {
  log::init("sluice-smtpd");
  std::signal(SIGPIPE, SIG_IGN);
  const char* cfg_arg = nullptr;
  if (!daemon::parse_config_option(argc, argv, "usage: sluice-smtpd [-c FILE] (run by sluice-start)", cfg_arg)) return 64;
  // Thousands of sessions need as many descriptors: the soft limit goes up
  // to the hard one (the admin's ceiling).
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  auto listeners = daemon::inherited_listeners();
  std::string cfg_path = find_config_path(cfg_arg);
  auto cfg = Config::load(cfg_path);
  if (!cfg) {
    log::error({{"event", "config_error"}, {"error", cfg.error().text}});
    return 78;
  }
  if (cfg->str("log.level") == "debug") log::set_min_level(log::Level::debug);
  auto settings = smtpd::load_settings(*cfg);
  if (!settings) {
    log::error({{"event", "config_error"}, {"error", settings.error().text}});
    return 78;
  }
  // The filter chain's sluice-inject reads the same configuration.
  ::setenv("SLUICE_CONFIG", cfg_path.c_str(), 1);
  ::setenv("SLUICE_INJECT_REPORT_QID", "1", 1);
  auto tls = smtpd::make_tls_contexts(cfg->path("tls.cert"), cfg->path("tls.key"), cfg->map("tls.sni"), cfg->root());
  return smtpd::serve(listeners, *settings, tls->main.get());
}
