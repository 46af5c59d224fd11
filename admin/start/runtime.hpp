// The files sluice-start keeps in RUN_DIR: the instance lock, the pool
// sockets and the pid file that says the instance is ready.
#pragma once
#include <sys/socket.h>
#include <optional>
#include <string>
#include <vector>

#include "admin/start/services.hpp"
#include "common/fd.hpp"
#include "common/status.hpp"

namespace sluice::start {

// Takes RUN_DIR/sluice-start.lock (flock, held until exit). An error when
// another sluice-start of the instance holds it (Status::temp) or the file
// cannot be opened (Status::perm).
Result<UniqueFd> lock_instance(const std::string& run_dir);

// A listening SOCK_SEQPACKET socket at PATH (a stale file there is
// replaced: the lock says no other sluice-start owns it), mode 0600, owned
// by OWNER when given (root only).
Result<UniqueFd> make_unix_listener(const std::string& path, std::optional<Account> owner,
                                    int type = SOCK_SEQPACKET, int mode = 0600);

// Listening TCP sockets for ADDRESS: "host:port", "[v6addr]:port", or
// ":port" / "*:port" for every address (one IPv6 socket with IPv4 mapped
// off, plus one IPv4 socket). Numeric hosts and names both work; a name
// may give several sockets. SO_REUSEADDR, backlog SOMAXCONN.
Result<std::vector<UniqueFd>> make_tcp_listeners(const std::string& address);

// RUN_DIR/sluice-start.pid: our pid and a newline, written atomically.
bool write_pid_file(const std::string& path);

// getpwnam as a LookupFn.
std::optional<Account> lookup_account(const std::string& name);

}  // namespace sluice::start
