#include "listen/auth/server.hpp"

#include <ctime>

#include "common/accept_loop.hpp"
#include "common/line_service.hpp"

namespace sluice::auth {

int serve(int listener, const Config& cfg, Bans& bans, const Settings& s, int max_threads) {
  TablesPool pool(cfg);
  return serve_threads(listener, max_threads, [&](int fd) {
    serve_lines(fd, pool, [&](std::string_view line, tables::Tables& t) {
      return answer(line, t, bans, s, ::time(nullptr));
    });
  });
}

}  // namespace sluice::auth
