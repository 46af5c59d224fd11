#include "common/accept_loop.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "common/log.hpp"

namespace sluice {

namespace {

// Threads are started as connections need them, up to MAX, and then kept:
// starting and ending a thread for every connection (a clone, a stack
// mapped and unmapped) cost more than the work on a short one, such as a
// message handed to sluice-injectd.
struct Pool {
  std::mutex mu;
  std::condition_variable work, room;
  std::deque<int> fds;
  int threads = 0, idle = 0, busy = 0;
};

}  // namespace

int serve_threads(int listener, int max_threads, const std::function<void(int)>& handle) {
  // Never freed: the loop only returns on a fatal accept error, and the
  // process then exits while threads may still hold the pool.
  auto* pool = new Pool;
  for (;;) {
    {
      std::unique_lock lk(pool->mu);
      pool->room.wait(lk, [&] { return pool->busy < max_threads; });
    }
    int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EMFILE || errno == ENFILE) ::usleep(100000);
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) continue;
      log::error({{"event", "accept_failed"}, {"error", strerror(errno)}});
      return 71;
    }
    std::lock_guard lk(pool->mu);
    pool->busy++;
    pool->fds.push_back(c);
    // An idle thread for every queued connection, or one more thread:
    // a connection never waits behind another while there is room.
    if (pool->idle >= static_cast<int>(pool->fds.size())) {
      pool->work.notify_one();
      continue;
    }
    pool->threads++;
    std::thread([pool, &handle] {
      std::unique_lock lk(pool->mu);
      for (;;) {
        pool->idle++;
        pool->work.wait(lk, [&] { return !pool->fds.empty(); });
        pool->idle--;
        int fd = pool->fds.front();
        pool->fds.pop_front();
        lk.unlock();
        handle(fd);
        lk.lock();
        pool->busy--;
        pool->room.notify_one();
      }
    }).detach();
  }
}

}  // namespace sluice
