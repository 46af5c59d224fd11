#include "delivery/remote/pool.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "common/log.hpp"

namespace sluice::remote {
namespace {

volatile sig_atomic_t g_reload = 0;
void on_hup(int) { g_reload = 1; }

// Waits for FD to be readable, closing idle cached sessions meanwhile.
// False when interrupted by a signal (the caller checks g_reload).
bool wait_readable(int fd, Deliverer& d) {
  for (;;) {
    long long next = d.expire_cache();
    struct pollfd p {fd, POLLIN, 0};
    int n = ::poll(&p, 1, next < 0 ? -1 : static_cast<int>(next + 1));
    if (n > 0) return true;
    if (n < 0 && errno == EINTR) return false;
  }
}

// Jobs on one scheduler connection until it closes. Returns 0, or 81.
int serve(int conn, Deliverer& d, long long& done) {
  std::string packet;
  for (;;) {
    if (!wait_readable(conn, d) && g_reload) continue;  // finish this connection first
    int fd = -1;
    if (!deliver::recv_packet(conn, packet, &fd)) return 0;
    UniqueFd msg(fd);
    auto job = deliver::decode_job(packet);
    if (!job) {
      log::error({{"event", "bad_job"}, {"error", job.error().text}});
      return 81;
    }
    done++;
    auto results = d.deliver(*job, msg.get());
    if (!deliver::send_packet(conn, deliver::encode_results(results))) return 0;
  }
}

}  // namespace

int run_pool(int listener, Deliverer& d, long long max_use) {
  struct sigaction sa {};
  sa.sa_handler = on_hup;
  ::sigaction(SIGHUP, &sa, nullptr);
  // Every member polls before accepting: non-blocking, so the one that
  // loses the race goes back to its cache instead of blocking in accept.
  ::fcntl(listener, F_SETFL, ::fcntl(listener, F_GETFL) | O_NONBLOCK);
  long long done = 0;
  while (done < max_use && !g_reload) {
    if (!wait_readable(listener, d)) continue;
    int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN) continue;
      log::error({{"event", "accept_failed"}, {"error", strerror(errno)}});
      return 71;
    }
    UniqueFd conn(c);
    // The scheduler ends a connection after local.max_use jobs, so this
    // process never leaves with a job unread.
    if (int rc = serve(conn.get(), d, done); rc != 0) return rc;
  }
  d.close_all();
  log::info({{"event", g_reload ? "reload" : "max_use"}, {"jobs", std::to_string(done)}});
  return 0;
}

}  // namespace sluice::remote
