// SQLite backend of the table abstraction (tables.hpp). One database file,
// WAL mode so the CLI can write while sluice-local and sluice-auth read,
// a busy timeout instead of SQLITE_BUSY errors. Schema: docs/tables.md.
// One object per thread: it caches prepared statements, which SQLite does
// not let two threads step at once.
#pragma once
#include <memory>
#include <string>

#include "common/tables.hpp"

namespace sluice::tables {

// The schema version this code writes and understands.
inline constexpr int kSqliteSchemaVersion = 1;

// Opens the database FILE. With CREATE, makes the file (and its directory)
// and the schema when missing; without it, a missing file or schema is an
// error naming the file. Opens read-only when the file is not writable.
Result<std::unique_ptr<Tables>> open_sqlite(const std::string& file, bool create);

}  // namespace sluice::tables
