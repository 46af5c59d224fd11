// Where queue files live and the administrative moves between those places
// (`sluice queue`, mailq). Every move is one rename within the queue file
// system, so a crash leaves a message in exactly one place.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/fd.hpp"
#include "common/log.hpp"
#include "queue/store/queue.hpp"

namespace sluice::queue {
namespace {

constexpr const char* kHex = "0123456789abcdef";

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (auto* de = ::readdir(d))
    if (valid_qid(de->d_name)) out.emplace_back(de->d_name);
  ::closedir(d);
  return out;
}

Status fail(const std::string& what) { return Status::perm("5.3.0", what + ": " + strerror(errno)); }

}  // namespace

std::string msg_dir(const std::string& qdir, std::string_view qid) {
  char c = qid.size() > 12 ? static_cast<char>(std::tolower(static_cast<unsigned char>(qid[12]))) : '0';
  return qdir + "/msg/" + c;
}

std::string msg_path(const std::string& qdir, std::string_view qid) {
  return msg_dir(qdir, qid) + "/" + std::string(qid);
}

std::string hold_path(const std::string& qdir, std::string_view qid) { return qdir + "/hold/" + std::string(qid); }

Status create_layout(const std::string& qdir) {
  if (!make_dirs(qdir, 02771)) return fail("mkdir " + qdir);
  std::vector<std::string> dirs = {qdir + "/msg", qdir + "/hold", qdir + "/corrupt", qdir + "/free"};
  for (int i = 0; i < 16; i++) dirs.push_back(qdir + "/msg/" + kHex[i]);
  for (const auto& d : dirs)
    if (::mkdir(d.c_str(), 02770) != 0 && errno != EEXIST) return fail("mkdir " + d);
  for (const auto& d : {qdir + "/notify", qdir + "/notify/tmp", qdir + "/notify/new"})
    if (::mkdir(d.c_str(), 02770) != 0 && errno != EEXIST) return fail("mkdir " + d);
  // mkdir's mode is cut by the umask; the setgid bit and group write are the point.
  ::chmod(qdir.c_str(), 02771);
  for (const auto& d : dirs) ::chmod(d.c_str(), 02770);
  return Status::ok();
}

std::string new_qid() {
  static std::atomic<unsigned> counter{0};
  struct timeval tv;
  ::gettimeofday(&tv, nullptr);
  unsigned long long us = static_cast<unsigned long long>(tv.tv_sec) * 1000000ULL + static_cast<unsigned>(tv.tv_usec);
  static const unsigned pid = static_cast<unsigned>(::getpid());  // no program forks after its first qid
  unsigned tail = (pid * 7u + counter.fetch_add(1)) & 0xfffu;
  char buf[32];
  snprintf(buf, sizeof buf, "%013llX%03X", us & 0xfffffffffffffULL, tail);
  return buf;
}

bool valid_qid(std::string_view qid) {
  if (qid.size() != 16) return false;
  return std::all_of(qid.begin(), qid.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); });
}

std::vector<Listed> list(const std::string& qdir) {
  std::vector<Listed> out;
  auto add = [&](const std::string& dir, bool held) {
    for (const auto& n : names_in(dir)) {
      auto e = read_entry(dir + "/" + n);
      if (!e) {
        if (errno != ENOENT) log::warn({{"event", "unreadable"}, {"qid", n}, {"error", e.error().text}});
        continue;
      }
      out.push_back(Listed{std::move(*e), held});
    }
  };
  for (int i = 0; i < 16; i++) add(qdir + "/msg/" + kHex[i], false);
  add(qdir + "/hold", true);
  std::sort(out.begin(), out.end(), [](const Listed& a, const Listed& b) { return a.entry.qid < b.entry.qid; });
  return out;
}

std::string find(const std::string& qdir, std::string_view qid, bool* held) {
  if (!valid_qid(qid)) return "";
  struct stat st;
  std::string p = msg_path(qdir, qid);
  if (::stat(p.c_str(), &st) == 0) {
    if (held) *held = false;
    return p;
  }
  p = hold_path(qdir, qid);
  if (::stat(p.c_str(), &st) == 0) {
    if (held) *held = true;
    return p;
  }
  return "";
}

Status remove(const std::string& qdir, std::string_view qid) {
  std::string p = find(qdir, qid);
  if (p.empty()) return Status::perm("5.1.0", "no message " + std::string(qid) + " in the queue");
  if (::unlink(p.c_str()) != 0) return fail("unlink " + p);
  fsync_dir(dirname_of(p));
  return Status::ok();
}

Status hold(const std::string& qdir, std::string_view qid) {
  bool held = false;
  std::string p = find(qdir, qid, &held);
  if (p.empty()) return Status::perm("5.1.0", "no message " + std::string(qid) + " in the queue");
  if (held) return Status::ok("already held");
  std::string to = hold_path(qdir, qid);
  if (::rename(p.c_str(), to.c_str()) != 0) return fail("rename " + p);
  fsync_dir(qdir + "/hold");
  return Status::ok();
}

Status release(const std::string& qdir, std::string_view qid) {
  bool held = false;
  std::string p = find(qdir, qid, &held);
  if (p.empty()) return Status::perm("5.1.0", "no message " + std::string(qid) + " in the queue");
  if (!held) return Status::ok("not held");
  // A released message is due now, whatever its old schedule said.
  UniqueFd fd(::open(p.c_str(), O_RDWR | O_CLOEXEC));
  if (fd) {
    auto e = read_entry_fd(fd.get(), p);
    if (e) {
      e->next_try = 0;
      write_ctl(fd.get(), *e);
      ::fdatasync(fd.get());
    }
  }
  std::string to = msg_path(qdir, qid);
  if (::rename(p.c_str(), to.c_str()) != 0) return fail("rename " + p);
  fsync_dir(msg_dir(qdir, qid));
  return Status::ok();
}

Status request_flush(const std::string& qdir) {
  std::string p = qdir + "/flush";
  UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0660));
  if (!fd) return fail("create " + p);
  return Status::ok();
}

void quarantine(const std::string& qdir, const std::string& path) {
  auto slash = path.rfind('/');
  std::string to = qdir + "/corrupt/" + path.substr(slash + 1);
  if (::rename(path.c_str(), to.c_str()) == 0) {
    log::error({{"event", "corrupt"}, {"qid", path.substr(slash + 1)}, {"moved_to", to}});
  } else {
    log::error({{"event", "corrupt"}, {"qid", path.substr(slash + 1)}, {"error", strerror(errno)}});
  }
}

}  // namespace sluice::queue
