#include "listen/auth/server.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <mutex>
#include <cstring>
#include <ctime>
#include <vector>

#include "common/accept_loop.hpp"
#include "common/fd.hpp"
#include "common/log.hpp"

namespace sluice::auth {
namespace {

// Opened tables kept between connections: sluice-smtpd asks once per RCPT
// over a fresh connection, and opening SQLite (file, schema check, prepared
// statements) for each cost more than the question. A Tables object is used
// by one thread at a time (tables_sqlite.hpp), which the pool guarantees.
class TablesPool {
 public:
  explicit TablesPool(const Config& cfg) : cfg_(cfg) {}
  Result<std::unique_ptr<tables::Tables>> get() {
    {
      std::lock_guard lk(mu_);
      if (!free_.empty()) {
        auto t = std::move(free_.back());
        free_.pop_back();
        return t;
      }
    }
    return tables::open_tables(cfg_);
  }
  void put(std::unique_ptr<tables::Tables> t) {
    std::lock_guard lk(mu_);
    if (free_.size() < 16) free_.push_back(std::move(t));
  }

 private:
  const Config& cfg_;
  std::mutex mu_;
  std::vector<std::unique_ptr<tables::Tables>> free_;
};

void serve_connection(int fd_in, TablesPool& pool, Bans& bans, const Settings& s) {
  UniqueFd fd(fd_in);
  struct timeval tv {30, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto tables = pool.get();
  struct Return {
    TablesPool& pool;
    Result<std::unique_ptr<tables::Tables>>& t;
    ~Return() {
      // A connection that saw a table error returns nothing: the next opens afresh.
      if (t && *t) pool.put(std::move(*t));
    }
  } give_back{pool, tables};
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
  TablesPool pool(cfg);
  return serve_threads(listener, max_threads, [&](int fd) { serve_connection(fd, pool, bans, s); });
}

}  // namespace sluice::auth
