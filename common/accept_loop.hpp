// The accept loop of the small UNIX-socket services (sluice-injectd,
// sluice-auth, sluice-quota): a thread per connection, at most MAX_THREADS
// at once, so a slow client (a password hash, an fsync) never holds up the
// others. Threads are kept for the next connections once started.
#pragma once
#include <functional>

namespace sluice {

// Accepts on LISTENER for ever and runs HANDLE(fd) in a thread for each
// connection (HANDLE owns and closes fd). Returns 71 when accept fails for
// good; descriptor exhaustion only pauses it.
int serve_threads(int listener, int max_threads, const std::function<void(int)>& handle);

}  // namespace sluice
