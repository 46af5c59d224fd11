// The scheduler's pure rules: backoff, NOTIFY, and who receives a report.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "common/fd.hpp"
#include "queue/sched/reports.hpp"
#include "queue/sched/scheduler.hpp"

using namespace sluice;

namespace {

struct TempQueue {
  std::string base, dir;
  TempQueue() {
    char tmpl[] = "/tmp/sluice-schedtest-XXXXXX";
    base = mkdtemp(tmpl);
    dir = base + "/queue";
    REQUIRE(queue::create_layout(dir).is_ok());
  }
  ~TempQueue() { std::filesystem::remove_all(base); }
};

queue::Entry committed(const std::string& qdir, const std::string& sender, const std::string& extra = "") {
  queue::Envelope e;
  e.sender = sender;
  if (!extra.empty()) e.params.emplace_back(extra, "1");
  e.rcpts.push_back(queue::Rcpt{"bob@example.test", "", "", queue::RcptState::pending, 0});
  auto qid = queue::commit_message(qdir, "Subject: original\n\nbody\n", e);
  REQUIRE(qid.ok());
  auto entry = queue::read_entry(queue::find(qdir, *qid));
  REQUIRE(entry.ok());
  return *entry;
}

dsn::RcptReport failure() {
  return {"bob@example.test", "", dsn::Action::failed, Status::perm("5.1.1", "unknown user"), "", "", 0};
}

}  // namespace

TEST_CASE("backoff doubles from the first retry up to the maximum", "[sched]") {
  CHECK(sched::backoff(1, 300, 3600) == 300);
  CHECK(sched::backoff(2, 300, 3600) == 600);
  CHECK(sched::backoff(4, 300, 3600) == 2400);
  CHECK(sched::backoff(5, 300, 3600) == 3600);
  CHECK(sched::backoff(60, 300, 3600) == 3600);
  CHECK(sched::backoff(1, 0, 10) == 1);
}

TEST_CASE("NOTIFY decides which reports are owed", "[sched]") {
  using sched::notify_wants;
  CHECK(notify_wants("", "FAILURE"));
  CHECK(notify_wants("", "DELAY"));
  CHECK_FALSE(notify_wants("", "SUCCESS"));
  CHECK_FALSE(notify_wants("NEVER", "FAILURE"));
  CHECK(notify_wants("SUCCESS,DELAY", "DELAY"));
  CHECK_FALSE(notify_wants("SUCCESS,DELAY", "FAILURE"));
  CHECK(notify_wants("SUCCESS", "SUCCESS"));
  CHECK_FALSE(notify_wants("SUCCESSFUL", "SUCCESS"));
}

TEST_CASE("a bounce goes to the sender, from <>", "[sched]") {
  TempQueue q;
  auto e = committed(q.dir, "alice@example.org");
  UniqueFd fd(::open(e.path.c_str(), O_RDONLY));
  sched::ReportContext ctx{q.dir, "mx.example.test", "postmaster@example.test", 0};
  REQUIRE(sched::send_report(ctx, e, fd.get(), {failure()}).is_ok());
  auto all = queue::list(q.dir);
  REQUIRE(all.size() == 2);
  const auto& b = all[0].entry.qid == e.qid ? all[1].entry : all[0].entry;
  CHECK(b.env.sender.empty());
  REQUIRE(b.env.rcpts.size() == 1);
  CHECK(b.env.rcpts[0].address == "alice@example.org");
  std::string text;
  REQUIRE(read_file(b.path, text));
  CHECK(text.find("Status: 5.1.1") != std::string::npos);
  CHECK(text.find("Subject: original") != std::string::npos);
}

TEST_CASE("mail from <> is reported to the postmaster once, then dropped", "[sched]") {
  TempQueue q;
  sched::ReportContext ctx{q.dir, "mx.example.test", "postmaster@example.test", 0};
  auto bounce = committed(q.dir, "");
  UniqueFd fd(::open(bounce.path.c_str(), O_RDONLY));
  REQUIRE(sched::send_report(ctx, bounce, fd.get(), {failure()}).is_ok());
  auto all = queue::list(q.dir);
  REQUIRE(all.size() == 2);
  const auto& notice = all[0].entry.qid == bounce.qid ? all[1].entry : all[0].entry;
  CHECK(notice.env.rcpts[0].address == "postmaster@example.test");
  CHECK(notice.env.param("double_bounce") == "1");

  // The notice itself failing: nothing more is queued, and that is final.
  UniqueFd fd2(::open(notice.path.c_str(), O_RDONLY));
  REQUIRE(sched::send_report(ctx, notice, fd2.get(), {failure()}).is_ok());
  CHECK(queue::list(q.dir).size() == 2);

  // Delay and success reports about mail from <> are never sent.
  auto delayed = failure();
  delayed.action = dsn::Action::delayed;
  REQUIRE(sched::send_report(ctx, bounce, fd.get(), {delayed}).is_ok());
  CHECK(queue::list(q.dir).size() == 2);
}
