#include "listen/smtpd/milter_proto.hpp"

#include <arpa/inet.h>
#include <strings.h>

#include <cctype>
#include <cstring>

namespace sluice::smtpd::milter {

namespace {

void put32(std::string& out, uint32_t v) {
  uint32_t n = htonl(v);
  out.append(reinterpret_cast<const char*>(&n), 4);
}

uint32_t get32(std::string_view s) {
  uint32_t n;
  memcpy(&n, s.data(), 4);
  return ntohl(n);
}

// Exactly N NUL-terminated strings filling DATA.
bool split_strings(std::string_view data, size_t n, std::vector<std::string>& out) {
  out.clear();
  while (!data.empty()) {
    size_t z = data.find('\0');
    if (z == std::string_view::npos) return false;
    out.emplace_back(data.substr(0, z));
    data.remove_prefix(z + 1);
  }
  return out.size() == n;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 200) return false;
  for (unsigned char c : name)
    if (c <= 32 || c >= 127 || c == ':') return false;
  return true;
}

// A value from a milter in LF form: no NUL or CR left, and every line
// after the first folded (it starts with a space or a tab), so a value can
// never begin a header field of its own.
bool valid_value(std::string_view v) {
  for (size_t i = 0; i < v.size(); i++) {
    if (v[i] == '\0' || v[i] == '\r') return false;
    if (v[i] == '\n' && (i + 1 == v.size() || (v[i + 1] != ' ' && v[i + 1] != '\t'))) return false;
  }
  return true;
}

}  // namespace

std::string encode(char cmd, std::string_view data) {
  std::string out;
  out.reserve(5 + data.size());
  put32(out, static_cast<uint32_t>(data.size() + 1));
  out += cmd;
  out += data;
  return out;
}

bool take_packet(std::string& buf, Packet& out, bool& bad) {
  bad = false;
  if (buf.size() < 4) return false;
  uint32_t len = get32(buf);
  if (len == 0 || len > kMaxPacket) {
    bad = true;
    return false;
  }
  if (buf.size() < 4 + static_cast<size_t>(len)) return false;
  out.cmd = buf[4];
  out.data.assign(buf, 5, len - 1);
  buf.erase(0, 4 + static_cast<size_t>(len));
  return true;
}

std::string optneg(uint32_t actions, uint32_t steps) {
  std::string out;
  put32(out, kVersion);
  put32(out, actions);
  put32(out, steps);
  return out;
}

std::string connect_data(std::string_view hostname, std::string_view ip, uint16_t port) {
  std::string out(hostname);
  out += '\0';
  out += ip.find(':') != std::string_view::npos ? '6' : '4';
  uint16_t p = htons(port);
  out.append(reinterpret_cast<const char*>(&p), 2);
  out += ip;
  out += '\0';
  return out;
}

std::string strings(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    out += s;
    out += '\0';
  }
  return out;
}

std::string macros(char for_cmd, const std::vector<std::pair<std::string, std::string>>& m) {
  std::string out(1, for_cmd);
  for (const auto& [k, v] : m) {
    out += k;
    out += '\0';
    out += v;
    out += '\0';
  }
  return out;
}

std::optional<Negotiated> parse_optneg(std::string_view data) {
  if (data.size() < 12) return std::nullopt;
  Negotiated n{get32(data), get32(data.substr(4)), get32(data.substr(8))};
  if (n.version < 2) return std::nullopt;
  return n;
}

std::optional<Answer> parse_answer(const Packet& p) {
  Answer a;
  switch (p.cmd) {
    case 'c': a.verdict = Verdict::next; return a;
    case 'a': a.verdict = Verdict::accept; return a;
    case 'r': a.verdict = Verdict::reject; return a;
    case 't': a.verdict = Verdict::tempfail; return a;
    case 'd': a.verdict = Verdict::discard; return a;
    case 's': a.verdict = Verdict::skip; return a;
    case 'y': break;
    default: return std::nullopt;
  }
  std::string_view t(p.data);
  if (size_t z = t.find('\0'); z != std::string_view::npos) t = t.substr(0, z);
  if (size_t e = t.find_first_of("\r\n"); e != std::string_view::npos) t = t.substr(0, e);
  if (t.size() < 3 || (t[0] != '4' && t[0] != '5') || !isdigit(static_cast<unsigned char>(t[1])) ||
      !isdigit(static_cast<unsigned char>(t[2])) || (t.size() > 3 && t[3] != ' ' && t[3] != '-'))
    return std::nullopt;
  a.verdict = Verdict::reply;
  a.code = (t[0] - '0') * 100 + (t[1] - '0') * 10 + (t[2] - '0');
  std::string_view rest = t.size() > 4 ? t.substr(4) : std::string_view();
  // "X.Y.Z " with X the code's class, as RFC 3463 asks.
  size_t sp = rest.find(' ');
  std::string_view first = rest.substr(0, sp);
  int dots = 0;
  bool shape = !first.empty() && first[0] == t[0];
  for (char c : first) {
    if (c == '.') dots++;
    else if (!isdigit(static_cast<unsigned char>(c))) shape = false;
  }
  if (shape && dots == 2 && first.back() != '.') {
    a.enhanced = std::string(first);
    rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
  }
  for (unsigned char c : rest)
    if (c < 32 || c == 127) return std::nullopt;
  a.text = std::string(rest);
  return a;
}

