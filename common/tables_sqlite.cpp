// SQLite tables. Lookups use cached prepared statements (sluice-local asks
// once per recipient); every administrative change runs in one
// BEGIN IMMEDIATE transaction that validates first, so a refused change
// leaves the database exactly as it was.
#include "common/tables_sqlite.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "common/address.hpp"

namespace sluice::tables {

namespace {

const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS domains (
  domain TEXT PRIMARY KEY NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
  address TEXT PRIMARY KEY NOT NULL,
  domain TEXT NOT NULL REFERENCES domains(domain),
  password_hash TEXT NOT NULL DEFAULT '',
  quota_bytes INTEGER NOT NULL DEFAULT -1
);
CREATE INDEX IF NOT EXISTS users_domain ON users(domain);
CREATE TABLE IF NOT EXISTS aliases (
  alias TEXT NOT NULL,
  domain TEXT NOT NULL REFERENCES domains(domain),
  target TEXT NOT NULL,
  PRIMARY KEY (alias, target)
);
CREATE INDEX IF NOT EXISTS aliases_domain ON aliases(domain);
CREATE TABLE IF NOT EXISTS sms (
  address TEXT PRIMARY KEY NOT NULL REFERENCES users(address),
  phone TEXT NOT NULL DEFAULT '',
  enabled INTEGER NOT NULL DEFAULT 0,
  match TEXT NOT NULL DEFAULT '',
  quiet TEXT NOT NULL DEFAULT '',
  daily_cap INTEGER NOT NULL DEFAULT 0
);
)SQL";

// A prepared statement, reset (not finalized) when done so it is reused.
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt() {
    if (s_) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, long long v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  int step() { return sqlite3_step(s_); }
  std::string text(int col) {
    auto p = sqlite3_column_text(s_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), size_t(sqlite3_column_bytes(s_, col))) : "";
  }
  long long integer(int col) { return sqlite3_column_int64(s_, col); }

 private:
  sqlite3_stmt* s_;
};

Status refuse(std::string enh, std::string text) { return Status::perm(std::move(enh), std::move(text)); }

// Splits "local@domain" already validated; "@domain" gives local "".
std::string domain_of(std::string_view a) { return std::string(a.substr(a.rfind('@') + 1)); }

// Validates an address as a table key and returns it lowercased.
Result<std::string> norm_address(std::string_view a) {
  auto p = addr::parse_mailbox(a, true);
  if (!p) return refuse(p.error().enhanced, "invalid address " + std::string(a) + ": " + p.error().text);
  if (p->domain[0] == '[') return refuse("5.1.3", "address literal not allowed here: " + std::string(a));
  return addr::lower_ascii(p->str());
}

Result<std::string> norm_domain(std::string_view d) {
  if (!d.empty() && d[0] == '[') return refuse("5.1.2", "address literal is not a domain: " + std::string(d));
  Status st = addr::check_domain(d, true);
  if (!st.is_ok()) return refuse("5.1.2", "invalid domain " + std::string(d) + ": " + st.text);
  return addr::lower_ascii(d);
}

bool valid_hhmm(std::string_view s) {
  return s.size() == 5 && s[2] == ':' && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
         isdigit((unsigned char)s[3]) && isdigit((unsigned char)s[4]) && (s[0] - '0') * 10 + (s[1] - '0') < 24 &&
         s[3] < '6';
}

Status check_sms(const SmsSettings& s) {
  if (!s.phone.empty()) {
    bool ok = s.phone.size() >= 8 && s.phone.size() <= 16 && s.phone[0] == '+' && s.phone[1] >= '1' && s.phone[1] <= '9';
    for (size_t i = 1; ok && i < s.phone.size(); ++i) ok = isdigit((unsigned char)s.phone[i]);
    if (!ok) return refuse("5.5.4", "phone number must be E.164 (+ and 7 to 15 digits): " + s.phone);
  } else if (s.on) {
    return refuse("5.5.4", "SMS cannot be on without a phone number");
  }
  if (!s.quiet.empty() && !(s.quiet.size() == 11 && s.quiet[5] == '-' && valid_hhmm(s.quiet.substr(0, 5)) &&
                            valid_hhmm(s.quiet.substr(6))))
    return refuse("5.5.4", "quiet hours must be HH:MM-HH:MM: " + s.quiet);
  if (s.daily_cap < 0) return refuse("5.5.4", "daily cap must be >= 0");
  for (const auto& w : s.match)
    if (w.empty() || w.find('\n') != std::string::npos) return refuse("5.5.4", "invalid match word");
  return Status::ok();
}

