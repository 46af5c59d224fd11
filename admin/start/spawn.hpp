// Starting one supervised program: the only code that runs between fork
// and exec, where a child gets its sockets, its readiness pipe and its
// account.
#pragma once
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "common/fd.hpp"
#include "common/status.hpp"

namespace sluice::start {

struct SpawnRequest {
  std::string name;                                   // for log lines
  std::string program;                                // absolute path
  std::string account;                                // empty: stay who we are
  std::vector<std::pair<std::string, int>> sockets;   // LISTEN_FDNAMES name, fd here
  std::string config_path;                            // becomes $SLUICE_CONFIG
  int shared_fd = -1;                                 // the service's shared memory file, or -1
  int shared_region = -1;                             // this process's region in it
  bool batch = false;                                 // run under SCHED_BATCH
};

struct Spawned {
  pid_t pid = -1;
  UniqueFd ready;  // read end of the readiness pipe: one byte when ready
};

// Forks and execs REQ. In the child: sockets on fd 3.. with LISTEN_FDS,
// LISTEN_PID and LISTEN_FDNAMES; the readiness pipe on the next fd, named
// by SLUICE_READY_FD; the shared memory file after it, if any, named by
// SLUICE_SHARED_FD with the process's region in SLUICE_SHARED_REGION; stdin /dev/null, stdout onto stderr (one log
// stream); every other fd closed; signal mask and SIGPIPE reset;
// NOTIFY_SOCKET removed (only sluice-start tells systemd it is ready);
// SCHED_BATCH when BATCH; privileges dropped to ACCOUNT; PR_SET_PDEATHSIG so a SIGKILLed
// sluice-start leaves no program behind. A failure in the child is logged
// and ends it with status 111, which the supervisor sees as a crash.
Result<Spawned> spawn(const SpawnRequest& req);

}  // namespace sluice::start
