// Encoding and parsing of queue files (layout in queue.hpp, argument in
// docs/queue.md). Fixed-width fields (message length, ctl line, recipient
// state bytes) are rewritten in place with pwrite, never by rewriting the file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "common/deliver_proto.hpp"
#include "common/fd.hpp"
#include "common/text.hpp"
#include "queue/store/queue.hpp"

namespace sluice::queue {
namespace {

using deliver::xtext_decode;
using deliver::xtext_encode;

constexpr std::string_view kMagic = "sluice-queue 1 ";
constexpr size_t kReasonSize = 150;
constexpr size_t kCtlSize = 26 + kReasonSize;  // "ctl " + 12 + " " + 5 + " " + 1 + " " + reason + "\n"

Status corrupt(const std::string& why) { return Status::temp("4.3.0", "corrupt queue file: " + why); }

// The reason is free text of fixed width (padded with spaces), so that a
// new one can be written in place; bytes that could break the line go.
std::string ctl_line(long long next_try, int tries, char flags, std::string_view reason) {
  std::string r;
  for (char c : reason.substr(0, kReasonSize)) r += (c >= 32 && c < 127) ? c : '?';
  r.resize(kReasonSize, ' ');
  char buf[64];
  snprintf(buf, sizeof buf, "ctl %012lld %05d %c ", next_try < 0 ? 0 : next_try % 1000000000000LL,
           tries < 0 ? 0 : tries % 100000, flags);
  return buf + r + "\n";
}

// Splits "a b c" into at most N words; the last takes the rest of the line
// (an xtext value may be empty, so "sender " has an empty second word).
std::vector<std::string_view> words(std::string_view line, size_t n) {
  std::vector<std::string_view> w;
  while (w.size() + 1 < n) {
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) break;
    w.push_back(line.substr(0, sp));
    line.remove_prefix(sp + 1);
  }
  w.push_back(line);
  return w;
}

// Parses the trailer TEXT that starts at file offset BASE into E.
Status parse_trailer(std::string_view text, long long base, Entry& e) {
  size_t i = 0;
  bool have_ctl = false, have_sender = false, have_end = false, have_arrival = false;
  while (i < text.size()) {
    size_t nl = text.find('\n', i);
    if (nl == std::string_view::npos) return corrupt("unterminated line");
    std::string_view line = text.substr(i, nl - i);
    long long off = base + static_cast<long long>(i);
    i = nl + 1;
    if (line.starts_with("ctl ")) {
      auto w = words(line, 5);
      long long t, n;
      if (have_ctl || line.size() + 1 != kCtlSize || w.size() != 5 || !parse_decimal(w[1], t) || !parse_decimal(w[2], n) ||
          w[3].size() != 1)
        return corrupt("bad ctl line");
      e.next_try = t, e.tries = static_cast<int>(n), e.flags = w[3][0], e.ctl_offset = off;
      e.reason = w[4].substr(0, w[4].find_last_not_of(' ') + 1);
      have_ctl = true;
    } else if (line.starts_with("arrival ")) {
      if (!parse_decimal(line.substr(8), e.arrival)) return corrupt("bad arrival");
      have_arrival = true;
    } else if (line.starts_with("sender ")) {
      if (have_sender || !xtext_decode(line.substr(7), e.env.sender)) return corrupt("bad sender");
      have_sender = true;
    } else if (line.starts_with("param ")) {
      auto w = words(line, 3);
      std::string k, v;
      if (w.size() != 3 || !xtext_decode(w[1], k) || !xtext_decode(w[2], v)) return corrupt("bad param");
      e.env.params.emplace_back(std::move(k), std::move(v));
    } else if (line.starts_with("rcpt ")) {
      auto w = words(line, 5);
      Rcpt r;
      if (w.size() != 5 || w[1].size() != 1) return corrupt("bad rcpt");
      char s = w[1][0];
      if (s != '-' && s != 'D' && s != 'F') return corrupt("bad rcpt state");
      r.state = static_cast<RcptState>(s);
      r.state_offset = off + 5;
      if ((w[2] != "-" && !xtext_decode(w[2], r.notify)) || (w[3] != "-" && !xtext_decode(w[3], r.orcpt)) ||
          !xtext_decode(w[4], r.address))
        return corrupt("bad rcpt");
      e.env.rcpts.push_back(std::move(r));
    } else if (line == "end") {
      // What follows is room a recycled file keeps (docs/queue.md, "The file").
      have_end = true;
      break;
    } else {
      return corrupt("unknown line");
    }
  }
  if (!have_ctl || !have_sender || !have_end || !have_arrival || e.env.rcpts.empty())
    return corrupt("incomplete envelope");
  return Status::ok();
}

}  // namespace

