// sluice-local: the forwarding envelope and outcome mapping, and a pool
// member serving jobs over a SOCK_SEQPACKET listener as sluice-sched uses it.
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <thread>

#include "delivery/local/forward.hpp"
#include "delivery/local/pool.hpp"
#include "local_fixture.hpp"
#include "queue/store/queue.hpp"

using namespace local_test;
using namespace sluice::local;

namespace {
int exited(int code) { return code << 8; }  // a wait status as waitpid(2) reports an exit
}  // namespace

TEST_CASE("local: the forwarding envelope is one sluice-inject parses", "[local]") {
  ForwardRequest r;
  r.sender = "alice@sender.test";
  r.target = "bob@outside.test";
  r.params = {{"ret", "HDRS"}, {"envid", "ID1"}, {"auth", "ignored"}};
  sluice::queue::Envelope e;
  sluice::queue::EnvelopeError err;
  REQUIRE(sluice::queue::parse_envelope(forward_envelope(r), e, err));
  CHECK(e.sender == "alice@sender.test");
  REQUIRE(e.rcpts.size() == 1);
  CHECK(e.rcpts[0].address == "bob@outside.test");
  CHECK(e.param("ret") == "HDRS");
  CHECK(e.param("envid") == "ID1");
  r.sender = "";
  r.params.clear();
  REQUIRE(sluice::queue::parse_envelope(forward_envelope(r), e, err));
  CHECK(e.sender.empty());
  CHECK(forward_envelope(r) == std::string("F\0Tbob@outside.test\0\0", 21));
}

TEST_CASE("local: sluice-inject's exit and reply map to the recipient's result", "[local]") {
  auto s = map_inject_result(exited(0), "", "x@o.test");
  CHECK(s.is_ok());
  CHECK(s.text == "forwarded to x@o.test, queued");
  s = map_inject_result(exited(0), "prog=sluice-inject qid=0123abc event=queued\n", "x@o.test");
  CHECK(s.text == "forwarded to x@o.test, queued as 0123abc");
  s = map_inject_result(exited(31), "", "x@o.test");
  CHECK(s.is_perm());
  s = map_inject_result(exited(71), "5.7.1 rejected by policy\n", "x@o.test");
  CHECK(s.is_perm());
  CHECK(s.enhanced == "5.7.1");
  CHECK(s.text.find("rejected by policy") != std::string::npos);
  s = map_inject_result(exited(53), "4.3.1 disk full\n", "x@o.test");
  CHECK(s.is_temp());
  CHECK(s.enhanced == "4.3.1");
  s = map_inject_result(exited(81), "", "x@o.test");
  CHECK(s.is_temp());
  s = map_inject_result(SIGKILL, "", "x@o.test");
  CHECK(s.is_temp());
}

TEST_CASE("local: a forward that cannot run defers the alias; its local targets are delivered", "[local]") {
  Instance in;
  in.user("bob@example.test");
  in.alias("team@example.test", {"bob@example.test", "friend@outside.test"});
  in.opts.inject = in.root + "/no-such-sluice-inject";
  auto r = in.deliver(kMsg, {"team@example.test"});
  CHECK(r[0].status.is_temp());
  CHECK(r[0].status.text.find("friend@outside.test") != std::string::npos);
  CHECK(in.new_mail("bob").size() == 1);
  // A message that already passed through this alias is a loop.
  r = in.deliver(std::string("Delivered-To: team@example.test\n") + kMsg, {"team@example.test"});
  CHECK(r[0].status.is_perm());
  CHECK(r[0].status.enhanced == "5.4.6");
}

