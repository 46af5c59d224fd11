// What every long-running program shares with sluice-start (and systemd):
// readiness, inherited listening sockets, and the one place where a
// program gives up root.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <optional>

#include "common/config.hpp"
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

// The long-running programs take one option, -c FILE. False (USAGE printed
// on stderr, exit 64 then) for anything else; CFG_ARG stays null without -c.
bool parse_config_option(int argc, char** argv, const char* usage, const char*& cfg_arg);
// -c FILE among other options (the deliverers' shell mode); null when absent.
const char* find_config_option(int argc, char** argv);
// Loads the configuration named by CFG_ARG (-c), else $SLUICE_CONFIG or the
// default (find_config_path); on failure logs event=config_error and
// returns nothing, and the program exits 78.
std::optional<Config> load_config(const char* cfg_arg);
// fds 0-2 must exist, so that nothing opened later lands on them by accident.
void ensure_std_fds();
// The one listener NAME from inherited_listeners(); -1, logged, when the
// program was not started by sluice-start (or systemd) with it.
int listener_named(const std::map<std::string, std::vector<int>>& listeners, const std::string& name);

// Drops to ACCOUNT (its uid, gid and supplementary groups) when running as
// root; refuses to continue as root when ACCOUNT does not exist. When not
// root, does nothing: development and tests run as one user.
Status drop_privileges(const std::string& account);

}  // namespace sluice::daemon