class SqliteTables final : public Tables {
 public:
  SqliteTables(sqlite3* db, std::string file) : db_(db), file_(std::move(file)) {}
  ~SqliteTables() override {
    for (auto& [sql, st] : cache_) sqlite3_finalize(st);
    sqlite3_close(db_);
  }

  Status init(bool create);

  Result<bool> is_local_domain(std::string_view domain) override;
  Result<std::optional<User>> find_user(std::string_view address) override;
  Result<std::vector<std::string>> find_alias(std::string_view alias) override;
  Result<std::optional<SmsSettings>> sms_settings(std::string_view address) override;
  void begin_snapshot() override {
    // Deferred: the read transaction starts at the first lookup. If it
    // cannot begin, lookups simply run one transaction each.
    in_snapshot_ = step_once("BEGIN");
  }
  void end_snapshot() override {
    if (in_snapshot_ && !step_once("COMMIT")) step_once("ROLLBACK");
    in_snapshot_ = false;
  }
  Status add_domain(std::string_view domain) override;
  Status del_domain(std::string_view domain) override;
  Result<std::vector<std::string>> list_domains() override;
  Status add_user(const User& u) override;
  Status del_user(std::string_view address) override;
  Status set_password(std::string_view address, std::string_view hash) override;
  Status set_quota(std::string_view address, long long bytes) override;
  Result<std::vector<User>> list_users(std::string_view domain) override;
  Status add_alias(std::string_view alias, const std::vector<std::string>& targets) override;
  Status del_alias(std::string_view alias, std::string_view target) override;
  Result<std::vector<std::pair<std::string, std::vector<std::string>>>> list_aliases() override;
  Status set_sms(std::string_view address, const SmsSettings& s) override;

 private:
  sqlite3* db_;
  std::string file_;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
  std::string prep_error_;
  bool in_snapshot_ = false;

  bool step_once(std::string_view sql) {
    sqlite3_stmt* p = prep(sql);
    if (!p) return false;
    int rc = sqlite3_step(p);
    sqlite3_reset(p);
    return rc == SQLITE_DONE;
  }

  Status db_error(std::string_view what) {
    return Status::temp("4.3.0", std::string(what) + " (" + file_ + "): " + sqlite3_errmsg(db_));
  }
  // A cached statement; null (and db_error) when SQL does not compile.
  sqlite3_stmt* prep(std::string_view sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return it->second;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.data(), int(sql.size()), &st, nullptr) != SQLITE_OK) return nullptr;
    cache_.emplace(std::string(sql), st);
    return st;
  }
  Status exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) == SQLITE_OK) return Status::ok();
    Status st = Status::temp("4.3.0", std::string("table update failed (") + file_ + "): " + (err ? err : "?"));
    sqlite3_free(err);
    return st;
  }
  // Runs BODY inside BEGIN IMMEDIATE; commits only if it returns ok.
  template <class F>
  Status transaction(F&& body) {
    Status st = exec("BEGIN IMMEDIATE");
    if (!st.is_ok()) return st;
    st = body();
    if (st.is_ok()) {
      Status c = exec("COMMIT");
      if (c.is_ok()) return st;
      st = c;
    }
    exec("ROLLBACK");
    return st;
  }
  // Existence query with one bound text parameter; -1 on a database error.
  int exists(std::string_view sql, std::string_view arg) {
    sqlite3_stmt* p = prep(sql);
    if (!p) return -1;
    Stmt s(p);
    s.bind(1, arg);
    int rc = s.step();
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
  }
  // Change statement with text parameters; db_error on failure.
  Status change(std::string_view sql, std::initializer_list<std::string_view> args, long long extra = 0,
                bool with_extra = false) {
    sqlite3_stmt* p = prep(sql);
    if (!p) return db_error("table update failed");
    Stmt s(p);
    int i = 1;
    for (auto a : args) s.bind(i++, a);
    if (with_extra) s.bind(i, extra);
    if (s.step() != SQLITE_DONE) return db_error("table update failed");
    return Status::ok();
  }
  Status need_user(const std::string& a) {
    int e = exists("SELECT 1 FROM users WHERE address = ?", a);
    if (e < 0) return db_error("table lookup failed");
    if (e == 0) return refuse("5.1.1", "no such user: " + a);
    return Status::ok();
  }
};

