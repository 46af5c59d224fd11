// The small line-protocol services on UNIX sockets (sluice-auth,
// sluice-quota): one request line, one answer line, several per
// connection, each thread with an opened table handle kept between
// connections.
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "common/status.hpp"
#include "common/tables.hpp"

namespace sluice {

// Opened tables kept between connections: the listeners ask once per RCPT
// over a fresh connection, and opening SQLite (file, schema check, prepared
// statements) for each cost more than the question. A Tables object is
// used by one thread at a time (tables_sqlite.hpp), which the pool
// guarantees.
class TablesPool {
 public:
  explicit TablesPool(const Config& cfg) : cfg_(cfg) {}
  Result<std::unique_ptr<tables::Tables>> get();
  void put(std::unique_ptr<tables::Tables> t);

 private:
  const Config& cfg_;
  std::mutex mu_;
  std::vector<std::unique_ptr<tables::Tables>> free_;
};

// ANSWER gets one request line (without LF) and the connection's tables.
using LineAnswer = std::function<std::string(std::string_view line, tables::Tables& t)>;

// Serves the connection FD (owned, closed at the end): reads lines of at
// most 4 KiB, writes ANSWER's line for each, until EOF, an error or 30
// seconds of silence. Without tables every answer is "temp REASON". Any
// "temp" answer is logged as event=lookup_failed.
void serve_lines(int fd, TablesPool& pool, const LineAnswer& answer);

}  // namespace sluice
