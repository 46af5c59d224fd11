// From the command line to a running supervisor: options, configuration,
// accounts, RUN_DIR, lock, sockets. main() is this plus exit statuses.
#pragma once
#include <string>
#include <vector>

namespace sluice::start {

// Exit statuses of sluice-start (documented in main.cpp and docs).
enum Exit {
  kExitStopped = 0,      // stopped by SIGTERM or SIGINT
  kExitUsage = 64,       // bad command line (EX_USAGE)
  kExitRunning = 75,     // another sluice-start runs this instance (EX_TEMPFAIL)
  kExitConfig = 78,      // config unreadable or invalid, accounts missing (EX_CONFIG)
  kExitFailed = 111,     // could not start: a program not ready in time, RUN_DIR or a socket
};

struct Options {
  std::string config;       // -c FILE, or DIR/etc/sluice.toml
  std::string single_user;  // --single-user NAME
  bool help = false;
};

// Parses ARGS (without argv[0]). Error text on failure.
bool parse_options(const std::vector<std::string>& args, Options& out, std::string& error);

extern const char* const kUsage;

// Everything after option parsing. Returns the exit status.
int run_instance(const Options& opt);

}  // namespace sluice::start
