// The commit protocol (docs/queue.md, states S1-S4): a staging file (a
// claimed file in free/, or a new one in the message's own hashed
// directory), written to the device (in place, or fsynced), rename to the
// final name, fsync of the directory. Only the rename makes the message
// visible to sluice-sched, and only the directory fsync, with its flush of
// the device, makes the rename and the data survive a crash; exit 0 (and so
// a 250 reply) comes after both.
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>

#include "common/fd.hpp"
#include "common/log.hpp"
#include "queue/store/queue.hpp"

namespace sluice::queue {
namespace {

bool disk_error(int e) { return e == ENOSPC || e == EDQUOT || e == EIO || e == EROFS || e == EFBIG; }

// Where a staged message's header goes until the commit: invalid, so that a
// free file a writer grew and left (it died) never vouches for its size.
constexpr std::string_view kStagingHeader = "sluice-queue 1 ------------\n";
static_assert(kStagingHeader.size() == kHeaderSize);

}  // namespace

// The block size of QDIR's file system when it writes an overwritten block
// of a file where it lies, with no change to the file's metadata: ext4
// (and ext2/3 through it) and XFS. Else 0: copy-on-write file systems
// (btrfs, f2fs, overlays, ...) move the block, and only the file's own
// fsync makes the move durable. Asked once per queue directory.
long long in_place_block(const std::string& qdir) {
  constexpr long kExt4 = 0xEF53, kXfs = 0x58465342;
  static std::mutex mu;
  static std::string dir;
  static long long block = 0;
  std::lock_guard lk(mu);
  if (dir != qdir) {
    struct statfs fs;
    bool known = ::statfs(qdir.c_str(), &fs) == 0 && (fs.f_type == kExt4 || fs.f_type == kXfs);
    block = known ? static_cast<long long>(fs.f_bsize) : 0;
    dir = qdir;
  }
  return block;
}

Result<Staging> Staging::open(const std::string& qdir, long long min_free) {
  struct statvfs vfs;
  if (min_free > 0 && ::statvfs(qdir.c_str(), &vfs) == 0 &&
      static_cast<long long>(vfs.f_bavail) * static_cast<long long>(vfs.f_frsize) < min_free)
    return Status::temp("4.3.1", "53 queue file system below queue.min_free");
  for (int attempt = 0; attempt < 20; attempt++) {
    Staging s;
    s.qdir_ = qdir;
    s.qid_ = new_qid();
    s.final_ = msg_path(qdir, s.qid_);
    long long room = 0;
    s.fd_ = take_free(qdir, s.tmp_, room);
    s.recycled_ = s.fd_ >= 0;
    s.block_ = s.recycled_ ? in_place_block(qdir) : 0;
    if (s.block_ > 0) s.room_ = room;
    if (!s.recycled_) {
      s.tmp_ = s.final_ + ".tmp";
      s.fd_ = ::open(s.tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
      if (s.fd_ < 0) {
        if (errno == EEXIST) continue;
        int e = errno;
        return Status::temp("4.3.0", std::string(disk_error(e) ? "53 " : "55 ") + "cannot create " + s.tmp_ +
                                         ": " + strerror(e));
      }
      // The caller's umask must not take the group's access away: sluice-inject
      // runs setgid for any user, sluice-sched reads the file through the group.
      // (A recycled file was made here, so it has the mode already.)
      (void)::fchmod(s.fd_, 0660);
    }
    // The header's length is filled in at commit; it is written then too.
    s.buf_ = kStagingHeader;
    s.length_ = 0;
    return s;
  }
  return Status::temp("4.3.0", "55 no unique queue id after 20 tries");
}

Staging::Staging(Staging&& o) noexcept
    : qdir_(std::move(o.qdir_)), qid_(std::move(o.qid_)), tmp_(std::move(o.tmp_)), final_(std::move(o.final_)),
      fd_(std::exchange(o.fd_, -1)), length_(o.length_), buf_(std::move(o.buf_)), head_written_(o.head_written_),
      committed_(o.committed_), recycled_(o.recycled_), room_(o.room_), block_(o.block_) {
  o.committed_ = true;  // the moved-from object must not unlink our file
}

Staging::~Staging() {
  if (fd_ >= 0) ::close(fd_);
  // A claimed free file goes back to being free as it is: its stale bytes
  // are never a message, and closing ends the claim.
  if (!committed_ && !recycled_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

// Small pieces are gathered, so a message of a few kilobytes reaches the
// file in one write with its header and trailer instead of four.
bool Staging::write(std::string_view bytes) {
  if (buf_.size() + bytes.size() > kBuffer && !flush()) return false;
  if (bytes.size() < kBuffer) buf_.append(bytes);
  else if (!write_all(fd_, bytes)) return false;
  length_ += static_cast<long long>(bytes.size());
  return true;
}

bool Staging::flush() {
  if (!write_all(fd_, buf_)) return false;
  head_written_ = true;  // the buffer starts with the header until its first write
  buf_.clear();
  return true;
}

int Staging::copy_from(int fd) {
  static thread_local char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      return 54;
    }
    if (!write(std::string_view(buf, static_cast<size_t>(n)))) return 53;
  }
}

// Three ways to make the file durable before its rename (docs/queue.md,
// "Commit protocol" and "Writing in place"):
// - a recycled file that takes the message within its size is written
//   where it lies and only its data is waited for (sync_file_range): its
//   blocks are allocated and durable already, so nothing of its metadata
//   changes, and the device flush of the group's directory fsync, which
//   comes after, makes the data durable with the rename. Its own fdatasync
//   would also have written free/ (ext4 without a journal syncs the
//   directory a file was last renamed into) and flushed the device once
//   more: two writes and a flush a message;
// - a recycled file that must grow is cut at the next block boundary and
//   fdatasynced with the staging header still in place, and gets its real
//   header only then, written where it lies like the above;
// - a new file, or one on a file system that moves overwritten blocks, is
//   cut at the message's end and fdatasynced.
int Staging::commit(const Envelope& env, long long arrival) {
  long long msg_len = length_;  // counted from after the header
  std::string trailer = encode_trailer(env, arrival);
  off_t end = static_cast<off_t>(kHeaderSize) + msg_len + static_cast<off_t>(trailer.size());
  bool in_place = room_ >= end;
  bool grows = room_ >= 0 && !in_place;
  // The header is still in the buffer unless the message was large.
  bool head_here = !head_written_;
  if (head_here && !grows) buf_.replace(0, kHeaderSize, header(msg_len));
  buf_ += trailer;
  bool ok = flush() && (head_here || grows || pwrite_all(fd_, header(msg_len), 0));
  constexpr unsigned kWaitData = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
  if (ok && in_place) {
    ok = ::sync_file_range(fd_, 0, end, kWaitData) == 0;
  } else if (ok && grows) {
    off_t size = (end + block_ - 1) / block_ * block_;
    ok = ::ftruncate(fd_, size) == 0 && ::fdatasync(fd_) == 0 && pwrite_all(fd_, header(msg_len), 0) &&
         ::sync_file_range(fd_, 0, static_cast<off_t>(kHeaderSize), kWaitData) == 0;
  } else if (ok) {
    // A recycled file may be longer than this message: cut it at our end.
    ok = ::ftruncate(fd_, end) == 0 && ::fdatasync(fd_) == 0;
  }
  if (!ok) {
    log::error({{"event", "commit_failed"}, {"qid", qid_}, {"error", strerror(errno)}});
    return 53;
  }
  // A message a milter quarantined goes straight to hold/: committed like
  // any other, but not delivered until `sluice queue release`.
  return PublishGroup::instance().publish(*this, !env.param("quarantine").empty());
}

// Puts the synced staging file under its final name in DIR_CHAR's msg/
// directory (or hold/), changing the queue id's directory digit to match.
// RENAME_NOREPLACE: a queue id is unique by construction, but a clash must
// never overwrite a committed message. 0 or an exit code.
int Staging::place(char dir_char, bool quarantine) {
  for (;;) {
    if (!quarantine) qid_[12] = dir_char;
    final_ = quarantine ? hold_path(qdir_, qid_) : msg_path(qdir_, qid_);
    if (::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, final_.c_str(), RENAME_NOREPLACE) == 0) break;
    if (errno != EEXIST) {
      log::error({{"event", "commit_failed"}, {"qid", qid_}, {"error", strerror(errno)}});
      return disk_error(errno) ? 53 : 55;
    }
    qid_ = new_qid();
  }
  committed_ = true;
  // Closed only now: for a file claimed in free/, the lock is the claim.
  ::close(fd_);
  fd_ = -1;
  return 0;
}

PublishGroup& PublishGroup::instance() {
  static PublishGroup g;
  return g;
}

// The first caller to find no group running takes every caller waiting
// and publishes them together; the others wait for their result. Nobody
// waits for company: a caller alone is published at once, and while one
// group runs the next one gathers.
// Each caller sleeps on its own condition: a finished group wakes its own
// members and the first of those gathered meanwhile, who runs the next
// group. One shared condition woke every waiter at each group's end, and
// all but one of the next group went back to sleep.
int PublishGroup::publish(Staging& s, bool quarantine) {
  Member me;
  me.s = &s;
  me.quarantine = quarantine;
  std::unique_lock lk(mu_);
  waiting_.push_back(&me);
  while (me.rc < 0) {
    if (running_) {
      me.wake.wait(lk);
      continue;
    }
    std::vector<Member*> group;
    group.swap(waiting_);
    running_ = true;
    lk.unlock();
    run(group);
    lk.lock();
    // Published under the lock, and only now: a waiter that wakes early
    // must not see a rename's result before its directory's fsync.
    for (Member* m : group) m->rc = m->result;
    running_ = false;
    for (Member* m : group)
      if (m != &me) m->wake.notify_one();
    if (!waiting_.empty()) waiting_.front()->wake.notify_one();
  }
  return me.rc;
}

// All of a group go into one msg/ directory, the first one's, so one fsync
// of it makes every rename durable: with the 16 directories chosen by the
// queue id alone, the messages committed at the same moment were spread
// over as many directories and each paid a directory fsync of its own.
void PublishGroup::run(const std::vector<Member*>& group) {
  char dir_char = group.front()->s->qid_[12];
  std::vector<std::string> dirs;
  for (Member* m : group) {
    m->result = m->s->place(dir_char, m->quarantine);
    if (m->result != 0) continue;
    std::string d = dirname_of(m->s->final_);
    if (std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
  }
  for (const std::string& d : dirs) {
    auto it = dir_fds_.find(d);
    if (it == dir_fds_.end()) it = dir_fds_.emplace(d, UniqueFd(::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC))).first;
    if (it->second && ::fsync(it->second.get()) == 0) continue;
    // The files are in place but their names may not survive a crash: the
    // callers must not say yes. Removing them keeps "exit non-zero" meaning
    // "not queued".
    int e = errno;
    dir_fds_.erase(it);
    for (Member* m : group) {
      if (m->result != 0 || dirname_of(m->s->final_) != d) continue;
      ::unlink(m->s->final_.c_str());
      log::error({{"event", "commit_failed"}, {"qid", m->s->qid_}, {"error", strerror(e)}});
      m->result = 53;
    }
  }
}

Result<std::string> commit_message(const std::string& qdir, std::string_view message, const Envelope& env,
                                   long long min_free) {
  auto s = Staging::open(qdir, min_free);
  if (!s) return s.error();
  if (!s->write(message)) return Status::temp("4.3.1", "53 write: " + std::string(strerror(errno)));
  int rc = s->commit(env, ::time(nullptr));
  if (rc != 0) return Status::temp("4.3.1", std::to_string(rc) + " commit failed");
  return s->qid();
}

}  // namespace sluice::queue
