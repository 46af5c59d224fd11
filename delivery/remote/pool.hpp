// A sluice-remote pool member's loop (as delivery/local/pool.hpp), which
// also closes cached SMTP sessions once idle for remote.cache_idle, while
// it waits for a connection or a job.
#pragma once
#include "delivery/remote/remote.hpp"

namespace sluice::remote {

// Returns 0 after MAX_USE jobs or a SIGHUP (between connections), 71 when
// accept fails, 81 on a malformed job.
int run_pool(int listener, Deliverer& d, long long max_use);

}  // namespace sluice::remote
