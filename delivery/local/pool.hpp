// A pool member's loop: one connection at a time from the listener the
// supervisor passed, jobs served on it in rounds (deliver::serve_rounds).
#pragma once
#include "common/deliver_proto.hpp"

namespace sluice::local {

// Accepts on LISTENER and serves each connection until the peer closes it,
// up to MAX_ROUND waiting jobs (MAX_BYTES of messages) at a time as one
// round; returns 0 after MAX_USE jobs in all, or at the end of the
// connection in hand after a SIGHUP (the caller exits, the supervisor starts
// a fresh process), 71 when accept fails, 81 on a malformed job.
int run_pool(int listener, const deliver::RoundHandler& h, size_t max_round, long long max_bytes,
             long long max_use);

}  // namespace sluice::local
