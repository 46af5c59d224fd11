#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>

#include "common/config.hpp"
#include "common/tables.hpp"
#include "common/tables_sqlite.hpp"

using namespace sluice;
using namespace sluice::tables;

namespace {

// A fresh directory; the database lives in DIR/db/ (created by open_sqlite).
struct TmpDb {
  std::string dir, file;
  TmpDb() {
    char tmpl[] = "/tmp/sluice-tables-XXXXXX";
    dir = mkdtemp(tmpl);
    file = dir + "/db/sluice.db";
  }
  ~TmpDb() { std::system(("rm -rf '" + dir + "'").c_str()); }
  std::unique_ptr<Tables> open(bool create = true) {
    auto t = open_sqlite(file, create);
    REQUIRE(t.ok());
    return std::move(*t);
  }
};

std::vector<std::string> domains(Tables& t) {
  auto d = t.list_domains();
  REQUIRE(d.ok());
  return *d;
}

}  // namespace

TEST_CASE("sqlite: missing database without create is a clear error", "[tables]") {
  TmpDb db;
  auto t = open_sqlite(db.file, false);
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().text.find("does not exist") != std::string::npos);
  CHECK(t.error().text.find(db.file) != std::string::npos);
}

TEST_CASE("sqlite: schema, WAL mode and schema_version", "[tables]") {
  TmpDb db;
  { auto t = db.open(); }
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(db.file.c_str(), &raw) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "wal");
  sqlite3_finalize(st);
  REQUIRE(sqlite3_prepare_v2(raw, "SELECT version FROM schema_version", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(sqlite3_column_int(st, 0) == kSqliteSchemaVersion);
  sqlite3_finalize(st);
  // A newer schema than we know is refused rather than misread.
  REQUIRE(sqlite3_exec(raw, "UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(raw);
  auto t = open_sqlite(db.file, false);
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().text.find("newer") != std::string::npos);
}

TEST_CASE("sqlite: domains are lowercased, validated, unique", "[tables]") {
  TmpDb db;
  auto t = db.open();
  REQUIRE(t->add_domain("Example.TEST").is_ok());
  CHECK(domains(*t) == std::vector<std::string>{"example.test"});
  CHECK(*t->is_local_domain("EXAMPLE.test"));
  CHECK_FALSE(*t->is_local_domain("other.test"));
  Status dup = t->add_domain("example.test");
  CHECK(dup.is_perm());
  CHECK(dup.text.find("already exists") != std::string::npos);
  CHECK(t->add_domain("bad..domain").is_perm());
  CHECK(t->add_domain("[192.0.2.1]").is_perm());
  CHECK(t->add_domain("").is_perm());
  CHECK(domains(*t).size() == 1);
  Status unknown = t->del_domain("nowhere.test");
  CHECK(unknown.is_perm());
  CHECK(unknown.text.find("unknown domain") != std::string::npos);
}

TEST_CASE("sqlite: users need a known domain, refuse duplicates", "[tables]") {
  TmpDb db;
  auto t = db.open();
  Status st = t->add_user({"bob@example.test", "$y$x", -1});
  CHECK(st.is_perm());
  CHECK(st.text.find("unknown domain") != std::string::npos);
  REQUIRE(t->add_domain("example.test").is_ok());
  REQUIRE(t->add_user({"Bob@Example.Test", "$y$hash", 1000}).is_ok());
  auto u = t->find_user("BOB@example.test");
  REQUIRE(u.ok());
  REQUIRE(u->has_value());
  CHECK((*u)->address == "bob@example.test");
  CHECK((*u)->password_hash == "$y$hash");
  CHECK((*u)->quota_bytes == 1000);
  Status dup = t->add_user({"bob@EXAMPLE.test", "", -1});
  CHECK(dup.is_perm());
  CHECK(dup.text.find("already exists") != std::string::npos);
  CHECK(t->add_user({"not an address", "", -1}).is_perm());
  CHECK(t->add_user({"x@example.test", "", -5}).is_perm());
  CHECK_FALSE(t->find_user("nobody@example.test")->has_value());

  REQUIRE(t->set_password("bob@example.test", "$6$new").is_ok());
  REQUIRE(t->set_quota("bob@example.test", 0).is_ok());
  u = t->find_user("bob@example.test");
  CHECK((*u)->password_hash == "$6$new");
  CHECK((*u)->quota_bytes == 0);
  CHECK(t->set_password("ghost@example.test", "x").text.find("no such user") != std::string::npos);
  CHECK(t->set_quota("ghost@example.test", 1).is_perm());

  REQUIRE(t->add_domain("other.test").is_ok());
  REQUIRE(t->add_user({"amy@other.test", "", -1}).is_ok());
  CHECK(t->list_users("")->size() == 2);
  auto only = t->list_users("other.test");
  REQUIRE(only->size() == 1);
  CHECK((*only)[0].address == "amy@other.test");
  CHECK_FALSE(t->list_users("nowhere.test").ok());

  // A domain in use cannot go; nothing changes.
  Status busy = t->del_domain("example.test");
  CHECK(busy.is_perm());
  CHECK(busy.text.find("still has users") != std::string::npos);
  CHECK(*t->is_local_domain("example.test"));
  REQUIRE(t->del_user("bob@example.test").is_ok());
  CHECK(t->del_user("bob@example.test").is_perm());
  REQUIRE(t->del_domain("example.test").is_ok());
  CHECK_FALSE(*t->is_local_domain("example.test"));
}

TEST_CASE("sqlite: aliases with several targets and catch-all", "[tables]") {
  TmpDb db;
  auto t = db.open();
  REQUIRE(t->add_domain("example.test").is_ok());
  REQUIRE(t->add_alias("Team@example.test", {"a@example.test", "B@Elsewhere.test"}).is_ok());
  REQUIRE(t->add_alias("team@example.test", {"c@example.test"}).is_ok());
  CHECK(*t->find_alias("TEAM@example.test") ==
        std::vector<std::string>{"a@example.test", "b@elsewhere.test", "c@example.test"});
  REQUIRE(t->add_alias("@Example.test", {"postmaster@example.test"}).is_ok());
  CHECK(*t->find_alias("@example.test") == std::vector<std::string>{"postmaster@example.test"});
  CHECK(t->find_alias("nobody@example.test")->empty());

  // Refusals change nothing: a bad target among good ones adds none of them.
  CHECK(t->add_alias("team@example.test", {"d@example.test", "bad address"}).is_perm());
  CHECK(t->add_alias("x@unknown.test", {"a@example.test"}).text.find("unknown domain") != std::string::npos);
  CHECK(t->add_alias("team@example.test", {"e@example.test", "a@example.test"}).text.find("already has") !=
        std::string::npos);
  CHECK(t->add_alias("team@example.test", {}).is_perm());
  CHECK(t->find_alias("team@example.test")->size() == 3);

  auto all = t->list_aliases();
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].first == "@example.test");
  CHECK((*all)[1].second.size() == 3);

  Status busy = t->del_domain("example.test");
  CHECK(busy.text.find("still has aliases") != std::string::npos);
  REQUIRE(t->del_alias("team@example.test", "B@elsewhere.test").is_ok());
  CHECK(t->find_alias("team@example.test")->size() == 2);
  CHECK(t->del_alias("team@example.test", "zzz@example.test").is_perm());
  REQUIRE(t->del_alias("team@example.test", "").is_ok());
  CHECK(t->del_alias("team@example.test", "").text.find("no such alias") != std::string::npos);
  REQUIRE(t->del_alias("@example.test", "").is_ok());
  REQUIRE(t->del_domain("example.test").is_ok());
}

