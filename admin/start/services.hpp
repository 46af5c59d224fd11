// The service table of sluice-start: which long-running programs make an
// instance, under which account, how many of each, and which listening
// sockets each inherits. One row per program, in code, like Postfix's
// master.cf but not an operator's file: the operator tunes counts and
// accounts in sluice.toml.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <sys/types.h>
#include <vector>

#include "common/config.hpp"
#include "common/status.hpp"

namespace sluice::start {

// A listening socket sluice-start creates in RUN_DIR before any program
// starts, so a client that connects early waits in the backlog instead of
// failing. SOCK_SEQPACKET: one job message is one record.
struct SocketDef {
  const char* name;         // LISTEN_FDNAMES name, "local"
  const char* file;         // in RUN_DIR, "local.sock"
  const char* owner_key;    // account that connects (the socket is chowned to it)
  int type = SOCK_SEQPACKET;
  int mode = 0600;          // 0666 where any local user may connect (inject.sock)
};

struct ServiceDef {
  const char* name;                      // program file beside sluice-start
  const char* account_key;               // "accounts.mbox"
  const char* count_key;                 // integer key, or nullptr for one process
  std::vector<const char*> listeners;    // SocketDef or socket-activation names
  bool optional;                         // started only when the program exists
  // Started only when one of these string keys is set (non-empty); empty:
  // always. sluice-sms runs only where SMS is configured.
  std::vector<const char*> when_any_set = {};
  // Each process gets a region of one shared memory file of its service
  // (common/shared_regions.hpp), cleared when the process ends.
  bool shared_regions = false;
  // On reload the old process drains in the background (it stops taking
  // new work and exits when done) while a fresh one takes its place at
  // once, so a listener never stops accepting.
  bool replace_on_reload = false;
};

const std::vector<SocketDef>& socket_table();
const std::vector<ServiceDef>& service_table();
const SocketDef* find_socket(const std::string& name);

// The socket-activation names sluice-start accepts from systemd and keeps
// for the listener services.
const std::vector<std::string>& activation_names();

// The config key listing the host:port addresses sluice-start binds for a
// socket-activation name when systemd did not pass it ("smtp" ->
// "smtpd.listen"); nullptr for names it never binds itself.
const char* listen_key(const std::string& name);

// A row resolved against the configuration: what will actually run.
struct ServicePlan {
  std::string name;
  std::string program;                 // absolute path
  std::string account;                 // account name from the config
  int count = 1;
  std::vector<std::string> listeners;  // socket names, in fd order (3, 4, ...)
  bool shared_regions = false;
  bool replace_on_reload = false;
};

struct Plan {
  std::vector<ServicePlan> services;
  std::vector<std::string> absent;     // optional programs not installed (program paths)
};

using ExistsFn = std::function<bool(const std::string& path)>;

// Resolves TABLE against CFG: program paths in BIN_DIR, accounts, counts.
// A missing mandatory program or a count below 1 is an error.
Result<Plan> make_plan(const std::vector<ServiceDef>& table, const Config& cfg, const std::string& bin_dir,
                       const ExistsFn& exists);

// start.scheduling asks for SCHED_BATCH (make_plan refuses any value but
// "batch" and "normal").
bool batch_scheduling(const Config& cfg);

// Who the programs run as.
enum class RunMode {
  accounts,      // root: each program under its own account
  single_user,   // root with --single-user NAME: everything as NAME
  current_user,  // not root: everything as the invoking user
};

struct Account {
  uid_t uid;
  gid_t gid;
};
using LookupFn = std::function<std::optional<Account>(const std::string& name)>;

// The account each program (and each socket's owner) runs as in MODE;
// an error names the first account that is missing or is root. The error
// text is what the operator reads, so it says what to do.
Status check_accounts(const Plan& plan, const Config& cfg, RunMode mode, const std::string& single_user,
                      const LookupFn& lookup);

// The account a program or socket owner runs as: the configured one in
// accounts mode, SINGLE_USER otherwise (empty for current_user: no change).
std::string effective_account(RunMode mode, const std::string& configured, const std::string& single_user);

}  // namespace sluice::start
