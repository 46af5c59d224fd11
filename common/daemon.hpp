// What every long-running program shares with sluice-start (and systemd):
// readiness, inherited listening sockets, and the one place where a
// program gives up root.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "common/status.hpp"

namespace sluice::daemon {

// Tells the supervisor this program is initialised: writes one byte to the
// fd named by $SLUICE_READY_FD and closes it, and sends READY=1 to
// $NOTIFY_SOCKET when systemd started us. Safe to call when neither is set.
void signal_ready();

// Listening sockets inherited by socket activation ($LISTEN_FDS,
// $LISTEN_PID, $LISTEN_FDNAMES, as systemd and sluice-start pass them),
// grouped by name ("smtp", "submission", "submissions", "pop3", "pop3s").
// Clears the variables so children do not inherit them.
std::map<std::string, std::vector<int>> inherited_listeners();

// Drops to ACCOUNT (its uid, gid and supplementary groups) when running as
// root; refuses to continue as root when ACCOUNT does not exist. When not
// root, does nothing: development and tests run as one user.
Status drop_privileges(const std::string& account);

}  // namespace sluice::daemon
