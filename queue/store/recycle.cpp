// Recycling queue files (docs/queue.md "Recycling"). A finished queue file
// is renamed into free/ instead of being unlinked, and a new message is
// written over a free file instead of a new one. Creating a file costs an
// inode allocation, and on ext4 without a journal the allocator steps over
// every inode freed in the last minute or more: at hundreds of messages a
// second that scan was a third of the injector's CPU. A rename costs what
// an unlink or a create costs, without the allocation.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <vector>

#include "common/fd.hpp"
#include "queue/store/queue.hpp"

namespace sluice::queue {
namespace {

constexpr long kMaxFree = 4096;      // files kept for reuse; more are unlinked
constexpr size_t kTakeBatch = 256;   // names read from free/ at a time

std::mutex g_mu;
std::vector<std::string> g_names;    // free files this process believes are there
long g_free_estimate = -1;           // files in free/, recounted now and then
long g_retired = 0;

std::vector<std::string> read_names(const std::string& dir, size_t most) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (auto* de = ::readdir(d)) {
    if (de->d_name[0] == '.') continue;
    out.emplace_back(de->d_name);
    if (out.size() >= most) break;
  }
  ::closedir(d);
  return out;
}

long count_names(const std::string& dir) {
  return static_cast<long>(read_names(dir, static_cast<size_t>(kMaxFree) + 1).size());
}

}  // namespace

void retire(const std::string& qdir, const std::string& path, int fd) {
  struct stat st;
  bool ours = fd >= 0 && ::fstat(fd, &st) == 0 && st.st_uid == ::geteuid() && S_ISREG(st.st_mode);
  if (ours) {
    std::lock_guard lk(g_mu);
    if (g_free_estimate < 0 || ++g_retired % 1024 == 0) g_free_estimate = count_names(qdir + "/free");
    if (g_free_estimate < kMaxFree) {
      std::string name = path.substr(path.rfind('/') + 1);
      if (::rename(path.c_str(), (qdir + "/free/" + name).c_str()) == 0) {
        g_free_estimate++;
        return;
      }
    }
  }
  // Only files this account owns are reused, so no inode ever passes from
  // one local user's submission to another's.
  ::unlink(path.c_str());
}

int take_free(const std::string& qdir, std::string& path, long long& room) {
  std::string dir = qdir + "/free/";
  for (int tries = 0; tries < 8; tries++) {
    std::string name;
    {
      std::lock_guard lk(g_mu);
      if (g_names.empty()) g_names = read_names(dir, kTakeBatch);
      if (g_names.empty()) return -1;
      name = std::move(g_names.back());
      g_names.pop_back();
    }
    // The claim is the lock, taken by every writer that stages here. A lock
    // held by another writer, or a file renamed away (a name read before
    // another writer took it), is not ours.
    std::string p = dir + name;
    UniqueFd fd(::open(p.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (!fd || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;
    struct stat mine, named;
    if (::fstat(fd.get(), &mine) != 0 || ::stat(p.c_str(), &named) != 0 || mine.st_ino != named.st_ino ||
        mine.st_dev != named.st_dev || !S_ISREG(mine.st_mode))
      continue;
    // A second name means the file is also a message: after a power loss on
    // a file system without a journal, a commit's rename out of free/ can be
    // durable in msg/ while free/ still lists the file. Writing over it would
    // overwrite that message, so only the stale name goes.
    if (mine.st_nlink != 1) {
      ::unlink(p.c_str());
      continue;
    }
    // A writer that grows a file puts an invalid header in first and the
    // real one only after the fdatasync that makes the new size durable
    // (commit.cpp): a valid header vouches for every block up to the size.
    char head[kHeaderSize];
    room = ::pread(fd.get(), head, kHeaderSize, 0) == static_cast<ssize_t>(kHeaderSize) &&
                   parse_header(std::string_view(head, kHeaderSize)).ok()
               ? static_cast<long long>(mine.st_size)
               : 0;
    path = std::move(p);
    return fd.release();
  }
  return -1;
}

}  // namespace sluice::queue
