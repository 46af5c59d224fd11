#include <catch2/catch.hpp>

#include "delivery/quota/quota.hpp"
#include "local_fixture.hpp"

using local_test::Instance;
using sluice::quota::answer;

TEST_CASE("sluice-quota: full only when every mailbox is over") {
  Instance in;
  in.user("small@example.test", 1000);
  in.user("free@example.test", 0);
  in.user("other@example.test", 100000);
  in.alias("both@example.test", {"small@example.test", "other@example.test"});
  in.alias("out@example.test", {"small@example.test", "someone@elsewhere.test"});

  // Not delivered to yet: no mailbox, nothing used.
  CHECK(answer("quota small@example.test 900", *in.tables, in.opts) == "ok");
  std::string body(800, 'x');
  REQUIRE(in.deliver(std::string("Subject: a\n\n") + body, {"small@example.test"})[0].status.is_ok());
  CHECK(answer("quota small@example.test 0", *in.tables, in.opts) == "ok");
  std::string full = answer("quota small@example.test 500", *in.tables, in.opts);
  CHECK(full.rfind("full 4.2.2 mailbox small@example.test is over quota (", 0) == 0);
  CHECK(answer("quota Small+tag@Example.test 500", *in.tables, in.opts).rfind("full 4.2.2 ", 0) == 0);
  // Larger than the whole quota: it can never fit.
  CHECK(answer("quota small@example.test 5000", *in.tables, in.opts).rfind("full 5.2.2 ", 0) == 0);
  // An alias fits when one of its mailboxes has room, or it forwards.
  CHECK(answer("quota both@example.test 500", *in.tables, in.opts) == "ok");
  CHECK(answer("quota out@example.test 500", *in.tables, in.opts) == "ok");
  CHECK(answer("quota free@example.test 99999999", *in.tables, in.opts) == "ok");
  CHECK(answer("quota nobody@example.test 1", *in.tables, in.opts) == "ok");

  auto bounce = in.opts;
  bounce.quota_bounce = true;
  CHECK(answer("quota small@example.test 500", *in.tables, bounce).rfind("full 5.2.2 ", 0) == 0);

  for (const char* bad : {"quota", "quota small@example.test", "quota small@example.test -1",
                          "quota small@example.test 12x", "size small@example.test 1",
                          "quota small@example.test 99999999999999999999"})
    CHECK(answer(bad, *in.tables, in.opts).rfind("temp ", 0) == 0);
}
