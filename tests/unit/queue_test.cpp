// The queue file format, the fd 1 envelope, and the commit protocol.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <algorithm>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/fd.hpp"
#include "queue/store/queue.hpp"

using namespace sluice;
using namespace std::string_literals;

namespace {

queue::Envelope env_of(std::string_view data, int* code = nullptr) {
  queue::Envelope e;
  queue::EnvelopeError err;
  bool ok = queue::parse_envelope(data, e, err);
  if (code) *code = ok ? 0 : err.exit_code;
  return e;
}

struct TempQueue {
  std::string dir;
  TempQueue() {
    char tmpl[] = "/tmp/sluice-qtest-XXXXXX";
    dir = mkdtemp(tmpl);
    REQUIRE(queue::create_layout(dir + "/queue").is_ok());
    dir += "/queue";
  }
  ~TempQueue() { std::filesystem::remove_all(std::filesystem::path(dir).parent_path()); }
};

}  // namespace

TEST_CASE("a plain qmail-queue envelope is accepted unchanged", "[queue]") {
  int code;
  auto e = env_of("Fa@example.org\0Tb@example.test\0Tc@example.test\0\0"s, &code);
  REQUIRE(code == 0);
  CHECK(e.sender == "a@example.org");
  REQUIRE(e.rcpts.size() == 2);
  CHECK(e.rcpts[1].address == "c@example.test");
  CHECK(e.rcpts[0].notify.empty());
}

TEST_CASE("null sender and the extra records", "[queue]") {
  int code;
  auto e = env_of("F\0Rhdrs\0Eid+2B1\0U\0Abob\0C192.0.2.1\0Tb@x.test\0Nsuccess,delay\0Orfc822;b@x.test\0\0"s, &code);
  REQUIRE(code == 0);
  CHECK(e.sender.empty());
  CHECK(e.param("ret") == "HDRS");
  CHECK(e.param("envid") == "id+2B1");
  CHECK(e.param("smtputf8") == "1");
  CHECK(e.param("auth") == "bob");
  CHECK(e.param("client") == "192.0.2.1");
  CHECK(e.rcpts[0].notify == "SUCCESS,DELAY");
  CHECK(e.rcpts[0].orcpt == "rfc822;b@x.test");
  // encode_envelope is parse_envelope's inverse.
  auto again = env_of(queue::encode_envelope(e), &code);
  REQUIRE(code == 0);
  CHECK(again.params == e.params);
  CHECK(again.rcpts[0].notify == "SUCCESS,DELAY");
}

TEST_CASE("malformed envelopes exit 91 (or 11), never crash", "[queue]") {
  int code;
  const std::string bad[] = {
      ""s,                              // nothing
      "Fa@b.c\0Tx@y.z\0"s,              // no terminating empty record
      "Fa@b.c\0Tx@y.z"s,                // no NUL at all
      "Tx@y.z\0Fa@b.c\0\0"s,            // T before F
      "Fa@b.c\0\0"s,                    // no recipient
      "Fa@b.c\0Fa@b.c\0Tx@y.z\0\0"s,    // two senders
      "Fa@b.c\0Tx@y.z\0Nsometimes\0\0"s,  // bad NOTIFY
      "Fa@b.c\0Nnever\0Tx@y.z\0\0"s,    // N before any T
      "Fa@b.c\0Tx@y.z\0Rall\0\0"s,      // bad RET
      "Fa@b.c\0Tx@y.z\0Zwhat\0\0"s,     // unknown record
      "Fa@b.c\0Tnot an address\0\0"s,   // bad recipient
      "Fa@b.c\0Tx@y.z\0\0trailing"s,    // data after the end
      "F\0T\0\0"s,                      // empty recipient
  };
  for (const auto& b : bad) {
    env_of(b, &code);
    CHECK(code == 91);
  }
  env_of("Fa@b.c\0T"s + std::string(300, 'a') + "@y.z\0\0"s, &code);
  CHECK(code == 11);
}