Result<long long> parse_header(std::string_view head) {
  long long len;
  if (head.size() < kHeaderSize || !head.starts_with(kMagic) || head[kHeaderSize - 1] != '\n' ||
      !parse_decimal(head.substr(kMagic.size(), 12), len))
    return corrupt("bad header");
  return len;
}

namespace {

std::string qid_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string header(long long msg_length) {
  char buf[64];
  snprintf(buf, sizeof buf, "sluice-queue 1 %012lld\n", msg_length);
  return buf;
}

std::string encode_trailer(const Envelope& e, long long arrival) {
  std::string t = ctl_line(0, 0, kFlagNone, "");
  t += "arrival " + std::to_string(arrival) + "\n";
  t += "sender " + xtext_encode(e.sender) + "\n";
  for (const auto& [k, v] : e.params) t += "param " + xtext_encode(k) + " " + xtext_encode(v) + "\n";
  for (const auto& r : e.rcpts) {
    t += "rcpt ";
    t += static_cast<char>(r.state);
    t += " " + (r.notify.empty() ? std::string("-") : xtext_encode(r.notify)) + " " +
         (r.orcpt.empty() ? std::string("-") : xtext_encode(r.orcpt)) + " " + xtext_encode(r.address) + "\n";
  }
  t += "end\n";
  return t;
}

Result<Entry> parse_file(std::string_view content) {
  auto len = parse_header(content);
  if (!len) return len.error();
  Entry e;
  e.msg_offset = kHeaderSize;
  e.msg_length = *len;
  if (static_cast<long long>(content.size()) < e.msg_offset + e.msg_length) return corrupt("short file");
  auto base = e.msg_offset + e.msg_length;
  auto st = parse_trailer(content.substr(static_cast<size_t>(base)), base, e);
  if (!st.is_ok()) return st;
  return e;
}

// The trailer is read from the end of the message until its `end` line,
// never up to the file's size: a recycled file keeps the room an earlier,
// longer message needed, with that message's bytes in it.
Result<Entry> read_entry_fd(int fd, const std::string& path) {
  char head[kHeaderSize];
  ssize_t n = ::pread(fd, head, kHeaderSize, 0);
  if (n < 0) return Status::temp("4.3.0", "read " + path + ": " + strerror(errno));
  auto len = parse_header(std::string_view(head, static_cast<size_t>(n)));
  if (!len) return len.error();
  long long base = static_cast<long long>(kHeaderSize) + *len;
  std::string trailer;
  for (size_t want = 4096;; want *= 4) {
    size_t have = trailer.size();
    trailer.resize(want);
    n = ::pread(fd, trailer.data() + have, want - have, base + static_cast<long long>(have));
    if (n < 0) return Status::temp("4.3.0", "read " + path + ": " + strerror(errno));
    trailer.resize(have + static_cast<size_t>(n));
    if (trailer.starts_with("end\n") || trailer.find("\nend\n") != std::string::npos) break;
    if (static_cast<size_t>(n) < want - have) break;  // the file ends without an end line: corrupt below
    if (want >= (64 << 20)) return corrupt("huge envelope");
  }
  if (trailer.empty()) return corrupt("short file");
  Entry e;
  e.qid = qid_of(path);
  e.path = path;
  e.msg_offset = kHeaderSize;
  e.msg_length = *len;
  auto s = parse_trailer(trailer, base, e);
  if (!s.is_ok()) return s;
  return e;
}

Result<Entry> read_entry(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Status::temp(errno == ENOENT ? "4.3.0" : "4.3.0", "open " + path + ": " + strerror(errno));
  return read_entry_fd(fd.get(), path);
}

bool mark_rcpts(int fd, const std::vector<const Rcpt*>& rcpts, RcptState s, bool sync) {
  char c = static_cast<char>(s);
  for (const Rcpt* r : rcpts)
    if (!pwrite_all(fd, std::string_view(&c, 1), r->state_offset)) return false;
  return !sync || ::fdatasync(fd) == 0;
}

bool write_ctl(int fd, const Entry& e) {
  return pwrite_all(fd, ctl_line(e.next_try, e.tries, e.flags, e.reason), e.ctl_offset);
}

}  // namespace sluice::queue
