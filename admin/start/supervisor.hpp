// The supervisor's loop: starts every slot of the plan, waits for their
// readiness bytes, announces the instance ready, restarts what exits
// (throttled by Backoff), reloads on SIGHUP and stops on SIGTERM/SIGINT.
//
// Single-threaded: SIGCHLD, SIGTERM, SIGINT and SIGHUP arrive on a
// signalfd (the caller blocks them first, see block_signals()), readiness
// pipes and timers on the same poll(2).
#pragma once
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "admin/start/backoff.hpp"
#include "admin/start/services.hpp"
#include "common/config.hpp"
#include "common/fd.hpp"
#include "common/shared_regions.hpp"

namespace sluice::start {

// Blocks the signals the supervisor reads from its signalfd. Call before
// the first child is spawned, so no signal is lost in between.
void block_signals();

struct Settings {
  std::string config_path;      // absolute; children get it as $SLUICE_CONFIG
  RunMode mode = RunMode::current_user;
  std::string single_user;
  std::string pid_file;
  Millis ready_timeout{30'000};
  Millis stop_timeout{10'000};
  bool batch = true;  // start.scheduling = "batch"
  BackoffPolicy backoff;
};

// Builds the plan again from a re-read configuration (SIGHUP).
using Planner = std::function<Result<Plan>(const Config&)>;

class Supervisor {
 public:
  // SOCKETS: listening sockets by name, made by sluice-start or inherited
  // from systemd (several fds may share a name). They stay open for the
  // supervisor's lifetime so restarted children get the same ones.
  Supervisor(Config cfg, Plan plan, Settings settings, std::map<std::string, std::vector<UniqueFd>> sockets,
             Planner planner);
  // Runs until stopped. Returns the exit status: 0 after SIGTERM/SIGINT,
  // 111 when a program did not become ready at startup.
  int run();

 private:
  using Clock = std::chrono::steady_clock;
  struct Slot {
    size_t service = 0;
    int index = 0;
    pid_t pid = 0;                 // 0: not running
    UniqueFd ready;
    bool is_ready = false;
    bool retired = false;          // pool shrunk by a reload, or draining after one: do not restart
    int region = -1;               // its region of the service's shared file, -1 none
    Clock::time_point started{};
    Clock::time_point start_at{};  // when not running: next start
    // Start of the current wait for readiness, across restarts: a program
    // that crashes at every start is as unready as one that hangs.
    std::optional<Clock::time_point> unready_since;
    Backoff backoff;
  };

  Config cfg_;
  Plan plan_;
  Settings settings_;
  std::map<std::string, std::vector<UniqueFd>> sockets_;
  Planner planner_;
  std::vector<Slot> slots_;
  std::map<size_t, shared::RegionFile> regions_;  // by service index
  UniqueFd sigfd_;
  bool announced_ = false;
  bool stopping_ = false;
  bool killed_ = false;
  int exit_code_ = 0;
  Clock::time_point stop_deadline_{};

  void add_slots(size_t service, int from, int to);
  void start_due(Clock::time_point now);
  void start_slot(Slot& s);
  void check_ready(Clock::time_point now);
  void check_startup(Clock::time_point now);
  void announce();
  void on_ready_fd(Slot& s);
  void on_signals();
  void reap();
  void on_exit(Slot& s, int status);
  void reload();
  void replace_for_reload(Slot& s);
  void release_region(Slot& s);
  void begin_stop(int code);
  void stop_tick(Clock::time_point now);
  int running() const;
  int poll_timeout_ms(Clock::time_point now) const;
  std::string account_of(const ServicePlan& sp) const;
};

}  // namespace sluice::start
