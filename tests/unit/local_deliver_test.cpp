// sluice-local: resolution and Maildir++ delivery against a real SQLite
// table in a temporary instance.
#include <sqlite3.h>
#include <sys/stat.h>

#include <regex>

#include "common/notify_spool.hpp"
#include "delivery/local/maildir.hpp"
#include "local_fixture.hpp"

using namespace local_test;
using sluice::Status;

TEST_CASE("local: a user gets the message in new/ with Return-Path and Delivered-To", "[local]") {
  Instance in;
  in.user("bob@example.test");
  auto r = in.deliver(kMsg, {"Bob@Example.TEST"});
  CHECK(r[0].index == 0);
  CHECK(r[0].status.is_ok());
  CHECK(r[0].status.enhanced == "2.0.0");
  auto files = in.new_mail("bob");
  REQUIRE(files.size() == 1);
  std::string body = slurp(files[0]);
  CHECK(body == std::string("Return-Path: <alice@sender.test>\nDelivered-To: bob@example.test\n") + kMsg);
  for (const char* sub : {"cur", "new", "tmp"}) {
    struct stat st;
    REQUIRE(stat((in.maildir("bob") + "/" + sub).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
  }
  CHECK(in.files(in.maildir("bob") + "/tmp").empty());
  CHECK(in.files(in.maildir("bob") + "/cur").empty());
}

TEST_CASE("local: Maildir names are Dovecot's SEC.M<usec>P<pid>Q<n>.<host>,S=<size>", "[local]") {
  Instance in;
  in.user("bob@example.test");
  in.opts.host = "mx/a:b.example.test";
  in.deliver(kMsg, {"bob@example.test"});
  in.deliver(kMsg, {"bob@example.test"});
  auto files = in.new_mail("bob");
  REQUIRE(files.size() == 2);
  std::regex re(R"(^(\d+)\.M(\d+)P(\d+)Q(\d+)\.mx\\057a\\072b\.example\.test,S=(\d+)$)");
  for (const auto& f : files) {
    std::string name = fs::path(f).filename();
    std::smatch m;
    REQUIRE(std::regex_match(name, m, re));
    CHECK(std::stoll(m[2]) < 1000000);
    CHECK(std::stoi(m[3]) == getpid());
    CHECK(std::stoll(m[5]) == static_cast<long long>(fs::file_size(f)));
  }
  CHECK(fs::path(files[0]).filename() != fs::path(files[1]).filename());
  CHECK(sluice::local::escape_host("a/b:c") == "a\\057b\\072c");
}

TEST_CASE("local: unknown users and foreign domains are refused", "[local]") {
  Instance in;
  in.user("bob@example.test");
  auto r = in.deliver(kMsg, {"nobody@example.test", "bob@elsewhere.test", "not an address", "bob@example.test"});
  CHECK(r[0].status.is_perm());
  CHECK(r[0].status.enhanced == "5.1.1");
  CHECK(r[1].status.is_perm());
  CHECK(r[1].status.enhanced == "5.1.2");
  CHECK(r[2].status.is_perm());
  CHECK(r[2].status.enhanced == "5.1.3");
  CHECK(r[3].status.is_ok());
  CHECK(in.new_mail("bob").size() == 1);
  CHECK_FALSE(fs::exists(in.maildir("nobody")));
}

TEST_CASE("local: an alias with several targets, nested, with a cycle", "[local]") {
  Instance in;
  in.user("bob@example.test");
  in.user("carol@example.test");
  in.user("dave@example.test");
  in.alias("team@example.test", {"bob@example.test", "leads@example.test"});
  in.alias("leads@example.test", {"carol@example.test", "dave@example.test", "team@example.test"});
  auto r = in.deliver(kMsg, {"TEAM@example.test"});
  CHECK(r[0].status.is_ok());
  for (const char* u : {"bob", "carol", "dave"}) CHECK(in.new_mail(u).size() == 1);
  // The shared copy names no recipient (docs/sluice-local.md).
  std::string body = slurp(in.new_mail("carol")[0]);
  CHECK(body.rfind("Return-Path: <alice@sender.test>\nFrom:", 0) == 0);
  CHECK(body.find("Delivered-To:") == std::string::npos);
}

TEST_CASE("local: an alias target that fails fails the recipient, the others still get it", "[local]") {
  Instance in;
  in.user("bob@example.test");
  in.alias("team@example.test", {"bob@example.test", "gone@example.test"});
  auto r = in.deliver(kMsg, {"team@example.test"});
  CHECK(r[0].status.is_perm());
  CHECK(r[0].status.enhanced == "5.1.1");
  CHECK(r[0].status.text.find("gone@example.test") != std::string::npos);
  CHECK(in.new_mail("bob").size() == 1);
}

TEST_CASE("local: the catch-all alias takes what nothing else does", "[local]") {
  Instance in;
  in.user("bob@example.test");
  in.user("postmaster@example.test");
  in.alias("@example.test", {"postmaster@example.test"});
  auto r = in.deliver(kMsg, {"whoever@example.test", "bob@example.test"});
  CHECK(r[0].status.is_ok());
  CHECK(r[1].status.is_ok());
  CHECK(in.new_mail("postmaster").size() == 1);
  CHECK(in.new_mail("bob").size() == 1);
  CHECK_FALSE(fs::exists(in.maildir("whoever")));
}

TEST_CASE("local: user+tag delivers to user unless user+tag exists itself", "[local]") {
  Instance in;
  in.user("bob@example.test");
  in.user("carol@example.test");
  in.alias("bob+list@example.test", {"carol@example.test"});
  auto r = in.deliver(kMsg, {"Bob+News@example.test"});
  CHECK(r[0].status.is_ok());
  REQUIRE(in.new_mail("bob").size() == 1);
  CHECK(slurp(in.new_mail("bob")[0]).find("Delivered-To: bob@example.test\n") != std::string::npos);
  CHECK_FALSE(fs::exists(in.maildir("bob+news")));
  r = in.deliver(kMsg, {"bob+list@example.test"});
  CHECK(r[0].status.is_ok());
  CHECK(in.new_mail("carol").size() == 1);
  CHECK(in.new_mail("bob").size() == 1);
  // An alias reaching both bob and bob+tag delivers once.
  in.alias("both@example.test", {"bob@example.test", "bob+x@example.test"});
  r = in.deliver(kMsg, {"both@example.test"});
  CHECK(r[0].status.is_ok());
  CHECK(in.new_mail("bob").size() == 2);
  // Without a delimiter the tag is part of the name.
  in.opts.delimiter = "";
  r = in.deliver(kMsg, {"bob+news@example.test"});
  CHECK(r[0].status.enhanced == "5.1.1");
}

TEST_CASE("local: a message already delivered to the mailbox is a loop (5.4.6)", "[local]") {
  Instance in;
  in.user("bob@example.test");
  in.user("carol@example.test");
  std::string looped = std::string("Delivered-To: <BOB@example.test>\n") + kMsg;
  auto r = in.deliver(looped, {"bob@example.test", "carol@example.test"});
  CHECK(r[0].status.is_perm());
  CHECK(r[0].status.enhanced == "5.4.6");
  CHECK(r[1].status.is_ok());
  CHECK(in.new_mail("bob").empty());
  CHECK(in.new_mail("carol").size() == 1);
  // A Delivered-To in the body is not a header: no loop.
  std::string in_body = std::string(kMsg) + "Delivered-To: bob@example.test\n";
  r = in.deliver(in_body, {"bob@example.test"});
  CHECK(r[0].status.is_ok());
}

TEST_CASE("local: three recipients of one job share one inode", "[local]") {
  Instance in;
  for (const char* u : {"bob", "carol", "dave"}) in.user(std::string(u) + "@example.test");
  auto r = in.deliver(kMsg, {"bob@example.test", "carol@example.test", "dave@example.test", "BOB@example.test"});
  for (const auto& x : r) CHECK(x.status.is_ok());
  struct stat first {};
  for (const char* u : {"bob", "carol", "dave"}) {
    auto f = in.new_mail(u);
    REQUIRE(f.size() == 1);  // bob, listed twice, gets one delivery
    struct stat st;
    REQUIRE(stat(f[0].c_str(), &st) == 0);
    CHECK(st.st_nlink == 3);
    if (first.st_ino == 0) first = st;
    CHECK(st.st_ino == first.st_ino);
  }
  std::string body = slurp(in.new_mail("dave")[0]);
  CHECK(body == std::string("Return-Path: <alice@sender.test>\n") + kMsg);
  CHECK(in.files(in.maildir("bob") + "/tmp").empty());
}

TEST_CASE("local: the null sender is Return-Path: <>", "[local]") {
  Instance in;
  in.user("bob@example.test");
  in.deliver(kMsg, {"bob@example.test"}, "");
  CHECK(slurp(in.new_mail("bob")[0]).rfind("Return-Path: <>\n", 0) == 0);
}

TEST_CASE("local: SMS request queued when the user's settings ask for it", "[local]") {
  Instance in;
  in.user("bob@example.test");
  in.user("carol@example.test");
  sluice::tables::SmsSettings s;
  s.phone = "+8613800138000";
  s.on = true;
  REQUIRE(in.tables->set_sms("bob@example.test", s).is_ok());
  s.phone = "+8613800138001";
  s.on = false;
  REQUIRE(in.tables->set_sms("carol@example.test", s).is_ok());
  auto r = in.deliver(kMsg, {"bob@example.test", "carol@example.test"});
  CHECK(r[0].status.is_ok());
  auto reqs = sluice::notify::list(in.cfg.path("queue.dir") + "/notify");
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].to == "+8613800138000");
  CHECK(reqs[0].rcpt == "bob@example.test");
  CHECK(reqs[0].from == "Alice <alice@sender.test>");
  CHECK(reqs[0].subject == "=?UTF-8?Q?caf=C3=A9?= and\tmore");
  CHECK(reqs[0].qid == "0123456789abc0001");
}

TEST_CASE("local: a table that cannot answer defers (4.3.0) and delivers nothing", "[local]") {
  Instance in;
  in.user("bob@example.test");
  in.alias("team@example.test", {"bob@example.test"});
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(in.cfg.path("tables.sqlite").c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "DROP TABLE aliases", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  auto r = in.deliver(kMsg, {"team@example.test"});
  CHECK(r[0].status.is_temp());
  CHECK(r[0].status.enhanced == "4.3.0");
  CHECK(in.new_mail("bob").empty());
}