Status SqliteTables::init(bool create) {
  sqlite3_busy_timeout(db_, 5000);
  // WAL lets readers run while the CLI writes; synchronous=NORMAL is
  // durable across process crashes, which is what admin changes need.
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  exec("PRAGMA foreign_keys=ON");
  int has = exists("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", "schema_version");
  if (has < 0) return db_error("cannot read database");
  if (!has) {
    if (!create) return Status::temp("4.3.5", "database " + file_ + " has no sluice schema (run sluice init)");
    return transaction([&] {
      Status st = exec(kSchema);
      if (!st.is_ok()) return st;
      return change("INSERT INTO schema_version(version) VALUES (?)", {}, kSqliteSchemaVersion, true);
    });
  }
  sqlite3_stmt* p = prep("SELECT max(version) FROM schema_version");
  if (!p) return db_error("cannot read schema version");
  Stmt s(p);
  if (s.step() != SQLITE_ROW) return db_error("cannot read schema version");
  long long v = s.integer(0);
  if (v > kSqliteSchemaVersion)
    return Status::temp("4.3.5", "database " + file_ + " has schema version " + std::to_string(v) +
                                     ", newer than this sluice understands (" +
                                     std::to_string(kSqliteSchemaVersion) + ")");
  return Status::ok();
}

// --- lookups ---------------------------------------------------------------

Result<bool> SqliteTables::is_local_domain(std::string_view domain) {
  int e = exists("SELECT 1 FROM domains WHERE domain = ?", addr::lower_ascii(domain));
  if (e < 0) return db_error("table lookup failed");
  return e == 1;
}

Result<std::optional<User>> SqliteTables::find_user(std::string_view address) {
  sqlite3_stmt* p = prep("SELECT address, password_hash, quota_bytes FROM users WHERE address = ?");
  if (!p) return db_error("table lookup failed");
  Stmt s(p);
  s.bind(1, addr::lower_ascii(address));
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<User>();
  if (rc != SQLITE_ROW) return db_error("table lookup failed");
  return std::optional<User>(User{s.text(0), s.text(1), s.integer(2)});
}

Result<std::vector<std::string>> SqliteTables::find_alias(std::string_view alias) {
  sqlite3_stmt* p = prep("SELECT target FROM aliases WHERE alias = ? ORDER BY rowid");
  if (!p) return db_error("table lookup failed");
  Stmt s(p);
  s.bind(1, addr::lower_ascii(alias));
  std::vector<std::string> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(s.text(0));
  if (rc != SQLITE_DONE) return db_error("table lookup failed");
  return out;
}

Result<std::optional<SmsSettings>> SqliteTables::sms_settings(std::string_view address) {
  sqlite3_stmt* p = prep("SELECT phone, enabled, match, quiet, daily_cap FROM sms WHERE address = ?");
  if (!p) return db_error("table lookup failed");
  Stmt s(p);
  s.bind(1, addr::lower_ascii(address));
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<SmsSettings>();
  if (rc != SQLITE_ROW) return db_error("table lookup failed");
  SmsSettings out;
  out.phone = s.text(0);
  out.on = s.integer(1) != 0;
  std::string m = s.text(2);
  for (size_t b = 0; b < m.size();) {
    size_t e = m.find('\n', b);
    if (e == std::string::npos) e = m.size();
    if (e > b) out.match.push_back(m.substr(b, e - b));
    b = e + 1;
  }
  out.quiet = s.text(3);
  out.daily_cap = int(s.integer(4));
  return std::optional<SmsSettings>(std::move(out));
}

// --- domains ---------------------------------------------------------------

Status SqliteTables::add_domain(std::string_view domain) {
  auto d = norm_domain(domain);
  if (!d) return d.error();
  return transaction([&] {
    int e = exists("SELECT 1 FROM domains WHERE domain = ?", *d);
    if (e < 0) return db_error("table lookup failed");
    if (e) return refuse("5.0.0", "domain already exists: " + *d);
    return change("INSERT INTO domains(domain) VALUES (?)", {*d});
  });
}

Status SqliteTables::del_domain(std::string_view domain) {
  std::string d = addr::lower_ascii(domain);
  return transaction([&] {
    int e = exists("SELECT 1 FROM domains WHERE domain = ?", d);
    if (e < 0) return db_error("table lookup failed");
    if (!e) return refuse("5.1.2", "unknown domain: " + d);
    int u = exists("SELECT 1 FROM users WHERE domain = ?", d);
    int a = exists("SELECT 1 FROM aliases WHERE domain = ?", d);
    if (u < 0 || a < 0) return db_error("table lookup failed");
    if (u) return refuse("5.0.0", "domain " + d + " still has users; delete them first");
    if (a) return refuse("5.0.0", "domain " + d + " still has aliases; delete them first");
    return change("DELETE FROM domains WHERE domain = ?", {d});
  });
}

