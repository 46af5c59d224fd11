#include "common/notify_spool.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/deliver_proto.hpp"
#include "common/fd.hpp"
#include "common/log.hpp"

namespace sluice::notify {

namespace {
std::string rule_lines(const Request& r) {
  std::string out;
  for (const auto& w : r.match) out += "match=" + deliver::xtext_encode(w) + "\n";
  if (!r.quiet.empty()) out += "quiet=" + deliver::xtext_encode(r.quiet) + "\n";
  if (r.daily_cap > 0) out += "daily_cap=" + std::to_string(r.daily_cap) + "\n";
  return out;
}
}  // namespace

std::string serialize(const Request& r) {
  using deliver::xtext_encode;
  return "to=" + xtext_encode(r.to) + "\nrcpt=" + xtext_encode(r.rcpt) + "\nfrom=" + xtext_encode(r.from) +
         "\nsubject=" + xtext_encode(r.subject) + "\ntext=" + xtext_encode(r.text) + "\nqid=" + xtext_encode(r.qid) +
         "\ncreated=" + std::to_string(r.created) + "\n" + rule_lines(r);
}

Result<Request> parse(const std::string& content) {
  Request r;
  bool to = false, text = false;
  size_t i = 0;
  while (i < content.size()) {
    size_t j = content.find('\n', i);
    if (j == std::string::npos) return Status::perm("5.3.0", "notify request not newline-terminated");
    std::string line = content.substr(i, j - i);
    i = j + 1;
    auto eq = line.find('=');
    if (eq == std::string::npos) return Status::perm("5.3.0", "notify request: bad line");
    std::string k = line.substr(0, eq), v;
    if (!deliver::xtext_decode(line.substr(eq + 1), v)) return Status::perm("5.3.0", "notify request: bad value");
    if (k == "to") r.to = v, to = true;
    else if (k == "text") r.text = v, text = true;
    else if (k == "rcpt") r.rcpt = v;
    else if (k == "from") r.from = v, text = true;
    else if (k == "subject") r.subject = v, text = true;
    else if (k == "qid") r.qid = v;
    else if (k == "created") r.created = atoll(v.c_str());
    else if (k == "match") r.match.push_back(v);
    else if (k == "quiet") r.quiet = v;
    else if (k == "daily_cap") r.daily_cap = atoi(v.c_str());
  }
  if (!to || !text) return Status::perm("5.3.0", "notify request lacks to, or text and from/subject");
  return r;
}

Status enqueue(const std::string& spool, Request r) {
  static std::atomic<unsigned> counter{0};
  if (r.created == 0) r.created = time(nullptr);
  std::string tmpdir = spool + "/tmp", newdir = spool + "/new";
  if (!make_dirs(tmpdir, 0770) || !make_dirs(newdir, 0770))
    return Status::temp("4.3.0", "notify spool: " + std::string(strerror(errno)));
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char name[96];
  snprintf(name, sizeof name, "%lld.%09ld.%d.%u", static_cast<long long>(ts.tv_sec), ts.tv_nsec, getpid(),
           counter++);
  std::string tmp = tmpdir + "/" + name, fin = newdir + "/" + name;
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0660));
  if (!fd) return Status::temp("4.3.0", "notify spool: " + std::string(strerror(errno)));
  if (!write_all(fd.get(), serialize(r)) || ::fsync(fd.get()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Status::temp("4.3.0", "notify spool write: " + std::string(strerror(e)));
  }
  fd.reset();
  if (::rename(tmp.c_str(), fin.c_str()) != 0 || !fsync_dir(newdir)) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Status::temp("4.3.0", "notify spool commit: " + std::string(strerror(e)));
  }
  return Status::ok();
}

std::vector<Request> list(const std::string& spool) {
  std::vector<Request> out;
  std::string newdir = spool + "/new";
  DIR* d = ::opendir(newdir.c_str());
  if (!d) return out;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string path = newdir + "/" + e->d_name, content;
    if (!read_file(path, content)) continue;  // raced with a removal
    auto r = parse(content);
    if (!r) {
      log::warn({{"event", "notify_unreadable"}, {"file", path}, {"error", r.error().text}});
      continue;
    }
    r->file = path;
    out.push_back(std::move(*r));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const Request& a, const Request& b) {
    return a.created != b.created ? a.created < b.created : a.file < b.file;
  });
  return out;
}

}  // namespace sluice::notify
