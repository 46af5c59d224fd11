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
  std::string qid;                 // the job in flight
  std::vector<size_t> rcpts;       // its recipient indexes
};

class Transport {
 public:
  Transport(std::string name, std::string socket_path, size_t max_conns)
      : name_(std::move(name)), path_(std::move(socket_path)), max_(max_conns) {}
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  const std::string& name() const { return name_; }
  void set_max(size_t n) { max_ = n; }
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
  std::vector<Conn> conns_;
};

}  // namespace sluice::sched
