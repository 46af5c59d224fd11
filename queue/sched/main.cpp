// sluice-sched: owns the queue. Picks up every committed message at once
// (inotify on the queue's msg/ directories; a rescan every
// queue.scan_interval as a safety net), hands its recipients to the local or
// remote deliverer pool, records each recipient's outcome in the queue file,
// retries temporary failures (queue.retry_first, doubling up to
// queue.retry_max, for queue.lifetime), and queues RFC 3464 bounces, delay
// warnings and success reports.
//
// Input:  queue.dir (docs/queue.md); the deliverer pools at RUN_DIR/local.sock
//         and RUN_DIR/remote.sock (started by sluice-start); the domains table.
// Output: marks in queue files, reports injected into the queue, one log line
//         per event on stderr (qid= on every line about a message).
// Privileges: runs as the queue account (sluice-q), started by sluice-start;
//         reads the tables only to tell local domains from remote ones.
// Signals: SIGTERM/SIGINT finish the deliveries in flight (10 s at most) and
//         exit 0; SIGHUP re-reads the configuration.
// Exit: 0 after SIGTERM; 78 bad configuration; 111 cannot watch or read the
//       queue (sluice-start restarts it).
#include <csignal>
#include <cstdio>
#include <string_view>

#include "common/config.hpp"
#include "common/daemon.hpp"
#include "common/log.hpp"
#include "common/tables.hpp"
#include "queue/sched/scheduler.hpp"

using namespace sluice;

int main(int argc, char** argv) {
  log::init("sluice-sched");
  std::signal(SIGPIPE, SIG_IGN);
  const char* cfg_arg = nullptr;
  if (!daemon::parse_config_option(argc, argv, "usage: sluice-sched [-c FILE]", cfg_arg)) return 64;
  try {
    auto cfg = daemon::load_config(cfg_arg);
    if (!cfg) return 78;
    auto tables = tables::open_tables(*cfg);
    if (!tables) {
      log::error({{"event", "tables_error"}, {"error", tables.error().text}});
      return 111;
    }
    sched::Scheduler s(*cfg, std::move(*tables));
    return s.run();
  } catch (const std::exception& e) {
    log::error({{"event", "internal_error"}, {"error", e.what()}});
    return 111;
  }
}
