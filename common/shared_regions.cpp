#include "common/shared_regions.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

namespace sluice::shared {

namespace {
constexpr uint32_t kMagic = 0x736c7331;  // "sls1"

Status sys_error(const char* what) { return Status::temp("4.3.0", std::string(what) + ": " + strerror(errno)); }

uint64_t random_seed() {
  uint64_t s = 0;
  if (::getrandom(&s, sizeof s, 0) != static_cast<ssize_t>(sizeof s)) s = static_cast<uint64_t>(::getpid()) * 0x9e3779b97f4a7c15ULL;
  return s;
}
}  // namespace

Mapping::Mapping(Mapping&& o) noexcept : base_(std::exchange(o.base_, nullptr)) {}
Mapping& Mapping::operator=(Mapping&& o) noexcept {
  if (this != &o) {
    if (base_) ::munmap(base_, kFileBytes);
    base_ = std::exchange(o.base_, nullptr);
  }
  return *this;
}
Mapping::~Mapping() {
  if (base_) ::munmap(base_, kFileBytes);
}

Result<Mapping> Mapping::map(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return sys_error("fstat of the shared file");
  if (static_cast<size_t>(st.st_size) != kFileBytes)
    return Status::perm("5.3.5", "the shared file has " + std::to_string(st.st_size) + " bytes, not " +
                                     std::to_string(kFileBytes));
  void* p = ::mmap(nullptr, kFileBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return sys_error("mmap of the shared file");
  Mapping m;
  m.base_ = static_cast<unsigned char*>(p);
  const Header* h = m.header();
  if (h->magic != kMagic || h->region_bytes != kRegionBytes || h->regions != static_cast<uint32_t>(kMaxRegions))
    return Status::perm("5.3.5", "the shared file was made by another version of sluice-start");
  return m;
}

Result<Mapping> Mapping::private_one() {
  void* p = ::mmap(nullptr, kFileBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return sys_error("mmap");
  Mapping m;
  m.base_ = static_cast<unsigned char*>(p);
  Header* h = m.header();
  *h = Header{kMagic, static_cast<uint32_t>(kRegionBytes), static_cast<uint32_t>(kMaxRegions), 0, random_seed(), 1};
  return m;
}

uint64_t Mapping::in_use() const {
  return std::atomic_ref<uint64_t>(header()->in_use).load(std::memory_order_acquire);
}

Result<RegionFile> RegionFile::create(const char* name) {
  int fd = ::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return sys_error("memfd_create");
  RegionFile f;
  f.fd_ = UniqueFd(fd);
  if (::ftruncate(fd, static_cast<off_t>(kFileBytes)) != 0) return sys_error("ftruncate of the shared file");
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) return sys_error("sealing the shared file");
  void* p = ::mmap(nullptr, kHeaderBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return sys_error("mmap of the shared file");
  auto* h = static_cast<Header*>(p);
  *h = Header{kMagic, static_cast<uint32_t>(kRegionBytes), static_cast<uint32_t>(kMaxRegions), 0, random_seed(), 0};
  ::munmap(p, kHeaderBytes);
  auto m = Mapping::map(fd);
  if (!m) return m.error();
  f.map_ = std::move(*m);
  return f;
}

void RegionFile::clear(int k) {
  // Punching the hole both zeroes the region and frees its pages; memset
  // is the fallback where the file system cannot punch.
  off_t off = static_cast<off_t>(kHeaderBytes + kRegionBytes * static_cast<size_t>(k));
  if (::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, kRegionBytes) != 0)
    std::memset(map_.region(k), 0, kRegionBytes);
}

void RegionFile::publish() { std::atomic_ref<uint64_t>(map_.header()->in_use).store(used_, std::memory_order_release); }

std::optional<int> RegionFile::acquire() {
  for (int k = 0; k < kMaxRegions; k++)
    if (!(used_ & (uint64_t{1} << k))) {
      clear(k);
      used_ |= uint64_t{1} << k;
      publish();
      return k;
    }
  return std::nullopt;
}

void RegionFile::release(int k) {
  if (k < 0 || k >= kMaxRegions) return;
  used_ &= ~(uint64_t{1} << k);
  publish();
  clear(k);
}

Result<std::optional<Attached>> attach_from_env() {
  const char* fd_text = ::getenv("SLUICE_SHARED_FD");
  const char* region_text = ::getenv("SLUICE_SHARED_REGION");
  if (!fd_text || !region_text) return std::optional<Attached>{};
  char* end = nullptr;
  long fd = std::strtol(fd_text, &end, 10);
  if (*fd_text == '\0' || *end != '\0' || fd < 3 || fd > 65535)
    return Status::perm("5.3.5", std::string("SLUICE_SHARED_FD is not a file descriptor: ") + fd_text);
  long k = std::strtol(region_text, &end, 10);
  if (*region_text == '\0' || *end != '\0' || k < 0 || k >= kMaxRegions)
    return Status::perm("5.3.5", std::string("SLUICE_SHARED_REGION is not a region: ") + region_text);
  auto m = Mapping::map(static_cast<int>(fd));
  if (!m) return m.error();
  ::close(static_cast<int>(fd));  // the mapping keeps the memory
  return std::optional<Attached>{Attached{std::move(*m), static_cast<int>(k)}};
}

}  // namespace sluice::shared
