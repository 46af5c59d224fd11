// open_tables: picks the backend named by tables.backend.
#include "common/config.hpp"
#include "common/tables.hpp"
#include "common/tables_sqlite.hpp"

namespace sluice::tables {

Result<std::unique_ptr<Tables>> open_tables(const Config& cfg, bool create) {
  std::string backend = cfg.str("tables.backend");
  if (backend == "sqlite") return open_sqlite(cfg.path("tables.sqlite"), create);
  return Status::temp("4.3.5", "tables.backend \"" + backend + "\" is not supported (only sqlite)");
}

}  // namespace sluice::tables
