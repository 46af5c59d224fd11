// Restart throttling for one supervised process (one slot of a service).
//
// A program that dies soon after its start is probably failing at
// initialisation (bad config, missing file); restarting it at once would
// spin. It waits 1 s, then 2, 4, ... up to 60 s before each new start. A
// program that ran a long time, or exited cleanly after it was ready (a
// pool member leaving after its maximum number of jobs), restarts at once.
#pragma once
#include <chrono>

namespace sluice::start {

using Millis = std::chrono::milliseconds;

struct BackoffPolicy {
  Millis min_run{10'000};  // dying sooner than this counts as a failed start
  Millis first{1'000};
  Millis max{60'000};
};

class Backoff {
 public:
  Backoff() : Backoff(BackoffPolicy{}) {}
  explicit Backoff(BackoffPolicy p) : policy_(p), next_(p.first) {}

  // The process exited after running RAN. CLEAN: exit status 0 after it
  // signalled readiness. Returns the wait before the next start.
  Millis on_exit(Millis ran, bool clean);

  Millis next_delay() const { return next_; }

 private:
  BackoffPolicy policy_;
  Millis next_;
};

}  // namespace sluice::start
