// The scheduler's side of a pool connection, against a real SOCK_SEQPACKET
// listener whose member end the test plays: jobs sent ahead to a busy
// deliverer, answers in order, and a deliverer that dies with jobs in flight.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>

#include "common/fd.hpp"
#include "queue/sched/transport.hpp"

using namespace sluice;
using sched::Conn;
using sched::Transport;

namespace {

struct Pool {
  std::string base, path;
  UniqueFd listener;
  Pool() {
    char tmpl[] = "/tmp/sluice-transport-XXXXXX";
    base = mkdtemp(tmpl);
    path = base + "/local.sock";
    listener.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    struct sockaddr_un sa {};
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    REQUIRE(::listen(listener.get(), 8) == 0);
  }
  ~Pool() { std::filesystem::remove_all(base); }
  // The member's end of the next connection the transport made.
  UniqueFd member() { return UniqueFd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC)); }
};

deliver::Job job(const std::string& qid) {
  deliver::Job j;
  j.qid = qid;
  j.sender = "alice@example.test";
  j.rcpts.push_back({2, "bob@example.test", "", ""});
  return j;
}

Conn* pick(Transport& t) {
  std::string error;
  Conn* c = t.pick(error);
  CHECK(error.empty());
  return c;
}

// Reads a job as a deliverer would and answers it with STATUS.
std::string answer(int member, const Status& status) {
  std::string packet;
  REQUIRE(deliver::recv_packet(member, packet, nullptr));
  auto j = deliver::decode_job(packet);
  REQUIRE(j.ok());
  REQUIRE(deliver::send_packet(member, deliver::encode_results({{j->rcpts[0].index, status, "", ""}})));
  return j->qid;
}

}  // namespace

TEST_CASE("transport: jobs go ahead to a busy deliverer up to the depth, then to another", "[sched]") {
  Pool pool;
  Transport t("local", pool.path, 2, 1000, 3);
  Conn* first = pick(t);
  REQUIRE(first);
  REQUIRE(t.send(*first, job("q1"), -1));
  UniqueFd m1 = pool.member();
  // Busy and young: the next two join it, for the deliverer's next round.
  for (const char* q : {"q2", "q3"}) {
    Conn* c = pick(t);
    REQUIRE(c == &t.conns()[0]);
    REQUIRE(t.send(*c, job(q), -1));
  }
  CHECK(t.conns()[0].inflight.size() == 3);
  // Full: a second connection.
  Conn* second = pick(t);
  REQUIRE(second);
  CHECK(second != &t.conns()[0]);
  REQUIRE(t.send(*second, job("q4"), -1));
  UniqueFd m2 = pool.member();
  CHECK(t.conns().size() == 2);
  // Both connections full and at the limit of two: nothing.
  for (const char* q : {"q5", "q6"}) REQUIRE(t.send(*pick(t), job(q), -1));
  CHECK(pick(t) == nullptr);
  CHECK(t.busy_count() == 2);

  // The deliverer answers its three; the scheduler gets them in order, in one call.
  for (const char* q : {"q1", "q2", "q3"}) CHECK(answer(m1.get(), Status::ok("delivered")) == q);
  auto answers = t.receive(t.conns()[0]);
  REQUIRE(answers.size() == 3);
  CHECK(answers[0].job.qid == "q1");
  CHECK(answers[2].job.qid == "q3");
  for (const auto& a : answers) {
    REQUIRE(a.results.size() == 1);
    CHECK(a.results[0].index == 2);
    CHECK(a.results[0].status.is_ok());
  }
  CHECK(!t.conns()[0].busy());
  CHECK(t.take_lost().empty());
}

TEST_CASE("transport: a deliverer that dies takes every job in flight with it", "[sched]") {
  Pool pool;
  Transport t("local", pool.path, 1, 1000, 4);
  for (const char* q : {"a", "b", "c"}) REQUIRE(t.send(*pick(t), job(q), -1));
  UniqueFd m = pool.member();
  CHECK(answer(m.get(), Status::temp("4.2.2", "over quota")) == "a");
  m.reset();  // dies before answering b and c
  // The answer it sent before dying is read; the other two are lost with it.
  auto answers = t.receive(t.conns()[0]);
  REQUIRE(answers.size() == 1);
  REQUIRE(answers[0].results.size() == 1);
  CHECK(answers[0].results[0].status.enhanced == "4.2.2");
  auto lost = t.take_lost();
  REQUIRE(lost.size() == 2);
  CHECK(lost[0].qid == "b");
  CHECK(lost[1].qid == "c");
  CHECK(t.conns()[0].fd < 0);
  CHECK(t.take_lost().empty());
}

TEST_CASE("transport: a connection takes no more than max_jobs and closes after its last answer", "[sched]") {
  Pool pool;
  Transport t("local", pool.path, 1, 2, 4);
  for (const char* q : {"x", "y"}) REQUIRE(t.send(*pick(t), job(q), -1));
  UniqueFd m = pool.member();
  // Two sent of two: the deliverer may leave after them, so nothing more goes.
  CHECK(pick(t) == nullptr);
  for (const char* q : {"x", "y"}) CHECK(answer(m.get(), Status::ok("delivered")) == q);
  auto answers = t.receive(t.conns()[0]);
  CHECK(answers.size() == 2);
  CHECK(t.conns()[0].fd < 0);
  // A fresh connection for the next job.
  Conn* c = pick(t);
  REQUIRE(c);
  CHECK(c->fd >= 0);
  CHECK(c->sent == 0);
}

TEST_CASE("transport: remote connections carry one job at a time", "[sched]") {
  Pool pool;
  Transport t("remote", pool.path, 2, 1000);
  REQUIRE(t.send(*pick(t), job("r1"), -1));
  Conn* c = pick(t);
  REQUIRE(c);
  CHECK(!c->busy());
  REQUIRE(t.send(*c, job("r2"), -1));
  CHECK(pick(t) == nullptr);
}

TEST_CASE("transport: a deliverer whose oldest job is no longer young gets no more", "[sched]") {
  Pool pool;
  Transport t("local", pool.path, 2, 1000, 16);
  REQUIRE(t.send(*pick(t), job("slow"), -1));
  // Past the 20 ms a round normally takes: the deliverer is on something slow.
  ::usleep(30 * 1000);
  Conn* c = pick(t);
  REQUIRE(c);
  CHECK(!c->busy());
  CHECK(t.conns().size() == 2);
}
