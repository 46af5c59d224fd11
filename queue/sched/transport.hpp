// The scheduler's side of a deliverer pool: up to MAX connections to the
// pool's listening socket (RUN_DIR/local.sock, RUN_DIR/remote.sock). A
// connection carries up to DEPTH jobs in flight: while its deliverer is busy
// the scheduler may send more, which the deliverer takes as one round
// (sluice-local shares its disk syncs among them); answers come back in the
// order the jobs went. A connection that dies takes its jobs with it; their
// recipients are then treated as temporarily failed, so a crashed deliverer
// costs a retry, never a recipient.
#pragma once
#include <deque>
#include <string>
#include <vector>

#include "common/deliver_proto.hpp"

namespace sluice::sched {

// A job handed to a deliverer and not yet answered.
struct InFlight {
  std::string qid;
  std::vector<size_t> rcpts;  // its recipient indexes
  long long sent_ms = 0;      // monotonic, when it went
};

struct Conn {
  int fd = -1;
  bool retire = false;          // close once nothing is in flight (reload)
  long sent = 0;                // jobs sent on this connection
  std::deque<InFlight> inflight;  // oldest first: the next answer is its
  bool busy() const { return !inflight.empty(); }
};

// The deliverer's answer for JOB.
struct Answer {
  InFlight job;
  std::vector<deliver::RcptResult> results;
};

class Transport {
 public:
  // The scheduler, not the deliverer, ends a connection after MAX_JOBS
  // jobs: a pool member leaves only between connections (after its
  // max_use), so no job is ever left unread in the socket of a process
  // that is exiting.
  Transport(std::string name, std::string socket_path, size_t max_conns, long max_jobs, size_t depth = 1)
      : name_(std::move(name)), path_(std::move(socket_path)), max_(max_conns), max_jobs_(max_jobs),
        depth_(depth < 1 ? 1 : depth) {}
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  const std::string& name() const { return name_; }
  void set_max(size_t n, long max_jobs, size_t depth = 1) {
    max_ = n, max_jobs_ = max_jobs, depth_ = depth < 1 ? 1 : depth;
  }
  // After a reload: idle connections close now, busy ones after their last
  // answer, so every deliverer restarts with the new configuration.
  void retire_all();
  // An idle connection that became readable: its deliverer went away.
  void drop(Conn& c) { close(c); }
  // The connection for the next job, null when every one is full. First a
  // busy one still below DEPTH whose oldest job went out recently (the job
  // joins its next round; a deliverer stuck on a slow job gets no more),
  // then an idle one, then a new connection while below MAX. ERROR is set
  // (and null returned) when the pool cannot be reached at all.
  Conn* pick(std::string& error);
  // Sends JOB with the message FD on C. False: C is closed and the job did
  // not go.
  bool send(Conn& c, const deliver::Job& job, int fd);
  // Every answer waiting on C (at least one: C was readable). A deliverer
  // that died, or answered nonsense, has C closed.
  std::vector<Answer> receive(Conn& c);
  // The jobs that were in flight on connections found dead since the last
  // call, each once: their recipients are to be deferred.
  std::vector<InFlight> take_lost() { return std::exchange(lost_, {}); }
  std::vector<Conn>& conns() { return conns_; }
  size_t busy_count() const;

 private:
  void close(Conn& c);
  std::string name_, path_;
  size_t max_;
  long max_jobs_;
  size_t depth_;
  std::vector<Conn> conns_;
  std::vector<InFlight> lost_;
};

}  // namespace sluice::sched
