// sluice-auth's socket loop: a thread per connection (bounded), each with
// its own table handle, answering lines with auth::answer.
#pragma once
#include "common/config.hpp"
#include "listen/auth/auth.hpp"

namespace sluice::auth {

// Accepts on LISTENER until accept fails for good; returns an exit status.
int serve(int listener, const Config& cfg, Bans& bans, const Settings& s, int max_threads);

}  // namespace sluice::auth
