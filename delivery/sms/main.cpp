// sluice-sms: the SMS notifier.
//
// SYNOPSIS
//   sluice-sms [-c FILE]
//
// DESCRIPTION
//   Drains the notify spool QUEUE_DIR/notify/new/ (requests written by
//   sluice-local after a delivery, and by `sluice sms send`): decodes the
//   From and Subject headers (RFC 2047), applies the user's rule, quiet
//   hours and daily cap carried in the request, composes "From: name <addr>
//   Subj: subject", encodes it (GSM 03.38 7-bit, else UCS-2; concatenated
//   parts up to sms.max_parts) and sends it through the transport of
//   sms.transport: SMPP 3.4 to an SMS centre, or an HTTP gateway.
//   docs/sluice-sms.md is the manual.
//
// INPUTS AND OUTPUTS
//   The configuration from -c FILE, $SLUICE_CONFIG or /etc/sluice/sluice.toml;
//   the spool files. Removes a request once the SMS centre or gateway has
//   accepted it (or it expired, is not wanted, or was refused for good);
//   keeps the daily counts in QUEUE_DIR/notify/state/. One key=value log
//   line per event on stderr, with the mail's queue id.
//
// PRIVILEGES
//   Runs as accounts.sms (sluice-sms); started as root it drops to it before
//   reading anything. Through the group sluice-notify it reads and removes
//   spool files; it opens no table, no mailbox and no queue file.
//
// EXIT STATUS
//   0 stopped by SIGTERM/SIGINT (after unbinding); 64 usage error;
//   78 bad configuration or account.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <string_view>

#include "common/config.hpp"
#include "common/daemon.hpp"
#include "common/log.hpp"
#include "delivery/sms/drain.hpp"
#include "delivery/sms/transport.hpp"

using namespace sluice;

namespace {

volatile sig_atomic_t g_stop = 0;

void on_stop(int) { g_stop = 1; }

// Without SA_RESTART, so a wait on the SMSC ends at once on SIGTERM.
void install_signals() {
  struct sigaction sa = {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int config_error(const std::string& text) {
  log::error({{"event", "config_error"}, {"error", text}});
  return 78;
}

}  // namespace

int main(int argc, char** argv) {
  for (int fd = 0; fd < 3; fd++)
    if (::fcntl(fd, F_GETFD) < 0) ::open("/dev/null", O_RDWR);
  log::init("sluice-sms");
  ::umask(007);  // state files stay within the notify group
  const char* cfg_arg = nullptr;
  if (!daemon::parse_config_option(argc, argv, "usage: sluice-sms [-c FILE]", cfg_arg)) return 64;
  auto cfg = Config::load(find_config_path(cfg_arg));
  if (!cfg) return config_error(cfg.error().text);
  if (Status st = daemon::drop_privileges(cfg->str("accounts.sms")); !st.is_ok()) return config_error(st.text);
  auto opts = sms::DrainOptions::from_config(*cfg);
  if (!opts) return config_error(opts.error().text);
  auto transport = sms::make_transport(*cfg);
  if (!transport) return config_error(transport.error().text);
  install_signals();
  sms::Drainer drainer(*opts, **transport, [] { return time(nullptr); });
  long long scan = cfg->seconds("sms.scan_interval");
  int scan_ms = static_cast<int>(scan < 1 ? 1000 : scan > 3600 ? 3600000 : scan * 1000);
  log::info({{"event", "start"}, {"transport", cfg->str("sms.transport")}, {"spool", opts->spool}});
  daemon::signal_ready();
  while (!g_stop) {
    drainer.pass();
    if (!g_stop) (*transport)->idle(scan_ms);
  }
  (*transport)->close();
  log::info({{"event", "stop"}});
  return 0;
}