Result<std::vector<std::string>> SqliteTables::list_domains() {
  sqlite3_stmt* p = prep("SELECT domain FROM domains ORDER BY domain");
  if (!p) return db_error("table lookup failed");
  Stmt s(p);
  std::vector<std::string> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(s.text(0));
  if (rc != SQLITE_DONE) return db_error("table lookup failed");
  return out;
}

// --- users -----------------------------------------------------------------

Status SqliteTables::add_user(const User& u) {
  auto a = norm_address(u.address);
  if (!a) return a.error();
  if (u.quota_bytes < -1) return refuse("5.5.4", "quota must be -1 (default), 0 (none) or a byte count");
  std::string d = domain_of(*a);
  return transaction([&] {
    int e = exists("SELECT 1 FROM domains WHERE domain = ?", d);
    if (e < 0) return db_error("table lookup failed");
    if (!e) return refuse("5.1.2", "unknown domain: " + d + " (add it with: sluice domain add " + d + ")");
    e = exists("SELECT 1 FROM users WHERE address = ?", *a);
    if (e < 0) return db_error("table lookup failed");
    if (e) return refuse("5.0.0", "user already exists: " + *a);
    return change("INSERT INTO users(address, domain, password_hash, quota_bytes) VALUES (?, ?, ?, ?)",
                  {*a, d, u.password_hash}, u.quota_bytes, true);
  });
}

Status SqliteTables::del_user(std::string_view address) {
  std::string a = addr::lower_ascii(address);
  return transaction([&] {
    Status st = need_user(a);
    if (!st.is_ok()) return st;
    st = change("DELETE FROM sms WHERE address = ?", {a});
    if (!st.is_ok()) return st;
    return change("DELETE FROM users WHERE address = ?", {a});
  });
}

Status SqliteTables::set_password(std::string_view address, std::string_view hash) {
  std::string a = addr::lower_ascii(address);
  return transaction([&] {
    Status st = need_user(a);
    if (!st.is_ok()) return st;
    return change("UPDATE users SET password_hash = ? WHERE address = ?", {hash, a});
  });
}

Status SqliteTables::set_quota(std::string_view address, long long bytes) {
  if (bytes < -1) return refuse("5.5.4", "quota must be -1 (default), 0 (none) or a byte count");
  std::string a = addr::lower_ascii(address);
  return transaction([&] {
    Status st = need_user(a);
    if (!st.is_ok()) return st;
    return change("UPDATE users SET quota_bytes = ?2 WHERE address = ?1", {a}, bytes, true);
  });
}

Result<std::vector<User>> SqliteTables::list_users(std::string_view domain) {
  std::string d = addr::lower_ascii(domain);
  if (!d.empty()) {
    int e = exists("SELECT 1 FROM domains WHERE domain = ?", d);
    if (e < 0) return db_error("table lookup failed");
    if (!e) return refuse("5.1.2", "unknown domain: " + d);
  }
  sqlite3_stmt* p = prep("SELECT address, password_hash, quota_bytes FROM users "
                         "WHERE ?1 = '' OR domain = ?1 ORDER BY domain, address");
  if (!p) return db_error("table lookup failed");
  Stmt s(p);
  s.bind(1, d);
  std::vector<User> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(User{s.text(0), s.text(1), s.integer(2)});
  if (rc != SQLITE_DONE) return db_error("table lookup failed");
  return out;
}

// --- aliases ---------------------------------------------------------------

Status SqliteTables::add_alias(std::string_view alias, const std::vector<std::string>& targets) {
  std::string key;
  if (!alias.empty() && alias[0] == '@') {  // catch-all
    auto d = norm_domain(alias.substr(1));
    if (!d) return d.error();
    key = "@" + *d;
  } else {
    auto a = norm_address(alias);
    if (!a) return a.error();
    key = *a;
  }
  if (targets.empty()) return refuse("5.5.4", "alias " + key + " needs at least one target");
  std::vector<std::string> norm;
  for (const auto& t : targets) {
    auto a = norm_address(t);
    if (!a) return a.error();
    if (*a == key) return refuse("5.4.6", "alias " + key + " cannot point to itself");
    norm.push_back(*a);
  }
  std::string d = domain_of(key);
  return transaction([&] {
    int e = exists("SELECT 1 FROM domains WHERE domain = ?", d);
    if (e < 0) return db_error("table lookup failed");
    if (!e) return refuse("5.1.2", "unknown domain: " + d + " (add it with: sluice domain add " + d + ")");
    for (const auto& t : norm) {
      sqlite3_stmt* p = prep("SELECT 1 FROM aliases WHERE alias = ? AND target = ?");
      if (!p) return db_error("table lookup failed");
      Stmt s(p);
      s.bind(1, key).bind(2, t);
      int rc = s.step();
      if (rc == SQLITE_ROW) return refuse("5.0.0", "alias " + key + " already has target " + t);
      if (rc != SQLITE_DONE) return db_error("table lookup failed");
      Status st = change("INSERT INTO aliases(alias, domain, target) VALUES (?, ?, ?)", {key, d, t});
      if (!st.is_ok()) return st;
    }
    return Status::ok();
  });
}

