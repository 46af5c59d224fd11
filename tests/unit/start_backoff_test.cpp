#include <catch2/catch.hpp>

#include "admin/start/backoff.hpp"

using namespace sluice::start;
using namespace std::chrono_literals;

TEST_CASE("start backoff: a program dying at start waits 1, 2, 4 ... up to 60 s") {
  Backoff b;
  CHECK(b.on_exit(200ms, false) == 1s);
  CHECK(b.on_exit(200ms, false) == 2s);
  CHECK(b.on_exit(3s, false) == 4s);
  CHECK(b.on_exit(9999ms, false) == 8s);
  CHECK(b.on_exit(0ms, false) == 16s);
  CHECK(b.on_exit(0ms, false) == 32s);
  CHECK(b.on_exit(0ms, false) == 60s);
  CHECK(b.on_exit(0ms, false) == 60s);
}

TEST_CASE("start backoff: a long run restarts at once and forgets earlier failures") {
  Backoff b;
  b.on_exit(1s, false);
  b.on_exit(1s, false);
  CHECK(b.next_delay() == 4s);
  CHECK(b.on_exit(10s, false) == 0ms);  // crashed, but after a long run
  CHECK(b.next_delay() == 1s);
  CHECK(b.on_exit(1h, true) == 0ms);    // a pool member's max-jobs exit
  CHECK(b.on_exit(100ms, false) == 1s);
}

TEST_CASE("start backoff: a quick clean exit restarts at once but keeps the failure series") {
  Backoff b;
  CHECK(b.on_exit(500ms, false) == 1s);
  CHECK(b.on_exit(500ms, true) == 0ms);
  CHECK(b.on_exit(500ms, false) == 2s);
}

TEST_CASE("start backoff: the policy is a value") {
  Backoff b(BackoffPolicy{Millis{100}, Millis{10}, Millis{25}});
  CHECK(b.on_exit(50ms, false) == 10ms);
  CHECK(b.on_exit(50ms, false) == 20ms);
  CHECK(b.on_exit(50ms, false) == 25ms);
  CHECK(b.on_exit(100ms, false) == 0ms);
}
