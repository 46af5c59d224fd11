// sluice-sched's logic: picks up committed messages the moment their rename
// lands (inotify), hands their recipients to the local or remote deliverer
// pool, records each outcome in the queue file, retries temporary failures
// on a doubling backoff, and sends bounces, delay warnings and success
// reports. Single-threaded: one poll loop over inotify, signals and the
// deliverer connections; the disk work per event is small and sequential.
#pragma once
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/fd.hpp"
#include "common/tables.hpp"
#include "queue/sched/reports.hpp"
#include "queue/sched/transport.hpp"
#include "queue/store/queue.hpp"

namespace sluice::sched {

// Seconds to wait after the TRIES-th failed attempt: FIRST, doubling, at most MAX.
long long backoff(int tries, long long first, long long max);

class Scheduler {
 public:
  Scheduler(const Config& cfg, std::unique_ptr<tables::Tables> tables);
  // Runs until SIGTERM/SIGINT; SIGHUP re-reads the configuration. Returns an exit status.
  int run();

 private:
  struct Msg {
    std::string qid, path;
    long long next_try = 0;
    bool active = false;     // being attempted now
    bool gone = false;       // removed or held while active
    int jobs = 0;            // jobs in flight
    UniqueFd fd;             // O_RDWR, while active
    queue::Entry entry;      // as read at the start of the attempt
    std::map<size_t, std::string> last_error;  // recipient index -> last temporary reply
    struct Outcome {
      size_t index;
      dsn::RcptReport report;
      bool report_due;  // NOTIFY asks for it
    };
    std::vector<Outcome> failed, delivered;  // of this attempt, marked on disk in finish()
  };
  struct Waiting {
    std::string qid;
    std::vector<size_t> rcpts;
  };

  void apply_config(const Config& cfg);
  void scan();
  void add(const std::string& qid, const std::string& path, bool is_new);
  void forget(const std::string& qid);
  void handle_inotify();
  void due(long long now);
  void attempt(Msg& m, long long now);
  void dispatch(Transport& t);
  void reap(Transport& t);
  void fail_job(Msg& m, const std::vector<size_t>& rcpts, const Status& why);
  void results(Msg& m, const std::vector<deliver::RcptResult>& rs);
  void finish(Msg& m);
  void flush();
  Transport& transport_for(const std::string& name);

  Config cfg_;
  std::unique_ptr<tables::Tables> tables_;
  std::string qdir_;
  ReportContext reports_;
  long long retry_first_ = 300, retry_max_ = 3600, lifetime_ = 432000, bounce_lifetime_ = 432000;
  long long delay_warning_ = 14400, scan_interval_ = 300;
  UniqueFd inotify_, signals_;
  std::map<int, std::string> watches_;  // inotify wd -> directory
  std::map<std::string, Msg> msgs_;
  std::priority_queue<std::pair<long long, std::string>, std::vector<std::pair<long long, std::string>>,
                      std::greater<>> timers_;
  std::deque<std::string> ready_;
  std::unique_ptr<Transport> local_, remote_;
  std::map<std::string, std::deque<Waiting>> waiting_;  // transport name -> jobs waiting for a connection
  size_t active_ = 0;  // messages being attempted (each holds an fd)
  bool stopping_ = false;
};

}  // namespace sluice::sched
