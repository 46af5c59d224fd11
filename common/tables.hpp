// The lookup abstraction (DESIGN.md "Tables"): domains, users, quotas,
// aliases, SMS settings. Backends: SQLite (tables_sqlite.cpp, default) and
// later LDAP and plain files. Every program reaches tables only through
// this interface, so a backend is added without touching them.
//
// Addresses are compared case-insensitively in ASCII (stored lowercased);
// a catch-all alias is the alias "@domain".
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.hpp"

namespace sluice {
class Config;
}

namespace sluice::tables {

struct User {
  std::string address;        // lowercased user@domain
  std::string password_hash;  // crypt(3) string; "" when the user cannot log in
  long long quota_bytes = -1; // -1: use local.default_quota; 0: no quota
};

struct SmsSettings {
  std::string phone;                 // E.164, "+8613800138000"
  bool on = false;
  std::vector<std::string> match;    // empty: all mail; else sender or subject contains a word
  std::string quiet;                 // "" or "HH:MM-HH:MM" (local time, may wrap midnight)
  int daily_cap = 0;                 // 0: no cap
};

class Tables {
 public:
  virtual ~Tables() = default;

  // --- lookups ------------------------------------------------------------
  virtual Result<bool> is_local_domain(std::string_view domain) = 0;
  virtual Result<std::optional<User>> find_user(std::string_view address) = 0;
  // Targets of ALIAS (an address, or "@domain" for a catch-all); empty if none.
  virtual Result<std::vector<std::string>> find_alias(std::string_view alias) = 0;
  virtual Result<std::optional<SmsSettings>> sms_settings(std::string_view address) = 0;
  // Lookups between these two read one snapshot: for SQLite one read
  // transaction (a lock and an unlock) instead of one per lookup. Only
  // lookups may run in between.
  virtual void begin_snapshot() {}
  virtual void end_snapshot() {}

  // --- administration (the `sluice` CLI) ------------------------------------
  virtual Status add_domain(std::string_view domain) = 0;
  virtual Status del_domain(std::string_view domain) = 0;  // refuses while users or aliases use it
  virtual Result<std::vector<std::string>> list_domains() = 0;
  virtual Status add_user(const User& u) = 0;              // domain must exist; refuses duplicates
  virtual Status del_user(std::string_view address) = 0;
  virtual Status set_password(std::string_view address, std::string_view hash) = 0;
  virtual Status set_quota(std::string_view address, long long bytes) = 0;
  virtual Result<std::vector<User>> list_users(std::string_view domain) = 0;  // "" for all
  virtual Status add_alias(std::string_view alias, const std::vector<std::string>& targets) = 0;
  // Removes TARGET from ALIAS, or the whole alias when TARGET is empty.
  virtual Status del_alias(std::string_view alias, std::string_view target) = 0;
  virtual Result<std::vector<std::pair<std::string, std::vector<std::string>>>> list_aliases() = 0;
  virtual Status set_sms(std::string_view address, const SmsSettings& s) = 0;
};

// Holds a snapshot for the lookups of one job or one question.
class Snapshot {
 public:
  explicit Snapshot(Tables& t) : t_(t) { t_.begin_snapshot(); }
  ~Snapshot() { t_.end_snapshot(); }
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

 private:
  Tables& t_;
};

// Opens the backend named by tables.backend. Creates the SQLite schema when
// the file is new (sluice init) if CREATE is true.
Result<std::unique_ptr<Tables>> open_tables(const Config& cfg, bool create = false);

}  // namespace sluice::tables
