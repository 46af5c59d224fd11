#include "delivery/local/maildir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/fd.hpp"
#include "common/text.hpp"
#include "delivery/local/resolve.hpp"

namespace sluice::local {
namespace {

constexpr long long kMaxQuotaFile = 5120;

Status dir_error(const std::string& what, const std::string& path) {
  int e = errno;
  std::string enh = (e == EDQUOT || e == ENOSPC) ? "4.3.1" : "4.3.0";
  return Status::temp(enh, what + " " + path + ": " + strerror(e));
}

// mkdir PATH (0700) and fsync its parent when it was created.
bool make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) == 0) return fsync_dir(dirname_of(path));
  return errno == EEXIST;
}

// Size of a message file: the ",S=" field when present (no stat needed).
long long file_size(const std::string& dir, const char* name) {
  const char* s = strstr(name, ",S=");
  long long v;
  if (s) {
    std::string_view rest(s + 3);
    size_t end = rest.find_first_not_of("0123456789");
    if (parse_signed_decimal(rest.substr(0, end), v)) return v;
  }
  struct stat st;
  if (::stat((dir + "/" + name).c_str(), &st) != 0) return -1;  // gone meanwhile: a race, not an error
  return st.st_size;
}

void scan_dir(const std::string& dir, Usage& u) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    long long sz = file_size(dir, e->d_name);
    if (sz < 0) continue;
    u.bytes += sz;
    u.count++;
  }
  ::closedir(d);
}

// The definition line and the sum of the delta lines of a maildirsize file.
bool parse_quota_file(const std::string& text, std::string& def, Usage& u) {
  size_t nl = text.find('\n');
  if (nl == std::string::npos) return false;
  def = text.substr(0, nl);
  for (size_t i = nl + 1; i < text.size();) {
    size_t e = text.find('\n', i);
    if (e == std::string::npos) break;  // a half-written last line: ignore it
    std::string line = text.substr(i, e - i);
    i = e + 1;
    size_t sp = line.find(' ');
    long long b, c;
    // Delta lines may be negative (a message removed).
    if (sp == std::string::npos || !parse_signed_decimal(line.substr(0, sp), b) ||
        !parse_signed_decimal(line.substr(sp + 1), c))
      return false;
    u.bytes += b;
    u.count += c;
  }
  return true;
}

}  // namespace

Status ensure_maildir(const std::string& root) {
  struct stat st;
  std::string newdir = root + "/new";
  if (::stat(newdir.c_str(), &st) == 0 && ::stat((root + "/tmp").c_str(), &st) == 0 &&
      ::stat((root + "/cur").c_str(), &st) == 0)
    return Status::ok();
  // Parents first (MAIL_DIR/DOMAIN), each made durable in its own parent.
  std::string parent = dirname_of(root);
  if (::stat(parent.c_str(), &st) != 0) {
    std::string grand = dirname_of(parent);
    if (!make_dirs(grand, 0700)) return dir_error("cannot create", grand);
    if (!make_dir(parent)) return dir_error("cannot create", parent);
  }
  for (const auto& d : {root, root + "/tmp", root + "/new", root + "/cur"})
    if (!make_dir(d)) return dir_error("cannot create", d);
  return Status::ok();
}

std::string escape_host(std::string_view host) {
  std::string out;
  for (char c : host) {
    if (c == '/') out += "\\057";
    else if (c == ':') out += "\\072";
    else out += c;
  }
  return out;
}

std::string unique_name(const std::string& host, long long size) {
  static std::atomic<unsigned> counter{0};
  struct timeval tv;
  ::gettimeofday(&tv, nullptr);
  char buf[96];
  snprintf(buf, sizeof buf, "%lld.M%ldP%dQ%u.", static_cast<long long>(tv.tv_sec), static_cast<long>(tv.tv_usec),
           static_cast<int>(::getpid()), ++counter);
  return buf + escape_host(host) + ",S=" + std::to_string(size);
}

std::string quota_definition(long long limit_bytes, long long limit_count) {
  std::string d;
  if (limit_bytes > 0) d = std::to_string(limit_bytes) + "S";
  if (limit_count > 0) d += (d.empty() ? "" : ",") + std::to_string(limit_count) + "C";
  return d;
}

Usage scan_usage(const std::string& root) {
  Usage u;
  scan_dir(root + "/cur", u);
  scan_dir(root + "/new", u);
  DIR* d = ::opendir(root.c_str());
  if (!d) return u;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() < 2 || n[0] != '.' || n == "..") continue;
    scan_dir(root + "/" + n + "/cur", u);
    scan_dir(root + "/" + n + "/new", u);
  }
  ::closedir(d);
  return u;
}

Result<std::string> maildir_path(const std::string& mail_dir, const std::string& address) {
  std::string local, domain;
  if (!split_address(address, local, domain) || local == "." || local == ".." || local.find('/') != std::string::npos ||
      domain.find('/') != std::string::npos || domain[0] == '.')
    return Status::perm("5.3.5", "mailbox name " + address + " cannot be a directory");
  return mail_dir + "/" + domain + "/" + local;
}

Result<Usage> quota_usage(const std::string& root, const std::string& def) {
  std::string path = root + "/maildirsize", text;
  if (read_file(path, text) && static_cast<long long>(text.size()) <= kMaxQuotaFile) {
    std::string have;
    Usage u;
    if (parse_quota_file(text, have, u) && have == def) return u;
  }
  Usage u = scan_usage(root);
  // Rebuilt by write-and-rename, so a reader never sees half a file.
  std::string body = def + "\n" + std::to_string(u.bytes) + " " + std::to_string(u.count) + "\n";
  if (!write_file_atomic(path, body, 0600)) return dir_error("cannot write", path);
  return u;
}

void quota_add(const std::string& root, long long bytes, long long count) {
  std::string path = root + "/maildirsize";
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (!fd) return;
  write_all(fd.get(), std::to_string(bytes) + " " + std::to_string(count) + "\n");
}

}  // namespace sluice::local
