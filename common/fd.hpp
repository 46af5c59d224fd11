// File descriptors as RAII values, and the few careful I/O loops every
// program needs (EINTR, short writes, directory fsync).
#pragma once
#include <string>
#include <string_view>
#include <utility>

namespace sluice {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// All return false with errno set on failure.
bool write_all(int fd, std::string_view data);
bool pwrite_all(int fd, std::string_view data, long long offset);
// Reads until EOF. Returns false on a read error.
bool read_all(int fd, std::string& out);
bool read_file(const std::string& path, std::string& out);
// fsync(2) of a directory, so a create/rename/unlink in it is durable.
bool fsync_dir(const std::string& dir);
// Writes PATH durably: temporary file beside it, fsync, rename, fsync dir.
bool write_file_atomic(const std::string& path, std::string_view data, int mode = 0644);
// mkdir -p with MODE for the directories it creates.
bool make_dirs(const std::string& path, int mode = 0755);
std::string dirname_of(const std::string& path);
// The directory of the running executable (/proc/self/exe), so programs find
// their siblings (sluice-inject, the deliverers) without installation; "."
// when it cannot be read.
std::string exe_dir();

}  // namespace sluice