TEST_CASE("commit writes a file that parses back, with fixed-width fields", "[queue]") {
  TempQueue q;
  auto e = env_of("Fa@b.c\0Rfull\0Tx@y.z\0NNEVER\0Tw@y.z\0\0"s);
  auto qid = queue::commit_message(q.dir, "Subject: hi\n\nbody\n", e);
  REQUIRE(qid.ok());
  CHECK(queue::valid_qid(*qid));
  std::string path = queue::find(q.dir, *qid);
  REQUIRE(!path.empty());
  CHECK(path == queue::msg_path(q.dir, *qid));
  auto entry = queue::read_entry(path);
  REQUIRE(entry.ok());
  CHECK(entry->env.sender == "a@b.c");
  CHECK(entry->env.param("ret") == "FULL");
  REQUIRE(entry->env.rcpts.size() == 2);
  CHECK(entry->env.rcpts[0].notify == "NEVER");
  CHECK(entry->msg_offset == static_cast<long long>(queue::kHeaderSize));
  std::string all;
  REQUIRE(read_file(path, all));
  CHECK(all.substr(entry->msg_offset, entry->msg_length) == "Subject: hi\n\nbody\n");
  auto whole = queue::parse_file(all);
  REQUIRE(whole.ok());
  CHECK(whole->env.rcpts[1].state_offset == entry->env.rcpts[1].state_offset);
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0660);

  // Marks and ctl are rewritten in place and read back.
  UniqueFd fd(::open(path.c_str(), O_RDWR));
  REQUIRE(queue::mark_rcpts(fd.get(), {&entry->env.rcpts[1]}, queue::RcptState::delivered));
  entry->next_try = 1700000000;
  entry->tries = 3;
  entry->flags = queue::kFlagDelayWarned;
  REQUIRE(queue::write_ctl(fd.get(), *entry));
  auto back = queue::read_entry(path);
  REQUIRE(back.ok());
  CHECK(back->env.rcpts[0].state == queue::RcptState::pending);
  CHECK(back->env.rcpts[1].state == queue::RcptState::delivered);
  CHECK(back->next_try == 1700000000);
  CHECK(back->tries == 3);
  CHECK(back->flags == queue::kFlagDelayWarned);
  struct stat st2;
  REQUIRE(::stat(path.c_str(), &st2) == 0);
  CHECK(st2.st_size == st.st_size);
}

TEST_CASE("a staging file that is never committed leaves nothing behind", "[queue]") {
  TempQueue q;
  std::string tmp;
  {
    auto s = queue::Staging::open(q.dir, 0);
    REQUIRE(s.ok());
    REQUIRE(s->write("Subject: x\n\n"));
    tmp = queue::msg_path(q.dir, s->qid()) + ".tmp";
    CHECK(::access(tmp.c_str(), F_OK) == 0);
  }
  CHECK(::access(tmp.c_str(), F_OK) != 0);
  CHECK(queue::list(q.dir).empty());
}

TEST_CASE("truncated or damaged files are refused", "[queue]") {
  TempQueue q;
  auto e = env_of("Fa@b.c\0Tx@y.z\0\0"s);
  auto qid = queue::commit_message(q.dir, "Subject: hi\n\nbody\n", e);
  REQUIRE(qid.ok());
  std::string all;
  REQUIRE(read_file(queue::find(q.dir, *qid), all));
  for (size_t cut : {size_t{0}, size_t{10}, queue::kHeaderSize, all.size() - 4, all.size() - 1})
    CHECK_FALSE(queue::parse_file(all.substr(0, cut)).ok());
  std::string bad = all;
  bad[bad.find("rcpt ") + 5] = 'Q';
  CHECK_FALSE(queue::parse_file(bad).ok());
}

TEST_CASE("hold, release, remove and list", "[queue]") {
  TempQueue q;
  auto e = env_of("F\0Tx@y.z\0\0"s);
  auto a = queue::commit_message(q.dir, "A\n", e);
  auto b = queue::commit_message(q.dir, "B\n", e);
  REQUIRE((a.ok() && b.ok()));
  CHECK(queue::list(q.dir).size() == 2);
  REQUIRE(queue::hold(q.dir, *a).is_ok());
  bool held = false;
  CHECK(queue::find(q.dir, *a, &held) == q.dir + "/hold/" + *a);
  CHECK(held);
  auto l = queue::list(q.dir);
  REQUIRE(l.size() == 2);
  CHECK((l[0].held || l[1].held));
  REQUIRE(queue::release(q.dir, *a).is_ok());
  CHECK(queue::find(q.dir, *a) == queue::msg_path(q.dir, *a));
  REQUIRE(queue::remove(q.dir, *b).is_ok());
  CHECK(queue::list(q.dir).size() == 1);
  CHECK(queue::remove(q.dir, *b).is_perm());
  CHECK(queue::hold(q.dir, "../../etc/passwd").is_perm());
}

namespace {
// MESSAGE committed and then retired into free/ as finished; returns its inode.
ino_t retired_file(const std::string& qdir, const std::string& message = "Subject: old\n\nold\n") {
  auto qid = queue::commit_message(qdir, message, env_of("Fa@b.c\0Tx@y.z\0\0"s));
  REQUIRE(qid.ok());
  std::string path = queue::find(qdir, *qid);
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  UniqueFd fd(::open(path.c_str(), O_RDWR));
  queue::retire(qdir, path, fd.get());
  CHECK(queue::find(qdir, *qid).empty());
  return st.st_ino;
}
}  // namespace

