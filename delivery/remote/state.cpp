#include "delivery/remote/state.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <thread>

#include "common/log.hpp"

namespace sluice::remote {
namespace {

bool make_private_dir(const std::string& d) {
  if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) return false;
  struct stat st;
  // Someone else's directory would let them forge marks: not ours, not used.
  return ::lstat(d.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() &&
         ::access(d.c_str(), W_OK) == 0;
}

}  // namespace

State::State(std::string dir, long long down_time_s) : dir_(std::move(dir)), down_time_(down_time_s) {
  shared_ = !dir_.empty() && make_private_dir(dir_) && make_private_dir(dir_ + "/down") &&
            make_private_dir(dir_ + "/slot");
  if (!shared_)
    log::warn({{"event", "state_dir_unavailable"}, {"dir", dir_}, {"error", strerror(errno)},
               {"effect", "down marks per process, no destination_concurrency"}});
}

std::string State::file_name(const std::string& dest) {
  std::string out;
  for (char c : dest) out += (isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '_';
  return out.substr(0, 200);
}

std::optional<std::string> State::down(const std::string& dest) {
  long long now = ::time(nullptr);
  if (!shared_) {
    auto it = mem_.find(dest);
    if (it == mem_.end() || it->second.first + down_time_ <= now) return std::nullopt;
    return it->second.second;
  }
  std::string path = dir_ + "/down/" + file_name(dest);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || st.st_mtime + down_time_ <= now) return std::nullopt;
  std::string why;
  read_file(path, why);
  return why.empty() ? "destination marked down" : why;
}

void State::mark_down(const std::string& dest, const std::string& why) {
  if (down_time_ <= 0) return;
  if (!shared_) {
    mem_[dest] = {::time(nullptr), why};
    return;
  }
  std::string path = dir_ + "/down/" + file_name(dest), tmp = path + ".tmp" + std::to_string(::getpid());
  // Not fsynced: a mark lost in a crash only costs one more attempt.
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd && write_all(fd.get(), why)) ::rename(tmp.c_str(), path.c_str());
  else ::unlink(tmp.c_str());
}

void State::clear_down(const std::string& dest) {
  if (!shared_) {
    mem_.erase(dest);
    return;
  }
  ::unlink((dir_ + "/down/" + file_name(dest)).c_str());
}

UniqueFd State::acquire_slot(const std::string& dest, long long max, long long wait_ms) {
  if (!shared_ || max <= 0) return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  std::string base = dir_ + "/slot/" + file_name(dest) + ".";
  for (;;) {
    for (long long i = 0; i < max; i++) {
      UniqueFd fd(::open((base + std::to_string(i)).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
      if (fd && ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return fd;
    }
    if (std::chrono::steady_clock::now() >= until) return UniqueFd();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace sluice::remote