Status SqliteTables::del_alias(std::string_view alias, std::string_view target) {
  std::string key = addr::lower_ascii(alias), t = addr::lower_ascii(target);
  if (!t.empty()) {
    auto a = norm_address(target);
    if (a) t = *a;
  }
  return transaction([&] {
    int e = exists("SELECT 1 FROM aliases WHERE alias = ?", key);
    if (e < 0) return db_error("table lookup failed");
    if (!e) return refuse("5.1.1", "no such alias: " + key);
    if (t.empty()) return change("DELETE FROM aliases WHERE alias = ?", {key});
    sqlite3_stmt* p = prep("DELETE FROM aliases WHERE alias = ? AND target = ?");
    if (!p) return db_error("table update failed");
    Stmt s(p);
    s.bind(1, key).bind(2, t);
    if (s.step() != SQLITE_DONE) return db_error("table update failed");
    if (sqlite3_changes(db_) == 0) return refuse("5.1.1", "alias " + key + " has no target " + t);
    return Status::ok();
  });
}

Result<std::vector<std::pair<std::string, std::vector<std::string>>>> SqliteTables::list_aliases() {
  sqlite3_stmt* p = prep("SELECT alias, target FROM aliases ORDER BY domain, alias, rowid");
  if (!p) return db_error("table lookup failed");
  Stmt s(p);
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    std::string a = s.text(0);
    if (out.empty() || out.back().first != a) out.emplace_back(a, std::vector<std::string>{});
    out.back().second.push_back(s.text(1));
  }
  if (rc != SQLITE_DONE) return db_error("table lookup failed");
  return out;
}

// --- SMS -------------------------------------------------------------------

Status SqliteTables::set_sms(std::string_view address, const SmsSettings& sms) {
  Status st = check_sms(sms);
  if (!st.is_ok()) return st;
  std::string a = addr::lower_ascii(address), match;
  for (const auto& w : sms.match) match += (match.empty() ? "" : "\n") + w;
  return transaction([&] {
    Status st = need_user(a);
    if (!st.is_ok()) return st;
    sqlite3_stmt* p = prep("INSERT OR REPLACE INTO sms(address, phone, enabled, match, quiet, daily_cap) "
                           "VALUES (?, ?, ?, ?, ?, ?)");
    if (!p) return db_error("table update failed");
    Stmt s(p);
    s.bind(1, a).bind(2, sms.phone).bind(3, (long long)sms.on).bind(4, match).bind(5, sms.quiet);
    s.bind(6, (long long)sms.daily_cap);
    if (s.step() != SQLITE_DONE) return db_error("table update failed");
    return Status::ok();
  });
}

}  // namespace

Result<std::unique_ptr<Tables>> open_sqlite(const std::string& file, bool create) {
  // SQLite counts every allocation in global statistics under one global
  // mutex (SQLITE_CONFIG_MEMSTATUS, on unless built without). sluice-auth's
  // threads, each with its own connection, met there at every question:
  // three fifths of its futex calls, about one a RCPT at 20 SMTP clients.
  // Nothing reads the statistics. It must precede SQLite's initialization,
  // so it is done at the first open; a process that used SQLite before
  // keeps the statistics (the call then fails, harmlessly).
  static std::once_flag config_once;
  std::call_once(config_once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  if (create) {
    std::error_code ec;
    auto dir = std::filesystem::path(file).parent_path();
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);  // open reports a failure
  } else if (access(file.c_str(), F_OK) != 0) {
    return Status::temp("4.3.5", "database " + file + " does not exist (run sluice init): " + std::strerror(errno));
  }
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  // A program without write permission (a reader account) still looks up.
  if (!create && access(file.c_str(), W_OK) != 0) flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(file.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Status::temp("4.3.0", "cannot open database " + file + ": " + msg);
  }
  auto t = std::make_unique<SqliteTables>(db, file);
  Status st = t->init(create);
  if (!st.is_ok()) return st;
  return std::unique_ptr<Tables>(std::move(t));
}

}  // namespace sluice::tables
