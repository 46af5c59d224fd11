#include "delivery/local/pool.hpp"

#include <sys/socket.h>

#include <csignal>

#include <cerrno>
#include <cstring>
#include <limits>

#include "common/fd.hpp"
#include "common/log.hpp"

namespace sluice::local {
namespace {

volatile sig_atomic_t g_reload = 0;
void on_hup(int) { g_reload = 1; }

}  // namespace

int run_pool(int listener, const deliver::RoundHandler& h, size_t max_round, long long max_bytes,
             long long max_use) {
  // SIGHUP (a reload): finish the connection in hand, then leave, so that
  // sluice-start starts a member with the new configuration. No SA_RESTART:
  // an idle accept() must return to see the flag.
  struct sigaction sa {};
  sa.sa_handler = on_hup;
  ::sigaction(SIGHUP, &sa, nullptr);
  long long done = 0;
  deliver::RoundHandler counted = [&](const std::vector<deliver::Job>& jobs, const std::vector<int>& fds) {
    done += static_cast<long long>(jobs.size());
    return h(jobs, fds);
  };
  while (done < max_use && !g_reload) {
    int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      log::error({{"event", "accept_failed"}, {"error", strerror(errno)}});
      return 71;
    }
    UniqueFd conn(c);
    // Served until the scheduler hangs up: it ends a connection after
    // local.max_use jobs, so this process never leaves with a job unread.
    int rc = deliver::serve_rounds(conn.get(), counted, max_round, max_bytes, std::numeric_limits<long>::max());
    if (rc != 0) return rc;
  }
  log::info({{"event", g_reload ? "reload" : "max_use"}, {"jobs", std::to_string(done)}});
  return 0;
}

}  // namespace sluice::local
