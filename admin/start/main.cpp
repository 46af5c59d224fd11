// sluice-start — the supervisor of a sluice instance.
//
// SYNOPSIS
//   sluice-start [-c FILE | DIR] [--single-user NAME]
//
// DESCRIPTION
//   Reads the configuration (-c FILE; DIR means DIR/etc/sluice.toml; else
//   $SLUICE_CONFIG; else /etc/sluice/sluice.toml), creates RUN_DIR and the
//   deliverer pools' listening sockets (RUN_DIR/local.sock, and
//   RUN_DIR/remote.sock once sluice-remote is installed), and starts the
//   long-running programs of the service table (services.cpp), found beside
//   its own executable: sluice-sched, queue.local_concurrency sluice-local,
//   queue.remote_concurrency sluice-remote (when present). Each program
//   gets its sockets on fd 3.. (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES),
//   a readiness pipe ($SLUICE_READY_FD) and $SLUICE_CONFIG, and runs
//   under SCHED_BATCH unless start.scheduling = "normal". When all have
//   written their ready byte, logs event=ready, writes RUN_DIR/sluice-start.pid
//   and tells systemd (NOTIFY_SOCKET). Then it only waits: a program that
//   exits is restarted (event=restart), at once after a long run or a clean
//   exit, else after 1 s, 2 s, 4 s ... up to 60 s.
//   Runs in the foreground; logs on stderr, and the programs' stderr is the
//   same stream, for multilog or journald.
//
// SIGNALS
//   SIGTERM, SIGINT: SIGTERM to every program, SIGKILL to those left after
//   start.stop_timeout (10 s), remove the pid file, exit 0.
//   SIGHUP: re-read the configuration (on error keep the old one and log),
//   resize the pools, send SIGHUP to every ready program.
//
// SOCKET ACTIVATION
//   Sockets inherited from systemd named smtp, submission, submissions,
//   pop3, pop3s are kept for the listener programs of the service table.
//
// SECURITY
//   Started as root: each program runs under its account (accounts.* keys;
//   initgroups, setgid, setuid before exec, checked irrevocable); refuses
//   to start when an account is missing. --single-user NAME runs every
//   program as NAME (never root). Not root: everything runs as the
//   invoking user (event=single_user). sluice-start itself stays root only
//   to restart programs under their accounts; it reads no untrusted input.
//   A lock on RUN_DIR/sluice-start.lock keeps a second supervisor out.
//
// EXIT STATUS
//   0    stopped by SIGTERM or SIGINT
//   64   bad command line
//   75   another sluice-start runs this instance
//   78   configuration unreadable or invalid, a program missing, an account
//        missing or root, --single-user refused
//   111  could not start: RUN_DIR or a socket could not be made, or a
//        program did not become ready within start.ready_timeout (30 s)
#include <cstdio>
#include <string>
#include <vector>

#include "admin/start/instance.hpp"
#include "common/log.hpp"

int main(int argc, char** argv) {
  using namespace sluice::start;
  sluice::log::init("sluice-start");
  Options opt;
  std::string error;
  if (!parse_options(std::vector<std::string>(argv + 1, argv + argc), opt, error)) {
    fprintf(stderr, "sluice-start: %s\n%s", error.c_str(), kUsage);
    return kExitUsage;
  }
  if (opt.help) {
    fputs(kUsage, stdout);
    return 0;
  }
  return run_instance(opt);
}