TEST_CASE("a finished file is recycled: the next message reuses its inode", "[queue]") {
  TempQueue q;
  auto e = env_of("Fa@b.c\0Tx@y.z\0\0"s);
  const std::string old_body(20000, 'x');  // the older message's bytes, to look for after the end
  ino_t first = retired_file(q.dir, "Subject: big\n\n" + old_body + "\n");
  CHECK(queue::list(q.dir).empty());  // a free file is never a message
  struct stat old;
  REQUIRE(::stat((q.dir + "/free/" + std::filesystem::directory_iterator(q.dir + "/free")->path().filename().string()).c_str(),
                 &old) == 0);

  // A shorter message over the longer one's inode: the message and its
  // envelope are exactly the new ones, whatever follows its end.
  auto second = queue::commit_message(q.dir, "Subject: small\n\nhi\n", e);
  REQUIRE(second.ok());
  std::string path2 = queue::find(q.dir, *second);
  struct stat st2;
  REQUIRE(::stat(path2.c_str(), &st2) == 0);
  CHECK(st2.st_ino == first);
  std::string all;
  REQUIRE(read_file(path2, all));
  auto parsed = queue::parse_file(all);
  REQUIRE(parsed.ok());
  CHECK(all.substr(parsed->msg_offset, parsed->msg_length) == "Subject: small\n\nhi\n");
  auto read = queue::read_entry(path2);
  REQUIRE(read.ok());
  CHECK(read->msg_length == parsed->msg_length);
  REQUIRE(read->env.rcpts.size() == 1);
  CHECK(read->env.rcpts[0].address == "x@y.z");
  long long end = static_cast<long long>(all.find("\nend\n") + 5);
  if (queue::in_place_block(q.dir) > 0) {
    // Written in place: the file keeps its size, the old bytes after the end
    // are room for a longer message later.
    CHECK(st2.st_size == old.st_size);
    CHECK(all.find(old_body.substr(0, 4), static_cast<size_t>(end)) != std::string::npos);
  } else {
    CHECK(st2.st_size == end);
    CHECK(all.find(old_body.substr(0, 4)) == std::string::npos);  // cut at the end: none of it left
  }
  CHECK(queue::list(q.dir).size() == 1);
}

TEST_CASE("a recycled file that must grow is cut at a block boundary, its header written last", "[queue]") {
  TempQueue q;
  long long block = queue::in_place_block(q.dir);
  if (block == 0) {
    WARN("the queue's file system does not overwrite in place: nothing to test");
    return;
  }
  ino_t first = retired_file(q.dir);
  std::string big = "Subject: big\n\n" + std::string(9000, 'y') + "\n";
  auto qid = queue::commit_message(q.dir, big, env_of("Fa@b.c\0Tx@y.z\0\0"s));
  REQUIRE(qid.ok());
  std::string path = queue::find(q.dir, *qid);
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(st.st_ino == first);
  std::string all;
  REQUIRE(read_file(path, all));
  auto parsed = queue::parse_file(all);
  REQUIRE(parsed.ok());
  CHECK(all.substr(parsed->msg_offset, parsed->msg_length) == big);
  long long end = static_cast<long long>(all.find("\nend\n") + 5);
  CHECK(st.st_size % block == 0);
  CHECK(st.st_size >= end);
  CHECK(st.st_size < end + block);
}

TEST_CASE("a writer that dies while growing a free file leaves it without a valid header", "[queue]") {
  TempQueue q;
  retired_file(q.dir);
  std::string name = std::filesystem::directory_iterator(q.dir + "/free")->path().filename();
  std::string free_path = q.dir + "/free/" + name;
  {
    auto s = queue::Staging::open(q.dir, 0);
    REQUIRE(s.ok());
    // More than the staging buffer, so that it reaches the file.
    REQUIRE(s->write("Subject: x\n\n" + std::string(200000, 'z') + "\n"));
  }  // dropped, as by a writer killed here
  std::string head;
  REQUIRE(read_file(free_path, head));
  REQUIRE(head.size() > 200000);
  CHECK_FALSE(queue::parse_header(head.substr(0, queue::kHeaderSize)).ok());
  // Its size proves nothing, so the next message does not trust it: the
  // file is synced at its new size (cut to a block boundary where it is
  // written in place), never just overwritten.
  auto qid = queue::commit_message(q.dir, "Subject: after\n\nhi\n", env_of("Fa@b.c\0Tx@y.z\0\0"s));
  REQUIRE(qid.ok());
  std::string all;
  REQUIRE(read_file(queue::find(q.dir, *qid), all));
  long long end = static_cast<long long>(all.find("\nend\n") + 5);
  long long block = queue::in_place_block(q.dir);
  CHECK(static_cast<long long>(all.size()) == (block > 0 ? (end + block - 1) / block * block : end));
  CHECK(queue::parse_file(all).ok());
}

