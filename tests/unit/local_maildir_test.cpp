// sluice-local: quotas (maildirsize), reading the message, header fields.
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "delivery/local/maildir.hpp"
#include "delivery/local/message.hpp"
#include "local_fixture.hpp"

using namespace local_test;
using namespace sluice::local;

namespace {

// The usage a maildirsize file records: the sum of its delta lines.
std::pair<std::string, long long> quota_file(const std::string& root) {
  std::string text = slurp(root + "/maildirsize");
  std::istringstream in(text);
  std::string def, line;
  std::getline(in, def);
  long long bytes = 0, b, c;
  while (in >> b >> c) bytes += b;
  return {def, bytes};
}

}  // namespace

TEST_CASE("local: over quota defers (4.2.2) and maildirsize follows deliveries", "[local]") {
  Instance in;
  long long size = static_cast<long long>(strlen(kMsg)) + strlen("Return-Path: <alice@sender.test>\n") +
                   strlen("Delivered-To: bob@example.test\n");
  in.user("bob@example.test", 2 * size + 10);
  auto r = in.deliver(kMsg, {"bob@example.test"});
  CHECK(r[0].status.is_ok());
  auto [def, used] = quota_file(in.maildir("bob"));
  CHECK(def == std::to_string(2 * size + 10) + "S");
  CHECK(used == size);
  r = in.deliver(kMsg, {"bob@example.test"});
  CHECK(r[0].status.is_ok());
  CHECK(quota_file(in.maildir("bob")).second == 2 * size);
  r = in.deliver(kMsg, {"bob@example.test"});
  CHECK(r[0].status.is_temp());
  CHECK(r[0].status.enhanced == "4.2.2");
  CHECK(in.new_mail("bob").size() == 2);
  CHECK(quota_file(in.maildir("bob")).second == 2 * size);
}

TEST_CASE("local: over quota bounces (5.2.2) when local.quota_exceeded is bounce", "[local]") {
  Instance in;
  in.user("bob@example.test", 100);
  in.user("carol@example.test", 0);  // no quota
  in.opts.quota_bounce = true;
  auto r = in.deliver(kMsg, {"bob@example.test", "carol@example.test"});
  CHECK(r[0].status.is_perm());
  CHECK(r[0].status.enhanced == "5.2.2");
  CHECK(r[1].status.is_ok());
  CHECK(in.new_mail("bob").empty());
  CHECK(in.new_mail("carol").size() == 1);
  CHECK_FALSE(fs::exists(in.maildir("carol") + "/maildirsize"));
}

TEST_CASE("local: the default quota applies to users without one", "[local]") {
  Instance in;
  in.user("bob@example.test");  // quota -1
  in.opts.default_quota = 50;
  in.opts.quota_bounce = true;
  auto r = in.deliver(kMsg, {"bob@example.test"});
  CHECK(r[0].status.enhanced == "5.2.2");
}

TEST_CASE("local: maildirsize is rebuilt when missing or when the quota changed", "[local]") {
  Instance in;
  std::string root = in.maildir("bob");
  REQUIRE(ensure_maildir(root).is_ok());
  REQUIRE(sluice::make_dirs(root + "/.Sent/cur", 0700));
  std::ofstream(root + "/cur/1.M1P1Q1.h,S=1000:2,S") << "x";       // size from the name
  std::ofstream(root + "/new/2.M1P1Q1.h") << std::string(300, 'y');  // size from stat
  std::ofstream(root + "/.Sent/cur/3.M1P1Q1.h,S=50:2,S") << "z";
  auto u = quota_usage(root, "5000S");
  REQUIRE(u.ok());
  CHECK(u->bytes == 1350);
  CHECK(u->count == 3);
  CHECK(slurp(root + "/maildirsize") == "5000S\n1350 3\n");
  quota_add(root, 10, 1);
  quota_add(root, -50, -1);  // an expunge as Dovecot writes it
  u = quota_usage(root, "5000S");
  REQUIRE(u.ok());
  CHECK(u->bytes == 1310);
  CHECK(u->count == 3);
  // A different definition line means a different quota: recount.
  u = quota_usage(root, "6000S");
  REQUIRE(u.ok());
  CHECK(u->bytes == 1350);
  CHECK(slurp(root + "/maildirsize") == "6000S\n1350 3\n");
  CHECK(quota_definition(6000, 10) == "6000S,10C");
}

TEST_CASE("local: the message is read with pread from the job's range, or from a pipe", "[local]") {
  Instance in;
  std::string path = in.root + "/queued";
  REQUIRE(sluice::write_file_atomic(path, "HEADERmessage bytes\nTRAILER", 0600));
  sluice::UniqueFd fd(::open(path.c_str(), O_RDONLY));
  auto m = read_message(fd.get(), 6, 14);
  REQUIRE(m.ok());
  CHECK(*m == "message bytes\n");
  m = read_message(fd.get(), 6, -1);
  REQUIRE(m.ok());
  CHECK(*m == "message bytes\nTRAILER");
  m = read_message(fd.get(), 6, 1000);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().is_temp());
  int p[2];
  REQUIRE(pipe(p) == 0);
  REQUIRE(write(p[1], "piped\n", 6) == 6);
  close(p[1]);
  m = read_message(p[0], 0, -1);
  close(p[0]);
  REQUIRE(m.ok());
  CHECK(*m == "piped\n");
}

TEST_CASE("local: header fields are found in the header section only, unfolded", "[local]") {
  std::string msg =
      "Received: from a\r\n\tby b\r\n"
      "subject: one\r\n  two\r\n"
      "Delivered-To: x@example.test\r\n"
      "delivered-to:   <Y@Example.Test> \r\n"
      "\r\n"
      "Subject: not a header\r\n";
  CHECK(header_value(msg, "Subject") == "one  two");
  CHECK(header_values(msg, "SUBJECT").size() == 1);
  CHECK(header_value(msg, "Received") == "from a\tby b");
  CHECK(header_value(msg, "From").empty());
  CHECK(has_delivered_to(msg, "x@example.test"));
  CHECK(has_delivered_to(msg, "y@example.test"));
  CHECK_FALSE(has_delivered_to(msg, "z@example.test"));
  CHECK_FALSE(has_delivered_to("\nDelivered-To: x@example.test\n", "x@example.test"));
}
