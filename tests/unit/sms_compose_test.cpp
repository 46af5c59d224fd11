// The notice text from raw headers (RFC 2047 in many charsets), the user's
// rule, quiet hours, the daily counts, and old spool files.
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

#include "common/notify_spool.hpp"
#include "delivery/sms/compose.hpp"
#include "delivery/sms/state.hpp"

using namespace sluice;
using namespace sluice::sms;

TEST_CASE("sms compose: RFC 2047 words in Chinese, Big5 and ISO-8859 charsets decode to UTF-8") {
  CHECK(decode_text("=?GB2312?B?u+HS6c2o1qo=?=") == "会议通知");
  CHECK(decode_text("=?GBK?B?j4jI/Q==?=") == "張三");
  CHECK(decode_text("=?GB18030?B?lTKCNrLiytQ=?=") == "𠀀测试");
  CHECK(decode_text("=?Big5?B?u0/GVw==?=") == "臺灣");
  CHECK(decode_text("=?ISO-8859-1?Q?Gr=FC=DFe?=") == "Grüße");
  CHECK(decode_text("=?ISO-8859-2?Q?=A3=F3d=BC?=") == "Łódź");
  CHECK(decode_text("=?ISO-8859-5?B?v+DY0tXi?=") == "Привет");
  CHECK(decode_text("=?ISO-8859-7?B?yuHr5+zd8eE=?=") == "Καλημέρα");
  CHECK(decode_text("Re: =?UTF-8?B?Wm/DqyDinJM=?= now") == "Re: Zoë ✓ now");
  // Adjacent words join without the white space between them (RFC 2047 6.2).
  CHECK(decode_text("=?UTF-8?Q?a?= =?UTF-8?Q?b?=") == "ab");
}

TEST_CASE("sms compose: From name and address, Subj") {
  notify::Request r;
  r.from = "=?GB2312?B?1cXI/Q==?= <zhangsan@example.cn>";
  r.subject = "=?GB2312?B?u+HS6c2o1qo=?=";
  CHECK(compose(r) == "From: 张三 <zhangsan@example.cn> Subj: 会议通知");
  r.from = "bob@example.test";
  r.subject = "hello\n\tthere";
  CHECK(compose(r) == "From: bob@example.test Subj: hello there");
  r.from = "\"Smith, Ann\" <ann@x.test>";
  CHECK(parse_from(r.from).name == "Smith, Ann");
  CHECK(parse_from(r.from).addr == "ann@x.test");
  r.text = "disk full\r\non mx1";
  CHECK(compose(r) == "disk full on mx1");
}

TEST_CASE("sms rule: match words against decoded sender and subject") {
  notify::Request r;
  r.from = "=?GB2312?B?1cXI/Q==?= <zhangsan@example.cn>";
  r.subject = "=?GB2312?B?u+HS6c2o1qo=?=";
  CHECK(rule_matches(r));  // no words: all mail
  r.match = {"invoice"};
  CHECK_FALSE(rule_matches(r));
  r.match = {"invoice", "会议"};
  CHECK(rule_matches(r));  // in the decoded subject
  r.match = {"ZHANGSAN"};
  CHECK(rule_matches(r));  // the address, case-insensitively
  r.match = {"张三"};
  CHECK(rule_matches(r));  // the decoded name
  r.text = "manual";
  r.match = {"nothing"};
  CHECK(rule_matches(r));  // an admin's own text always goes
}

TEST_CASE("sms state: quiet hours, also across midnight") {
  int s, e;
  REQUIRE(parse_quiet("22:00-07:30", s, e));
  CHECK(s == 22 * 60);
  CHECK(e == 7 * 60 + 30);
  CHECK_FALSE(parse_quiet("22-07", s, e));
  CHECK_FALSE(parse_quiet("25:00-07:00", s, e));
  struct tm t = {};
  t.tm_hour = 23;
  CHECK(in_quiet("22:00-07:30", t));
  t.tm_hour = 7, t.tm_min = 29;
  CHECK(in_quiet("22:00-07:30", t));
  t.tm_min = 30;
  CHECK_FALSE(in_quiet("22:00-07:30", t));
  t.tm_hour = 12, t.tm_min = 0;
  CHECK(in_quiet("12:00-13:00", t));
  CHECK_FALSE(in_quiet("13:00-14:00", t));
  CHECK_FALSE(in_quiet("", t));
  CHECK_FALSE(in_quiet("garbage", t));
}

TEST_CASE("sms state: daily counts per user and day survive a new object") {
  char tmpl[] = "/tmp/sms-state-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  std::string dir = std::string(tmpl) + "/state";
  {
    DailyCounts c(dir);
    CHECK(c.count("bob@example.test", "2026-11-22") == 0);
    REQUIRE(c.add("bob@example.test", "2026-11-22"));
    REQUIRE(c.add("bob@example.test", "2026-11-22"));
    REQUIRE(c.add("../evil", "2026-11-22"));
  }
  DailyCounts again(dir);
  CHECK(again.count("bob@example.test", "2026-11-22") == 2);
  CHECK(again.count("bob@example.test", "2026-11-23") == 0);  // a new day starts at 0
  CHECK(again.count("alice@example.test", "2026-11-22") == 0);
  for (auto& f : std::filesystem::directory_iterator(dir))
    CHECK(f.path().filename().string().rfind("cap.", 0) == 0);  // names never come from the address raw
  std::filesystem::remove_all(tmpl);
}

TEST_CASE("sms spool: the rule travels in the request; old files still parse") {
  notify::Request r;
  r.to = "+8613800138000";
  r.rcpt = "bob@example.test";
  r.from = "a@b";
  r.subject = "s";
  r.qid = "Q1";
  r.created = 100;
  r.match = {"urgent", "boss man"};
  r.quiet = "22:00-07:00";
  r.daily_cap = 5;
  auto back = notify::parse(notify::serialize(r));
  REQUIRE(back.ok());
  CHECK(back->match == r.match);
  CHECK(back->quiet == "22:00-07:00");
  CHECK(back->daily_cap == 5);
  auto old = notify::parse("to=+2B861\nrcpt=\nfrom=x\nsubject=y\ntext=\nqid=q\ncreated=5\n");
  REQUIRE(old.ok());
  CHECK(old->match.empty());
  CHECK(old->quiet.empty());
  CHECK(old->daily_cap == 0);
}
