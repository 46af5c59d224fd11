#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>

#include "common/config.hpp"
#include "common/deliver_proto.hpp"

using namespace sluice;

static std::string write_tmp(const std::string& body) {
  char tmpl[] = "/tmp/sluice-cfg-XXXXXX";
  int fd = mkstemp(tmpl);
  std::ofstream(tmpl) << body;
  close(fd);
  return tmpl;
}

TEST_CASE("durations and sizes parse as documented") {
  long long n;
  REQUIRE(parse_duration("5m", n));
  CHECK(n == 300);
  REQUIRE(parse_duration("1h30m", n));
  CHECK(n == 5400);
  REQUIRE(parse_duration("90", n));
  CHECK(n == 90);
  CHECK_FALSE(parse_duration("1h30", n));
  CHECK_FALSE(parse_duration("abc", n));
  REQUIRE(parse_size("10M", n));
  CHECK(n == 10 * 1024 * 1024);
  CHECK_FALSE(parse_size("10X", n));
}

TEST_CASE("config defaults and overrides") {
  auto f = write_tmp("hostname = \"mx.example.test\"\n[queue]\nretry_first = \"10s\"\n[routes]\n\"*\" = \"127.0.0.1:2500\"\n");
  auto c = Config::load(f);
  REQUIRE(c.ok());
  CHECK(c->hostname() == "mx.example.test");
  CHECK(c->seconds("queue.retry_first") == 10);
  CHECK(c->seconds("queue.retry_max") == 3600);
  CHECK(c->map("routes").at("*") == "127.0.0.1:2500");
  CHECK(c->is_set("queue.retry_first"));
  CHECK_FALSE(c->is_set("queue.retry_max"));
  std::remove(f.c_str());
}

TEST_CASE("unknown keys and bad values name the line") {
  auto f = write_tmp("hostname = \"a\"\n\n[queue]\nretry_frist = \"10s\"\n");
  auto c = Config::load(f);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().text.find(":4: unknown key 'queue.retry_frist'") != std::string::npos);
  std::remove(f.c_str());
  f = write_tmp("[queue]\nlifetime = \"forever\"\n");
  c = Config::load(f);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().text.find(":2: 'queue.lifetime' must be a duration") != std::string::npos);
  std::remove(f.c_str());
  f = write_tmp("[queue\n");
  c = Config::load(f);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().text.find(":1:") != std::string::npos);
  std::remove(f.c_str());
}

TEST_CASE("deliver protocol round-trips hostile fields") {
  deliver::Job j;
  j.qid = "Q1";
  j.offset = 64;
  j.length = 100;
  j.sender = "\"john doe\"@example.test";
  j.params["ret"] = "HDRS";
  j.rcpts.push_back({0, "a b+c=d@x\n", "SUCCESS,DELAY", "rfc822;a@b"});
  auto d = deliver::decode_job(deliver::encode_job(j));
  REQUIRE(d.ok());
  CHECK(d->sender == j.sender);
  CHECK(d->rcpts[0].address == "a b+c=d@x\n");
  CHECK(d->rcpts[0].notify == "SUCCESS,DELAY");
  CHECK(d->params["ret"] == "HDRS");
  std::vector<deliver::RcptResult> rs{{0, Status::perm("5.1.1", "550 5.1.1 no such user"), "mx.example.org"}};
  auto back = deliver::decode_results(deliver::encode_results(rs));
  REQUIRE(back.ok());
  CHECK((*back)[0].status.is_perm());
  CHECK((*back)[0].status.text == "550 5.1.1 no such user");
  CHECK((*back)[0].remote_mta == "mx.example.org");
  CHECK_FALSE(deliver::decode_job("job x 1\nend\n").ok());
  CHECK_FALSE(deliver::decode_job("job x 0 -1\nsender +G\nend\n").ok());
}
