// sluice-injectd's work: one submission per connection (queue/store/
// submit.hpp), committed with the code sluice-inject uses. A thread per
// connection, bounded: a commit waits on fsync, and concurrent commits in
// the 16 queue directories share the disk's flushes (group commit).
#pragma once
#include <string>
#include <sys/types.h>

namespace sluice::injectd {

struct Settings {
  std::string qdir;
  long long min_free = 0;
  long long max_message = 0;  // limits.message_size
  uid_t trusted_uid = 0;      // besides root: may state auth user, client address, HELO (sluice-smtpd)
};

// Serves one connection FD (closed on return): reads the request, commits,
// writes the reply line. Logs event=queued with the qid and the peer's uid.
void serve_connection(int fd, const Settings& s);

// Accepts on LISTENER forever, at most MAX_THREADS connections at once.
// Returns an exit status when accept fails for good.
int serve(int listener, const Settings& s, int max_threads);

}  // namespace sluice::injectd
