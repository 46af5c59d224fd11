// A throw-away instance for sluice-local's unit tests: defaults rooted at
// a fresh temporary directory, a real SQLite table with example.test.
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/deliver_proto.hpp"
#include "common/fd.hpp"
#include "common/tables.hpp"
#include "delivery/local/local.hpp"

namespace local_test {

namespace fs = std::filesystem;

struct Instance {
  std::string root;
  sluice::Config cfg;
  std::unique_ptr<sluice::tables::Tables> tables;
  sluice::local::Options opts;

  Instance() : root(make_root()), cfg(sluice::Config::defaults(root)) {
    auto t = sluice::tables::open_tables(cfg, true);
    REQUIRE(t.ok());
    tables = std::move(*t);
    REQUIRE(tables->add_domain("example.test").is_ok());
    auto o = sluice::local::Options::from_config(cfg);
    REQUIRE(o.ok());
    opts = *o;
    opts.host = "mx.example.test";
  }
  ~Instance() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }

  static std::string make_root() {
    char tmpl[] = "/tmp/sluice-local-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    return tmpl;
  }

  void user(const std::string& a, long long quota = -1) {
    REQUIRE(tables->add_user({a, "", quota}).is_ok());
  }
  void alias(const std::string& a, const std::vector<std::string>& targets) {
    REQUIRE(tables->add_alias(a, targets).is_ok());
  }

  std::string maildir(const std::string& local) const { return root + "/mail/example.test/" + local; }

  std::vector<std::string> files(const std::string& dir) const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().string());
    return out;
  }
  std::vector<std::string> new_mail(const std::string& local) const { return files(maildir(local) + "/new"); }

  // Delivers MSG (from a regular file, as the scheduler passes the queue
  // file) to RCPTS and returns the results.
  std::vector<sluice::deliver::RcptResult> deliver(const std::string& msg, const std::vector<std::string>& rcpts,
                                                   const std::string& sender = "alice@sender.test",
                                                   sluice::local::Options* o = nullptr) {
    sluice::deliver::Job job;
    job.qid = "0123456789abc0001";
    job.sender = sender;
    job.offset = 0;
    job.length = static_cast<long long>(msg.size());
    for (size_t i = 0; i < rcpts.size(); i++) job.rcpts.push_back({i, rcpts[i], "", ""});
    std::string path = root + "/msg." + std::to_string(counter++);
    REQUIRE(sluice::write_file_atomic(path, msg, 0600));
    sluice::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    sluice::local::Deliverer d(o ? *o : opts, *tables);
    auto r = d.deliver(job, fd.get());
    REQUIRE(r.size() == rcpts.size());
    return r;
  }

  int counter = 0;
};

inline std::string slurp(const std::string& path) {
  std::string s;
  REQUIRE(sluice::read_file(path, s));
  return s;
}

inline const char* kMsg =
    "From: Alice <alice@sender.test>\n"
    "To: bob@example.test\n"
    "Subject: =?UTF-8?Q?caf=C3=A9?= and\n"
    "\tmore\n"
    "\n"
    "Hello Bob.\n";

}  // namespace local_test