TEST_CASE("local: a pool member serves jobs over the listener, then exits after max_use", "[local]") {
  Instance in;
  in.user("bob@example.test");
  std::string sock = in.root + "/local.sock";
  sluice::UniqueFd lfd(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  REQUIRE(sock.size() < sizeof sa.sun_path);
  memcpy(sa.sun_path, sock.c_str(), sock.size() + 1);
  REQUIRE(bind(lfd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  REQUIRE(listen(lfd.get(), 4) == 0);

  Deliverer d(in.opts, *in.tables);
  int rc = -1;
  std::thread member([&] {
    rc = run_pool(lfd.get(), [&](const auto& jobs, const auto& fds) { return d.deliver_round(jobs, fds); }, 64, 8 << 20, 2);
  });
  std::string path = in.root + "/queued";
  std::string file = std::string("HDR\n") + kMsg + "TRAILER\n";
  REQUIRE(sluice::write_file_atomic(path, file, 0600));
  sluice::UniqueFd msg(::open(path.c_str(), O_RDONLY));

  bool ok = true;
  for (int round = 0; round < 2 && ok; round++) {
    sluice::UniqueFd c(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    struct timeval tv {10, 0};
    setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ok = connect(c.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    sluice::deliver::Job job;
    job.qid = "pooljob" + std::to_string(round);
    job.sender = "alice@sender.test";
    job.offset = 4;
    job.length = static_cast<long long>(strlen(kMsg));
    job.rcpts.push_back({7, "bob@example.test", "", ""});
    std::string answer;
    ok = ok && sluice::deliver::send_packet(c.get(), sluice::deliver::encode_job(job), msg.get()) &&
         sluice::deliver::recv_packet(c.get(), answer, nullptr);
    CHECK(ok);
    auto res = sluice::deliver::decode_results(answer);
    // No REQUIRE while the member thread runs: it must be joined first.
    ok = ok && res.ok() && res->size() == 1;
    CHECK(ok);
    if (ok) {
      CHECK((*res)[0].index == 7);
      CHECK((*res)[0].status.is_ok());
    }
  }
  if (!ok) shutdown(lfd.get(), SHUT_RDWR);  // never leave the member blocked in accept
  member.join();
  CHECK(rc == 0);
  auto files = in.new_mail("bob");
  REQUIRE(files.size() == 2);
  CHECK(slurp(files[0]).find("TRAILER") == std::string::npos);
  CHECK(slurp(files[0]).find("HDR") == std::string::npos);
}

// The scheduler may send several jobs without waiting; a member delivers
// those already waiting as one round and answers each, in order, with the
// outcome it would have had alone.
TEST_CASE("local: jobs sent ahead are delivered as one round, answered in order", "[local]") {
  Instance in;
  in.user("bob@example.test");
  in.user("carol@example.test", 100);  // too small for the message: over quota
  in.user("dave@example.test", 250);   // room for one copy: the round counts the first
  Deliverer d(in.opts, *in.tables);
  std::string path = in.root + "/queued";
  REQUIRE(sluice::write_file_atomic(path, std::string("HDR\n") + kMsg + "TRAILER\n", 0600));
  std::vector<sluice::UniqueFd> fds;
  std::vector<int> raw;
  std::vector<sluice::deliver::Job> jobs;
  const char* to[] = {"bob@example.test",  "nobody@example.test", "carol@example.test",
                      "bob@example.test",  "dave@example.test",   "dave@example.test"};
  for (size_t k = 0; k < 6; k++) {
    sluice::deliver::Job job;
    job.qid = "round" + std::to_string(k);
    job.sender = "alice@sender.test";
    job.offset = 4;
    job.length = static_cast<long long>(strlen(kMsg));
    job.rcpts.push_back({k, to[k], "", ""});
    jobs.push_back(job);
    fds.emplace_back(::open(path.c_str(), O_RDONLY));
    raw.push_back(fds.back().get());
  }
  raw[3] = -1;  // a job whose message cannot be read fails alone
  auto res = d.deliver_round(jobs, raw);
  REQUIRE(res.size() == 6);
  for (size_t k = 0; k < 6; k++) {
    REQUIRE(res[k].size() == 1);
    CHECK(res[k][0].index == k);
  }
  CHECK(res[0][0].status.is_ok());
  CHECK(res[1][0].status.enhanced == "5.1.1");
  CHECK(res[2][0].status.enhanced == "4.2.2");
  CHECK(res[3][0].status.is_temp());
  CHECK(res[4][0].status.is_ok());
  CHECK(res[5][0].status.enhanced == "4.2.2");
  CHECK(in.new_mail("dave").size() == 1);
  auto files = in.new_mail("bob");
  REQUIRE(files.size() == 1);
  CHECK(slurp(files[0]).find("TRAILER") == std::string::npos);
  CHECK(in.new_mail("carol").empty());
}
