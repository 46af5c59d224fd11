#include "common/accept_loop.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "common/log.hpp"

namespace sluice {

int serve_threads(int listener, int max_threads, const std::function<void(int)>& handle) {
  std::mutex mu;
  std::condition_variable cv;
  int running = 0;
  for (;;) {
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return running < max_threads; });
    }
    int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EMFILE || errno == ENFILE) ::usleep(100000);
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) continue;
      log::error({{"event", "accept_failed"}, {"error", strerror(errno)}});
      return 71;
    }
    {
      std::lock_guard lk(mu);
      running++;
    }
    // The loop never returns while threads run (it only returns on a fatal
    // accept error, and the process then exits), so the captures stay valid.
    std::thread([c, &handle, &mu, &cv, &running] {
      handle(c);
      std::lock_guard lk(mu);
      running--;
      cv.notify_one();
    }).detach();
  }
}

}  // namespace sluice
