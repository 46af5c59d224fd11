#include "delivery/local/message.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/address.hpp"
#include "common/fd.hpp"

namespace sluice::local {
namespace {

Status io_error(const char* what) { return Status::temp("4.3.0", std::string(what) + ": " + strerror(errno)); }

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_wsp(s.front()) || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (is_wsp(s.back()) || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && addr::lower_ascii(a) == addr::lower_ascii(b);
}

// Calls F(name, raw_value) for each header field, the value still folded.
template <class F>
void for_each_field(std::string_view msg, F&& f) {
  size_t i = 0;
  std::string_view name, value;
  bool have = false;
  while (i < msg.size()) {
    size_t e = msg.find('\n', i);
    size_t next = e == std::string_view::npos ? msg.size() : e + 1;
    std::string_view line = msg.substr(i, next - i);
    std::string_view bare = trim(line);
    if (bare.empty() && !is_wsp(line.empty() ? 'x' : line[0])) break;  // end of header section
    if (is_wsp(line[0])) {
      if (have) value = msg.substr(value.data() - msg.data(), next - (value.data() - msg.data()));
    } else {
      if (have) f(name, value);
      size_t colon = line.find(':');
      have = colon != std::string_view::npos;
      if (have) {
        name = trim(line.substr(0, colon));
        value = line.substr(colon + 1);
      }
    }
    i = next;
  }
  if (have) f(name, value);
}

// RFC 5322 2.2.3: unfolding removes each CRLF (here also a bare LF) that is
// followed by whitespace; the whitespace stays.
std::string unfold(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v)
    if (c != '\r' && c != '\n') out += c;
  return std::string(trim(out));
}

}  // namespace

Result<std::string> read_message(int fd, long long offset, long long length) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return io_error("message fd");
  std::string out;
  if (!S_ISREG(st.st_mode)) {
    // Standalone mode: fd 0 may be a pipe; offsets mean nothing there.
    if (!read_all(fd, out)) return io_error("reading message");
    return out;
  }
  long long end = length < 0 ? st.st_size : offset + length;
  if (offset > end || end > st.st_size)
    return Status::temp("4.3.0", "message file shorter than the job says (" + std::to_string(st.st_size) +
                                     " bytes)");
  out.resize(static_cast<size_t>(end - offset));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, offset + static_cast<long long>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("reading message");
    if (n == 0) return Status::temp("4.3.0", "message file ended early");
    done += static_cast<size_t>(n);
  }
  return out;
}

std::vector<std::string> header_values(std::string_view msg, std::string_view name) {
  std::vector<std::string> out;
  for_each_field(msg, [&](std::string_view n, std::string_view v) {
    if (iequals(n, name)) out.push_back(unfold(v));
  });
  return out;
}

std::string header_value(std::string_view msg, std::string_view name) {
  auto v = header_values(msg, name);
  return v.empty() ? std::string() : v.front();
}

bool has_delivered_to(std::string_view msg, std::string_view address) {
  std::string want = addr::lower_ascii(address);
  for (const auto& v : header_values(msg, "Delivered-To")) {
    std::string_view s = v;
    if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = trim(s.substr(1, s.size() - 2));
    if (addr::lower_ascii(s) == want) return true;
  }
  return false;
}

}  // namespace sluice::local
