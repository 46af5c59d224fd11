#include "admin/start/backoff.hpp"

#include <algorithm>

namespace sluice::start {

Millis Backoff::on_exit(Millis ran, bool clean) {
  bool long_run = ran >= policy_.min_run;
  if (long_run) {
    // It worked for a while: whatever ended it, the next start is a fresh
    // attempt, and an earlier series of failures is forgotten.
    next_ = policy_.first;
    return Millis{0};
  }
  if (clean) {
    // A pool member that did its jobs quickly under load and left: no
    // reason to slow the pool down. The failure series is not reset, so a
    // crash loop that sometimes exits 0 still backs off.
    return Millis{0};
  }
  Millis wait = next_;
  next_ = std::min(next_ * 2, policy_.max);
  return wait;
}

}  // namespace sluice::start
