// Shared memory between the processes of one pool (the smtpd workers):
// one memfd made by sluice-start, cut into fixed regions, one region per
// running process. A process writes only its own region and reads all
// regions in use, so counts add up across the pool without a lock, and a
// process that dies takes its counts with it: sluice-start clears its
// region when it reaps the process.
//
// The file: a header page (magic, region size, regions, a random seed for
// hashing, and a bitmap of the regions in use, written only by sluice-start),
// then kMaxRegions regions of kRegionBytes. The memfd is sealed against
// shrinking and growing, so no child can make sluice-start's mapping fault.
// A child finds it through SLUICE_SHARED_FD (the fd) and
// SLUICE_SHARED_REGION (its region).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/fd.hpp"
#include "common/status.hpp"

namespace sluice::shared {

inline constexpr size_t kRegionBytes = 1024 * 1024;
inline constexpr int kMaxRegions = 64;  // one bit each in the header's bitmap
inline constexpr size_t kHeaderBytes = 4096;
inline constexpr size_t kFileBytes = kHeaderBytes + kRegionBytes * kMaxRegions;

struct Header {
  uint32_t magic;
  uint32_t region_bytes;
  uint32_t regions;
  uint32_t unused;
  uint64_t seed;
  uint64_t in_use;  // bit K: region K belongs to a running process (atomic access)
};

// A mapping of the file. Pages are allocated only when touched.
class Mapping {
 public:
  Mapping() = default;
  Mapping(Mapping&& o) noexcept;
  Mapping& operator=(Mapping&& o) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  // Maps FD (a file made by create()).
  static Result<Mapping> map(int fd);
  // A private anonymous mapping with only region 0 in use: the same code
  // runs in a process started without sluice-start.
  static Result<Mapping> private_one();

  uint64_t seed() const { return header()->seed; }
  uint64_t in_use() const;
  void* region(int k) const { return base_ + kHeaderBytes + kRegionBytes * static_cast<size_t>(k); }
  Header* header() const { return reinterpret_cast<Header*>(base_); }

 private:
  unsigned char* base_ = nullptr;
};

// sluice-start's side: the memfd, and the choice of regions.
class RegionFile {
 public:
  static Result<RegionFile> create(const char* name);
  int fd() const { return fd_.get(); }
  // A free region, cleared and marked in use; nullopt when all are taken.
  std::optional<int> acquire();
  // Marks K free and clears it (its pages are returned to the system).
  void release(int k);

 private:
  UniqueFd fd_;
  Mapping map_;
  uint64_t used_ = 0;  // the truth; the header's bitmap is a copy children read
  void clear(int k);
  void publish();
};

// A child's view: its own region and the others in use. nullopt when the
// process was started without SLUICE_SHARED_FD; an error when it was set
// but unusable.
struct Attached {
  Mapping map;
  int mine = 0;
};
Result<std::optional<Attached>> attach_from_env();

}  // namespace sluice::shared