TEST_CASE("an envelope longer than the first read is found in a file with room after it", "[queue]") {
  TempQueue q;
  retired_file(q.dir, "Subject: big\n\n" + std::string(300000, 'w') + "\nend\n");
  std::string env = "Fa@b.c\0"s;
  for (int i = 0; i < 300; i++) env += "Tuser" + std::to_string(i) + "@example.test\0"s;
  env += "\0"s;
  auto qid = queue::commit_message(q.dir, "Subject: many\n\nhi\n", env_of(env));
  REQUIRE(qid.ok());
  auto e = queue::read_entry(queue::find(q.dir, *qid));
  REQUIRE(e.ok());
  REQUIRE(e->env.rcpts.size() == 300);
  CHECK(e->env.rcpts[299].address == "user299@example.test");
}

namespace {
size_t free_files(const std::string& qdir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(qdir + "/free")) n++;
  return n;
}
}  // namespace

TEST_CASE("a free file is staged where it lies, and stays free when the staging is dropped", "[queue]") {
  TempQueue q;
  ino_t old = retired_file(q.dir);
  REQUIRE(free_files(q.dir) == 1);
  {
    auto s = queue::Staging::open(q.dir, 0);
    REQUIRE(s.ok());
    REQUIRE(s->write("Subject: x\n\n"));
    CHECK(::access((queue::msg_path(q.dir, s->qid()) + ".tmp").c_str(), F_OK) != 0);
    // Claimed: a second writer does not get it, and makes a new file.
    auto other = queue::Staging::open(q.dir, 0);
    REQUIRE(other.ok());
    CHECK(::access((queue::msg_path(q.dir, other->qid()) + ".tmp").c_str(), F_OK) == 0);
  }
  CHECK(free_files(q.dir) == 1);  // dropped: the file is free again, never a message
  CHECK(queue::list(q.dir).empty());
  auto qid = queue::commit_message(q.dir, "Subject: new\n\nnew\n", env_of("Fa@b.c\0Tx@y.z\0\0"s));
  REQUIRE(qid.ok());
  struct stat st;
  REQUIRE(::stat(queue::find(q.dir, *qid).c_str(), &st) == 0);
  CHECK(st.st_ino == old);
  CHECK(free_files(q.dir) == 0);
}

TEST_CASE("a free file that is also linked elsewhere is never written over", "[queue]") {
  // What fsck leaves when a commit's rename out of free/ was durable in msg/
  // but free/ was not synced before a power loss.
  TempQueue q;
  ino_t old = retired_file(q.dir);
  std::string name = std::filesystem::directory_iterator(q.dir + "/free")->path().filename();
  std::string queued = q.dir + "/msg/0/" + name + "-queued";
  REQUIRE(::link((q.dir + "/free/" + name).c_str(), queued.c_str()) == 0);
  std::string before;
  REQUIRE(read_file(queued, before));
  auto qid = queue::commit_message(q.dir, "Subject: new\n\nnew\n", env_of("Fa@b.c\0Tx@y.z\0\0"s));
  REQUIRE(qid.ok());
  struct stat st;
  REQUIRE(::stat(queue::find(q.dir, *qid).c_str(), &st) == 0);
  CHECK(st.st_ino != old);
  std::string after;
  REQUIRE(read_file(queued, after));
  CHECK(after == before);
  CHECK(free_files(q.dir) == 0);  // the stale name is gone
  ::unlink(queued.c_str());
}

TEST_CASE("queue: commits that meet are published together, each whole and findable") {
  TempQueue q;
  std::mutex mu;
  std::vector<std::string> qids;
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; i++)
    threads.emplace_back([&, i] {
      for (int k = 0; k < 20; k++) {
        std::string body = "Subject: " + std::to_string(i) + "-" + std::to_string(k) + "\n\nbody\n";
        // Every fifth one of a thread is quarantined: its group fsyncs hold/ too.
        std::string env = k % 5 == 0 ? "Fa@b.c\0Pquarantine=milter\0Tx@y.z\0\0"s : "Fa@b.c\0Tx@y.z\0\0"s;
        auto qid = queue::commit_message(q.dir, body, env_of(env));
        REQUIRE(qid.ok());
        std::lock_guard lk(mu);
        qids.push_back(*qid);
      }
    });
  for (auto& t : threads) t.join();
  REQUIRE(qids.size() == 160);
  std::sort(qids.begin(), qids.end());
  CHECK(std::adjacent_find(qids.begin(), qids.end()) == qids.end());
  int held = 0;
  for (const auto& qid : qids) {
    bool h = false;
    std::string path = queue::find(q.dir, qid, &h);
    REQUIRE(!path.empty());
    held += h;
    // The id names the directory the group put it in.
    if (!h) CHECK(path == queue::msg_path(q.dir, qid));
    auto e = queue::read_entry(path);
    REQUIRE(e.ok());
    CHECK(e->env.rcpts.size() == 1);
  }
  CHECK(held == 32);
}
