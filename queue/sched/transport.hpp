// The scheduler's side of a deliverer pool: up to MAX connections to the
// pool's listening socket (RUN_DIR/local.sock, RUN_DIR/remote.sock), one job
// in flight per connection. A connection that dies takes its job with it;
// the job's recipients are then treated as temporarily failed, so a crashed
// deliverer costs a retry, never a recipient.
#pragma once
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "common/deliver_proto.hpp"

namespace sluice::sched {

struct Conn {
  int fd = -1;
  bool busy = false;
  bool retire = false;             // close after the job in flight (reload)
  long jobs = 0;                   // answered on this connection
  std::string qid;                 // the job in flight
  std::vector<size_t> rcpts;       // its recipient indexes
};

class Transport {
 public:
  // The scheduler, not the deliverer, ends a connection after MAX_JOBS
  // answers: a pool member leaves only between connections (after its
  // max_use), so no job is ever left unread in the socket of a process
  // that is exiting.
  Transport(std::string name, std::string socket_path, size_t max_conns, long max_jobs)
      : name_(std::move(name)), path_(std::move(socket_path)), max_(max_conns), max_jobs_(max_jobs) {}
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  const std::string& name() const { return name_; }
  void set_max(size_t n, long max_jobs) { max_ = n, max_jobs_ = max_jobs; }
  // After a reload: idle connections close now, busy ones after their
  // answer, so every deliverer restarts with the new configuration.
  void retire_all();
  // An idle connection that became readable: its deliverer went away.
  void drop(Conn& c) { close(c); }
  // A free connection, connecting a new one when below the limit; null when
  // all are busy. ERROR is set (and null returned) when the pool cannot be
  // reached at all.
  Conn* idle(std::string& error);
  // Sends JOB with the message FD on C. False: C is closed, the job did not go.
  bool send(Conn& c, const deliver::Job& job, int fd);
  // Reads C's answer. nullopt: the deliverer died (C is closed).
  std::optional<std::vector<deliver::RcptResult>> receive(Conn& c);
  std::vector<Conn>& conns() { return conns_; }
  size_t busy_count() const;

 private:
  void close(Conn& c);
  std::string name_, path_;
  size_t max_;
  long max_jobs_;
  std::vector<Conn> conns_;
};

}  // namespace sluice::sched
