#include "delivery/remote/message.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/fd.hpp"
#include "common/text.hpp"
#include "delivery/remote/route.hpp"

namespace sluice::remote {
namespace {

// Unfolded value of header field NAME in HEADER, or "".
std::string field(std::string_view header, std::string_view name) {
  std::string out;
  bool in = false;
  for (auto l : split_lines(header)) {
    if (in && !l.empty() && (l[0] == ' ' || l[0] == '\t')) {
      out += ' ';
      out += l;
      continue;
    }
    if (in) break;
    if (l.size() > name.size() && l[name.size()] == ':' && lower(std::string(l.substr(0, name.size()))) == name) {
      in = true;
      out = std::string(l.substr(name.size() + 1));
    }
  }
  return out;
}

std::string trim(std::string s) {
  size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t;");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// Parameter PARAM of a Content-Type value ("boundary").
std::string ct_param(const std::string& ct, const std::string& param) {
  std::string low = lower(ct);
  size_t p = 0;
  while ((p = low.find(param, p)) != std::string::npos) {
    size_t e = p + param.size();
    bool start_ok = p > 0 && (low[p - 1] == ';' || low[p - 1] == ' ' || low[p - 1] == '\t');
    while (e < low.size() && (low[e] == ' ' || low[e] == '\t')) e++;
    if (!start_ok || e >= low.size() || low[e] != '=') {
      p = e;
      continue;
    }
    e++;
    while (e < ct.size() && (ct[e] == ' ' || ct[e] == '\t')) e++;
    if (e < ct.size() && ct[e] == '"') {
      size_t q = ct.find('"', e + 1);
      return ct.substr(e + 1, q == std::string::npos ? std::string::npos : q - e - 1);
    }
    size_t end = ct.find_first_of("; \t", e);
    return ct.substr(e, end == std::string::npos ? std::string::npos : end - e);
  }
  return "";
}

// HEADER without its Content-Transfer-Encoding field, plus one saying QP.
std::string header_with_qp(std::string_view header, bool add_mime_version) {
  std::string out;
  bool skipping = false;
  for (auto l : split_lines(header)) {
    bool cont = !l.empty() && (l[0] == ' ' || l[0] == '\t');
    if (!cont) skipping = l.size() > 26 && lower(std::string(l.substr(0, 26))) == "content-transfer-encoding:";
    if (skipping) continue;
    out += l;
    out += '\n';
  }
  if (add_mime_version) out += "MIME-Version: 1.0\n";
  out += "Content-Transfer-Encoding: quoted-printable\n";
  return out;
}

bool convert(std::string_view entity, bool top, std::string& out, std::string& why);

bool convert_multipart(std::string_view body, const std::string& boundary, std::string& out, std::string& why) {
  std::string dash = "--" + boundary;
  size_t pos = 0;
  bool in_part = false, closed = false;
  size_t part_start = 0;
  while (pos <= body.size()) {
    size_t eol = body.find('\n', pos);
    size_t end = eol == std::string_view::npos ? body.size() : eol;
    std::string_view line = body.substr(pos, end - pos);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
    bool delim = !closed && line.size() >= dash.size() && line.substr(0, dash.size()) == dash &&
                 (line.size() == dash.size() || line.substr(dash.size()) == "--");
    if (delim) {
      if (in_part) {
        // The line break before the delimiter belongs to the delimiter.
        size_t stop = pos > part_start ? pos - 1 : pos;
        std::string conv;
        if (!convert(body.substr(part_start, stop - part_start), false, conv, why)) return false;
        out += conv;
        out += '\n';
      } else {
        out += body.substr(0, pos);  // the preamble, sent as it is (it is never shown)
      }
      out += line;
      out += '\n';
      closed = line.size() > dash.size();
      in_part = !closed;
      part_start = eol == std::string_view::npos ? body.size() : eol + 1;
      if (closed) {
        out += body.substr(part_start);  // the epilogue
        return true;
      }
    }
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  if (in_part) {  // no closing delimiter: convert what is there
    std::string conv;
    if (!convert(body.substr(part_start), false, conv, why)) return false;
    out += conv;
  } else if (!closed) {
    out += body;
  }
  return true;
}

bool convert(std::string_view entity, bool top, std::string& out, std::string& why) {
  size_t split = entity.find("\n\n");
  std::string_view header = split == std::string_view::npos ? entity : entity.substr(0, split + 1);
  std::string_view body = split == std::string_view::npos ? std::string_view() : entity.substr(split + 2);
  if (has_8bit(header)) {
    why = "8-bit header fields";
    return false;
  }
  std::string ct = field(header, "content-type");
  std::string type = lower(trim(ct.substr(0, ct.find(';'))));
  std::string cte = lower(trim(field(header, "content-transfer-encoding")));
  if (!has_8bit(body)) {
    out.append(entity);
    return true;
  }
  if (type.rfind("multipart/", 0) == 0 && !ct_param(ct, "boundary").empty()) {
    out.append(header);
    out += '\n';
    return convert_multipart(body, ct_param(ct, "boundary"), out, why);
  }
  if (type == "message/rfc822") {
    out.append(header);
    out += '\n';
    return convert(body, false, out, why);
  }
  if (!cte.empty() && cte != "7bit" && cte != "8bit") {
    why = "8-bit content with transfer encoding " + cte;
    return false;
  }
  out += header_with_qp(header, top && field(header, "mime-version").empty());
  out += '\n';
  out += qp_encode(body);
  return true;
}

}  // namespace

Result<std::string> read_message(int fd, long long offset, long long length) {
  if (length < 0) {
    struct stat st;
    if (::fstat(fd, &st) != 0) return Status::temp("4.3.0", std::string("fstat: ") + strerror(errno));
    if (!S_ISREG(st.st_mode)) {  // a pipe: the shell mode's standard input
      std::string all;
      if (!read_all(fd, all)) return Status::temp("4.3.0", std::string("reading the message: ") + strerror(errno));
      return all.substr(std::min(all.size(), static_cast<size_t>(offset)));
    }
    length = st.st_size - offset;
  }
  std::string m(static_cast<size_t>(std::max(0LL, length)), '\0');
  size_t got = 0;
  while (got < m.size()) {
    ssize_t n = ::pread(fd, m.data() + got, m.size() - got, offset + static_cast<long long>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::temp("4.3.0", std::string("reading the message: ") + strerror(errno));
    if (n == 0) return Status::temp("4.3.0", "queue file shorter than its header says");
    got += static_cast<size_t>(n);
  }
  return m;
}

bool has_8bit(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return true;
  return false;
}

std::string_view header_of(std::string_view msg) {
  size_t split = msg.find("\n\n");
  return split == std::string_view::npos ? msg : msg.substr(0, split + 1);
}

std::string qp_encode(std::string_view body) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  auto lines = split_lines(body);
  for (size_t li = 0; li < lines.size(); li++) {
    std::string_view l = lines[li];
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    size_t col = 0;
    for (size_t i = 0; i < l.size(); i++) {
      unsigned char c = static_cast<unsigned char>(l[i]);
      bool last = i + 1 == l.size();
      std::string tok;
      if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last)) tok = std::string(1, static_cast<char>(c));
      else tok = {'=', hex[c >> 4], hex[c & 15]};
      if (col + tok.size() > 75) {  // soft break: "=" makes the 76th character
        out += "=\n";
        col = 0;
      }
      out += tok;
      col += tok.size();
    }
    out += '\n';
  }
  if (!body.empty() && body.back() != '\n' && !out.empty()) out.pop_back();
  return out;
}

Result<std::string> downgrade_8bit(std::string_view msg) {
  std::string out, why;
  if (!convert(msg, true, out, why))
    return Status::perm("5.6.3", "the message cannot be converted to 7 bits for a peer without 8BITMIME: " + why);
  return out;
}

std::string frame(std::string_view msg, bool dot_stuff) {
  std::string out;
  out.reserve(msg.size() + msg.size() / 40 + 8);
  bool bol = true;
  for (char c : msg) {
    if (bol && dot_stuff && c == '.') out += '.';
    if (c == '\n') {
      if (out.empty() || out.back() != '\r') out += '\r';
      out += '\n';
      bol = true;
      continue;
    }
    out += c;
    bol = false;
  }
  if (!bol) out += "\r\n";
  return out;
}

}  // namespace sluice::remote
