// The pure parts of the `sluice` CLI: option parsing, value checks, the
// queue line shared with mailq, and the configuration `sluice init` writes.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "admin/cli/cli.hpp"

using namespace sluice;
using namespace sluice::cli;

TEST_CASE("options may appear anywhere; -- ends them; unknown ones are errors") {
  Opts o;
  std::string err;
  REQUIRE(parse_opts({"a@x", "--phone", "+123", "--on", "--quiet=22:00-07:00", "--", "--off"},
                     {{"--phone", true}, {"--on", false}, {"--off", false}, {"--quiet", true}}, o, err));
  CHECK(o.positional == std::vector<std::string>{"a@x", "--off"});
  CHECK(o.get("--phone") == "+123");
  CHECK(o.get("--quiet") == "22:00-07:00");
  CHECK(o.has("--on"));
  CHECK_FALSE(o.has("--off"));

  Opts o2;
  CHECK_FALSE(parse_opts({"--bogus"}, {{"--on", false}}, o2, err));
  CHECK(err.find("--bogus") != std::string::npos);
  Opts o3;
  CHECK_FALSE(parse_opts({"--phone"}, {{"--phone", true}}, o3, err));
  CHECK(err.find("needs a value") != std::string::npos);
  Opts o4;
  CHECK_FALSE(parse_opts({"--on=1"}, {{"--on", false}}, o4, err));
}

TEST_CASE("E.164 numbers: +, no leading zero, 7 to 15 digits") {
  CHECK(valid_e164("+8613800138000"));
  CHECK(valid_e164("+4915112345678"));
  CHECK(valid_e164("+1234567"));
  CHECK(valid_e164("+123456789012345"));
  CHECK_FALSE(valid_e164("+1234567890123456"));  // 16 digits
  CHECK_FALSE(valid_e164("+123456"));            // too short
  CHECK_FALSE(valid_e164("8613800138000"));      // no +
  CHECK_FALSE(valid_e164("+0613800138000"));     // country codes never start with 0
  CHECK_FALSE(valid_e164("+86 138 0013 8000"));
  CHECK_FALSE(valid_e164("+86-13800138000"));
  CHECK_FALSE(valid_e164(""));
}

TEST_CASE("quiet hours are HH:MM-HH:MM within a day") {
  CHECK(valid_quiet("22:00-07:00"));
  CHECK(valid_quiet("00:00-23:59"));
  CHECK_FALSE(valid_quiet("24:00-07:00"));
  CHECK_FALSE(valid_quiet("22:60-07:00"));
  CHECK_FALSE(valid_quiet("22:00 07:00"));
  CHECK_FALSE(valid_quiet("2:00-07:00"));
  CHECK_FALSE(valid_quiet("22:00-07:00x"));
  CHECK_FALSE(valid_quiet(""));
}

TEST_CASE("match words split on commas and blanks; quotas accept sizes") {
  CHECK(split_words("boss, urgent  alert,,x") == std::vector<std::string>{"boss", "urgent", "alert", "x"});
  CHECK(split_words(" , ").empty());
  long long q = 0;
  REQUIRE(parse_quota("10M", q));
  CHECK(q == 10 * 1024 * 1024);
  REQUIRE(parse_quota("1000000", q));
  CHECK(q == 1000000);
  REQUIRE(parse_quota("default", q));
  CHECK(q == -1);
  REQUIRE(parse_quota("0", q));
  CHECK(q == 0);
  CHECK_FALSE(parse_quota("-5", q));
  CHECK_FALSE(parse_quota("ten", q));
}

TEST_CASE("queue lines: qid, ISO time, size, state, tries, sender, pending recipients") {
  CHECK(iso_time(0) == "1970-01-01T00:00:00Z");
  CHECK(iso_time(1714564800) == "2024-05-01T12:00:00Z");
  queue::Listed l;
  l.entry.qid = "0123456789ABCDEF";
  l.entry.arrival = 1714564800;
  l.entry.msg_length = 1234;
  l.entry.env.sender = "";
  l.entry.env.rcpts = {{"a@x.test", "", "", queue::RcptState::pending, 0},
                       {"b@x.test", "", "", queue::RcptState::delivered, 0},
                       {"c@x.test", "", "", queue::RcptState::pending, 0}};
  CHECK(queue_line(l) == "0123456789ABCDEF 2024-05-01T12:00:00Z 1234 active 0 <> a@x.test c@x.test");
  l.entry.tries = 2;
  l.entry.env.sender = "s@y.test";
  CHECK(queue_line(l) == "0123456789ABCDEF 2024-05-01T12:00:00Z 1234 deferred 2 s@y.test a@x.test c@x.test");
  l.held = true;
  CHECK(queue_state(l) == "held");
}

TEST_CASE("the configuration init writes loads, with the development ports") {
  char dir[] = "/tmp/sluice-cli-XXXXXX";
  REQUIRE(mkdtemp(dir));
  std::string etc = std::string(dir) + "/etc";
  REQUIRE(mkdir(etc.c_str(), 0755) == 0);
  std::string file = etc + "/sluice.toml";
  std::ofstream(file) << config_template("mx.example.test");
  auto c = Config::load(file);
  REQUIRE(c.ok());
  CHECK(c->hostname() == "mx.example.test");
  CHECK(c->root() == dir);
  CHECK(c->list("smtpd.listen") == std::vector<std::string>{"127.0.0.1:2525"});
  CHECK(c->list("smtpd.submission_listen") == std::vector<std::string>{"127.0.0.1:2587"});
  CHECK(c->list("smtpd.submissions_listen") == std::vector<std::string>{"127.0.0.1:2465"});
  CHECK(c->path("queue.dir") == std::string(dir) + "/queue");
  CHECK(c->is_set("local.mail_dir"));
  CHECK(c->is_set("limits.message_size"));
  unlink(file.c_str());
  rmdir(etc.c_str());
  rmdir(dir);
}