std::optional<Edit> parse_edit(const Packet& p) {
  std::vector<std::string> f;
  Edit e{};
  std::string_view d(p.data);
  switch (p.cmd) {
    case 'h':
      if (!split_strings(d, 2, f)) return std::nullopt;
      e.kind = Edit::Kind::add_header;
      e.name = f[0];
      e.value = f[1];
      return e;
    case 'i':
    case 'm':
      if (d.size() < 4 || !split_strings(d.substr(4), 2, f)) return std::nullopt;
      e.kind = p.cmd == 'i' ? Edit::Kind::insert_header : Edit::Kind::change_header;
      e.index = get32(d);
      e.name = f[0];
      e.value = f[1];
      return e;
    case '+':
    case '-':
      if (!split_strings(d, 1, f)) return std::nullopt;
      e.kind = p.cmd == '+' ? Edit::Kind::add_rcpt : Edit::Kind::del_rcpt;
      e.value = f[0];
      return e;
    case '2':
      if (!split_strings(d, 2, f)) return std::nullopt;
      e.kind = Edit::Kind::add_rcpt;
      e.value = f[0];
      e.args = f[1];
      return e;
    case 'e':
      if (!split_strings(d, 1, f) && !split_strings(d, 2, f)) return std::nullopt;
      e.kind = Edit::Kind::change_from;
      e.value = f[0];
      if (f.size() == 2) e.args = f[1];
      return e;
    case 'b':
      e.kind = Edit::Kind::replace_body;
      e.value = std::string(d);
      return e;
    case 'q':
      if (!split_strings(d, 1, f)) return std::nullopt;
      e.kind = Edit::Kind::quarantine;
      e.value = f[0];
      return e;
    default: return std::nullopt;
  }
}

Parsed parse_message(std::string_view m) {
  Parsed p;
  size_t pos = 0;
  while (pos < m.size()) {
    size_t nl = m.find('\n', pos);
    size_t end = nl == std::string_view::npos ? m.size() : nl;
    std::string_view line = m.substr(pos, end - pos);
    size_t next = nl == std::string_view::npos ? m.size() : nl + 1;
    if (line.empty()) {
      p.body = std::string(m.substr(next));
      return p;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !p.fields.empty()) {
      p.fields.back().value += '\n';
      p.fields.back().value += line;
      pos = next;
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !valid_name(line.substr(0, colon))) break;
    p.fields.push_back({std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))});
    pos = next;
  }
  p.blank_line = false;
  p.body = std::string(m.substr(pos));
  return p;
}

std::string join_message(const Parsed& p) {
  std::string out;
  for (const auto& f : p.fields) {
    out += f.name;
    out += ':';
    out += f.value;
    out += '\n';
  }
  if (p.blank_line) out += '\n';
  out += p.body;
  return out;
}

std::string wire_value(std::string_view v) {
  if (!v.empty() && v[0] == ' ') v.remove_prefix(1);
  std::string out;
  out.reserve(v.size() + 8);
  for (char c : v) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

std::string to_lf(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
    out += s[i];
  }
  return out;
}

std::string to_crlf(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 40);
  for (char c : s) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

bool apply_header_edit(Parsed& p, const Edit& e) {
  if (!valid_name(e.name)) return false;
  std::string v = to_lf(e.value);
  if (!valid_value(v)) return false;
  Header h{e.name, v.empty() ? std::string() : " " + v};
  switch (e.kind) {
    case Edit::Kind::add_header: p.fields.push_back(std::move(h)); return true;
    case Edit::Kind::insert_header: {
      size_t at = std::min<size_t>(e.index, p.fields.size());
      p.fields.insert(p.fields.begin() + static_cast<long>(at), std::move(h));
      return true;
    }
    case Edit::Kind::change_header: {
      uint32_t seen = 0;
      for (size_t i = 0; i < p.fields.size(); i++) {
        if (strcasecmp(p.fields[i].name.c_str(), e.name.c_str()) != 0 || ++seen != std::max<uint32_t>(e.index, 1))
          continue;
        if (v.empty())
          p.fields.erase(p.fields.begin() + static_cast<long>(i));
        else
          p.fields[i].value = h.value;
        return true;
      }
      // No such header: a change that sets a value adds it (as libmilter documents).
      if (!v.empty()) p.fields.push_back(std::move(h));
      return true;
    }
    default: return false;
  }
}

}  // namespace sluice::smtpd::milter
