#include "common/line_service.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>

#include "common/fd.hpp"
#include "common/log.hpp"

namespace sluice {

Result<std::unique_ptr<tables::Tables>> TablesPool::get() {
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

void TablesPool::put(std::unique_ptr<tables::Tables> t) {
  std::lock_guard lk(mu_);
  if (free_.size() < 16) free_.push_back(std::move(t));
}

void serve_lines(int fd_in, TablesPool& pool, const LineAnswer& answer) {
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
    std::string out;
    if (tables) {
      tables::Snapshot snap(**tables);  // one read transaction per question
      out = answer(line, **tables);
    } else {
      out = "temp " + tables.error().text;
    }
    if (out.rfind("temp ", 0) == 0) log::warn({{"event", "lookup_failed"}, {"error", out.substr(5)}});
    if (!write_all(fd.get(), out + "\n")) return;
  }
}

}  // namespace sluice
