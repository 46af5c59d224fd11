#include "delivery/local/pool.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/fd.hpp"
#include "common/log.hpp"

namespace sluice::local {

int run_pool(int listener, const deliver::Handler& h, long long max_use) {
  long long done = 0;
  deliver::Handler counted = [&](const deliver::Job& j, int fd) {
    done++;
    return h(j, fd);
  };
  while (done < max_use) {
    int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      log::error({{"event", "accept_failed"}, {"error", strerror(errno)}});
      return 71;
    }
    UniqueFd conn(c);
    int rc = deliver::serve(conn.get(), counted, static_cast<long>(max_use - done));
    if (rc != 0) return rc;
  }
  log::info({{"event", "max_use"}, {"jobs", std::to_string(done)}});
  return 0;
}

}  // namespace sluice::local
