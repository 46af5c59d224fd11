#include "listen/auth/server.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <thread>

#include "common/fd.hpp"
#include "common/log.hpp"

namespace sluice::auth {
namespace {

void serve_connection(int fd_in, const Config& cfg, Bans& bans, const Settings& s) {
  UniqueFd fd(fd_in);
  struct timeval tv {30, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto tables = tables::open_tables(cfg);
  std::string buf;
  char chunk[1024];
  for (;;) {
    size_t nl;
    while ((nl = buf.find('\n')) == std::string::npos) {
      if (buf.size() > 4096) return;  // not our protocol
      ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      buf.append(chunk, static_cast<size_t>(n));
    }
    std::string line = buf.substr(0, nl);
    buf.erase(0, nl + 1);
    std::string out = tables ? answer(line, **tables, bans, s, ::time(nullptr)) : "temp " + tables.error().text;
    if (out.rfind("temp ", 0) == 0) log::warn({{"event", "lookup_failed"}, {"error", out.substr(5)}});
    if (!write_all(fd.get(), out + "\n")) return;
  }
}

}  // namespace

int serve(int listener, const Config& cfg, Bans& bans, const Settings& s, int max_threads) {
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
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
        if (errno == EMFILE || errno == ENFILE) ::usleep(100000);
        continue;
      }
      log::error({{"event", "accept_failed"}, {"error", strerror(errno)}});
      return 71;
    }
    {
      std::lock_guard lk(mu);
      running++;
    }
    std::thread([c, &cfg, &bans, &s, &mu, &cv, &running] {
      serve_connection(c, cfg, bans, s);
      std::lock_guard lk(mu);
      running--;
      cv.notify_one();
    }).detach();
  }
}

}  // namespace sluice::auth