TEST_CASE("sqlite: SMS settings validated and stored", "[tables]") {
  TmpDb db;
  auto t = db.open();
  REQUIRE(t->add_domain("example.test").is_ok());
  REQUIRE(t->add_user({"bob@example.test", "", -1}).is_ok());
  CHECK_FALSE(t->sms_settings("bob@example.test")->has_value());
  SmsSettings s{"+8613800138000", true, {"urgent", "boss"}, "22:00-07:30", 5};
  CHECK(t->set_sms("ghost@example.test", s).is_perm());
  REQUIRE(t->set_sms("BOB@example.test", s).is_ok());
  auto got = t->sms_settings("bob@example.test");
  REQUIRE(got->has_value());
  CHECK((*got)->phone == s.phone);
  CHECK((*got)->on);
  CHECK((*got)->match == s.match);
  CHECK((*got)->quiet == "22:00-07:30");
  CHECK((*got)->daily_cap == 5);

  CHECK(t->set_sms("bob@example.test", {"8613800138000", true, {}, "", 0}).is_perm());
  CHECK(t->set_sms("bob@example.test", {"", true, {}, "", 0}).is_perm());
  CHECK(t->set_sms("bob@example.test", {"+4915112345678", true, {}, "25:00-07:00", 0}).is_perm());
  CHECK(t->set_sms("bob@example.test", {"+4915112345678", true, {}, "", -1}).is_perm());
  CHECK((*t->sms_settings("bob@example.test"))->phone == s.phone);  // unchanged

  REQUIRE(t->set_sms("bob@example.test", {"+4915112345678", false, {}, "", 0}).is_ok());
  CHECK_FALSE((*t->sms_settings("bob@example.test"))->on);
  REQUIRE(t->del_user("bob@example.test").is_ok());
  CHECK_FALSE(t->sms_settings("bob@example.test")->has_value());
}

TEST_CASE("sqlite: a second connection sees committed changes", "[tables]") {
  TmpDb db;
  auto writer = db.open();
  auto reader = db.open(false);
  REQUIRE(writer->add_domain("example.test").is_ok());
  CHECK(*reader->is_local_domain("example.test"));
}

TEST_CASE("open_tables follows tables.backend and tables.sqlite", "[tables]") {
  TmpDb db;
  Config cfg = Config::defaults(db.dir);
  auto t = open_tables(cfg, true);
  REQUIRE(t.ok());
  REQUIRE((*t)->add_domain("example.test").is_ok());
  CHECK(access((db.dir + "/db/sluice.db").c_str(), F_OK) == 0);
}

TEST_CASE("a snapshot reads one state of the tables until it ends", "[tables]") {
  TmpDb db;
  auto reader = db.open();
  auto writer = db.open(false);
  REQUIRE(writer->add_domain("example.test").is_ok());
  REQUIRE(writer->add_user({"bob@example.test", "", -1}).is_ok());
  {
    Snapshot snap(*reader);
    REQUIRE(reader->find_user("bob@example.test")->has_value());
    // A change committed meanwhile is not half-seen by this question...
    REQUIRE(writer->add_user({"carol@example.test", "", -1}).is_ok());
    CHECK_FALSE(reader->find_user("carol@example.test")->has_value());
    CHECK(*reader->is_local_domain("example.test"));
  }
  // ...and is seen by the next one.
  CHECK(reader->find_user("carol@example.test")->has_value());
  Snapshot again(*reader);
  CHECK(reader->find_user("carol@example.test")->has_value());
}
