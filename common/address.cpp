// RFC 5321 Mailbox/Path, RFC 6531 UTF-8 addresses and RFC 5322
// address-lists. Every parser here is a single left-to-right pass over its
// input (no backtracking, no recursion), so hostile input costs linear time.
#include "common/address.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace sluice::addr {

namespace {

constexpr std::size_t kMaxLocal = 64, kMaxDomain = 255, kMaxPath = 256;
constexpr std::size_t kMaxLabel = 63;

Status syntax(std::string text) { return Status::perm("5.1.3", std::move(text)); }

bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_atext(unsigned char c) {
  return is_alpha(c) || is_digit(c) || (c && std::strchr("!#$%&'*+-/=?^_`{|}~", c));
}

// Length of the well-formed UTF-8 sequence (RFC 3629) at S[I], whose first
// byte is >= 0x80, or 0 when it is malformed (overlong, surrogate, > U+10FFFF).
std::size_t utf8_len(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return i + k < s.size() ? (unsigned char)s[i + k] : 0u; };
  auto cont = [](unsigned v, unsigned lo = 0x80, unsigned hi = 0xBF) { return v >= lo && v <= hi; };
  unsigned c = b(0);
  if (c >= 0xC2 && c <= 0xDF) return cont(b(1)) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return cont(b(1), lo, hi) && cont(b(2)) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return cont(b(1), lo, hi) && cont(b(2)) && cont(b(3)) ? 4 : 0;
  }
  return 0;
}

std::string show_char(unsigned char c) {
  if (c > 32 && c < 127) return std::string("'") + char(c) + "'";
  static const char* hex = "0123456789abcdef";
  return std::string("\\x") + hex[c >> 4] + hex[c & 15];
}

// A non-ASCII byte at S[I]: when allowed and well-formed, returns the
// sequence length; otherwise sets ERR and returns 0.
std::size_t non_ascii(std::string_view s, std::size_t i, bool allow_utf8, Status& err) {
  if (!allow_utf8) {
    err = Status::perm("5.6.7", "non-ASCII address requires SMTPUTF8");
    return 0;
  }
  std::size_t n = utf8_len(s, i);
  if (!n) err = syntax("invalid UTF-8 in address");
  return n;
}

bool is_dot_string(std::string_view s) {
  if (s.empty()) return false;
  bool prev_dot = true;
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    if (c == '.') {
      if (prev_dot) return false;
      prev_dot = true;
      ++i;
      continue;
    }
    prev_dot = false;
    if (c < 0x80) {
      if (!is_atext(c)) return false;
      ++i;
    } else {
      std::size_t n = utf8_len(s, i);
      if (!n) return false;
      i += n;
    }
  }
  return !prev_dot;
}

// Parses the SMTP local part at the start of S up to the unquoted '@'.
// Sets LOCAL (semantic value) and END (index of the '@' or s.size()).
Status parse_local(std::string_view s, bool allow_utf8, std::string& local, std::size_t& end) {
  local.clear();
  std::size_t i = 0;
  Status err;
  if (!s.empty() && s[0] == '"') {
    for (i = 1;; ++i) {
      if (i >= s.size()) return syntax("unterminated quoted string in local part");
      unsigned char c = s[i];
      if (c == '"') break;
      if (c == '\\') {
        if (i + 1 >= s.size()) return syntax("unterminated quoted string in local part");
        unsigned char q = s[++i];
        if (q < 32 || q > 126) return syntax("invalid quoted-pair " + show_char(q) + " in local part");
        local += char(q);
      } else if (c >= 0x80) {
        std::size_t n = non_ascii(s, i, allow_utf8, err);
        if (!n) return err;
        local.append(s.substr(i, n));
        i += n - 1;
      } else if (c < 32 || c == 127) {
        return syntax("invalid character " + show_char(c) + " in quoted local part");
      } else {
        local += char(c);
      }
    }
    end = i + 1;
    if (end < s.size() && s[end] != '@')
      return syntax("unexpected " + show_char(s[end]) + " after quoted local part");
    return Status::ok();
  }
  bool prev_dot = true;
  for (; i < s.size() && s[i] != '@';) {
    unsigned char c = s[i];
    if (c == '.') {
      if (prev_dot) return syntax("empty atom in local part (leading, trailing or double dot)");
      prev_dot = true;
      ++i;
      continue;
    }
    prev_dot = false;
    if (c >= 0x80) {
      std::size_t n = non_ascii(s, i, allow_utf8, err);
      if (!n) return err;
      i += n;
    } else if (is_atext(c)) {
      ++i;
    } else {
      return syntax("invalid character " + show_char(c) + " in local part");
    }
  }
  if (i == 0) return syntax("empty local part");
  if (prev_dot) return syntax("empty atom in local part (leading, trailing or double dot)");
  local.assign(s.substr(0, i));
  end = i;
  return Status::ok();
}

bool ipv4_literal(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t start = i;
    unsigned v = 0;
    while (i < s.size() && is_digit(s[i]) && i - start < 3) v = v * 10 + (s[i++] - '0');
    if (i == start || v > 255) return false;
    if (++parts == 4) return i == s.size();
    if (i >= s.size() || s[i] != '.') return false;
    ++i;
  }
}

Status check_literal(std::string_view d) {
  std::string_view in = d.substr(1, d.size() - 2);
  if (ipv4_literal(in)) return Status::ok();
  auto colon = in.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return syntax("invalid address literal " + std::string(d.substr(0, 80)));
  std::string_view tag = in.substr(0, colon), rest = in.substr(colon + 1);
  if (tag.size() == 4 && (tag[0] | 32) == 'i' && (tag[1] | 32) == 'p' && (tag[2] | 32) == 'v' && tag[3] == '6') {
    // inet_pton would stop at a NUL and accept what follows it.
    for (unsigned char c : rest)
      if (!is_digit(c) && !((c | 32) >= 'a' && (c | 32) <= 'f') && c != ':' && c != '.')
        return syntax("invalid IPv6 address literal");
    std::string addr(rest);
    unsigned char buf[16];
    if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) return Status::ok();
    return syntax("invalid IPv6 address literal");
  }
  // General-address-literal: Standardized-tag ":" 1*dcontent
  for (unsigned char c : tag)
    if (!is_alpha(c) && !is_digit(c) && c != '-') return syntax("invalid address literal tag");
  if (tag.back() == '-' || rest.empty()) return syntax("invalid address literal");
  for (unsigned char c : rest)
    if (c < 33 || c > 126 || c == '[' || c == '\\' || c == ']') return syntax("invalid character in address literal");
  return Status::ok();
}

}  // namespace

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c + 32);
  return out;
}

Status check_domain(std::string_view d, bool allow_utf8) {
  if (d.empty()) return syntax("empty domain");
  if (d.size() > kMaxDomain) return syntax("domain too long (at most 255 octets)");
  if (d[0] == '[') {
    if (d.size() < 3 || d.back() != ']') return syntax("unterminated address literal");
    return check_literal(d);
  }
  std::size_t label_start = 0;
  bool ascii_label = true;
  Status err;
  for (std::size_t i = 0; i <= d.size();) {
    if (i == d.size() || d[i] == '.') {
      std::size_t len = i - label_start;
      if (len == 0) return syntax("empty label in domain (leading, trailing or double dot)");
      if (ascii_label && len > kMaxLabel) return syntax("domain label too long (at most 63 octets)");
      if (d[label_start] == '-' || d[i - 1] == '-')
        return syntax("domain label starts or ends with a hyphen");
      label_start = ++i;
      ascii_label = true;
      continue;
    }
    unsigned char c = d[i];
    if (c >= 0x80) {
      std::size_t n = non_ascii(d, i, allow_utf8, err);
      if (!n) return err;
      ascii_label = false;
      i += n;
    } else if (is_alpha(c) || is_digit(c) || c == '-') {
      ++i;
    } else {
      return syntax("invalid character " + show_char(c) + " in domain");
    }
  }
  return Status::ok();
}

std::string Address::str() const {
  if (null()) return {};
  if (is_dot_string(local)) return local + "@" + domain;
  std::string out = "\"";
  for (char c : local) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += "\"@";
  return out + domain;
}

bool Address::needs_smtputf8() const {
  for (std::string_view p : {std::string_view(local), std::string_view(domain)})
    for (unsigned char c : p)
      if (c >= 0x80) return true;
  return false;
}

Result<Address> parse_mailbox(std::string_view s, bool allow_utf8) {
  if (s.empty()) return syntax("empty address");
  if (s.size() > kMaxPath - 2) return syntax("address too long (at most 254 octets)");
  Address a;
  std::size_t at = 0;
  Status st = parse_local(s, allow_utf8, a.local, at);
  if (!st.is_ok()) return st;
  if (at > kMaxLocal) return syntax("local part too long (at most 64 octets)");
  if (at >= s.size()) return syntax("missing @domain in address");
  std::string_view dom = s.substr(at + 1);
  st = check_domain(dom, allow_utf8);
  if (!st.is_ok()) return st;
  a.domain.assign(dom);
  return a;
}

std::size_t path_length(std::string_view s) {
  if (s.empty() || s[0] != '<') return std::string_view::npos;
  bool quoted = false;
  for (std::size_t i = 1; i < s.size(); ++i) {
    char c = s[i];
    if (quoted) {
      if (c == '\\') ++i;
      else if (c == '"') quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '>') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

Result<Address> parse_path(std::string_view s, bool allow_utf8, bool allow_null) {
  if (s.size() < 2 || s.front() != '<' || s.back() != '>')
    return syntax("address must be enclosed in <>");
  if (s.size() > kMaxPath) return syntax("address too long (at most 256 octets)");
  std::string_view in = s.substr(1, s.size() - 2);
  if (in.empty()) {
    if (allow_null) return Address{};
    return syntax("null address <> not allowed here");
  }
  if (in[0] == '@') {
    // Obsolete source route "@a,@b:": validated, then ignored (RFC 5321 C).
    auto colon = in.find(':');
    if (colon == std::string_view::npos) return syntax("source route without ':'");
    std::string_view route = in.substr(0, colon);
    in = in.substr(colon + 1);
    while (!route.empty()) {
      if (route[0] != '@') return syntax("invalid source route");
      auto comma = route.find(',');
      Status st = check_domain(route.substr(1, comma == std::string_view::npos ? comma : comma - 1), allow_utf8);
      if (!st.is_ok()) return st;
      route = comma == std::string_view::npos ? std::string_view() : route.substr(comma + 1);
      if (comma != std::string_view::npos && route.empty()) return syntax("invalid source route");
    }
  }
  return parse_mailbox(in, allow_utf8);
}

// --- RFC 5322 address-list ---------------------------------------------------

namespace {

struct Token {
  enum Kind { atom, quoted, literal, special } kind;
  std::string text;  // quoted: unescaped content; literal: with brackets
  char ch() const { return kind == special ? text[0] : 0; }
};

bool is_5322_special(char c) { return c && std::strchr("()<>[]:;@\\,.\"", c); }
bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Skips a comment starting at S[I] == '(' (nested, with quoted-pairs).
Status skip_comment(std::string_view s, std::size_t& i) {
  std::size_t depth = 0;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') ++i;
    else if (c == '(') ++depth;
    else if (c == ')' && --depth == 0) { ++i; return Status::ok(); }
  }
  return syntax("unterminated comment in address list");
}

Status read_quoted(std::string_view s, std::size_t& i, std::string& out) {
  for (++i; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"') { ++i; return Status::ok(); }
    if (c == '\\') {
      if (++i >= s.size()) break;
      c = s[i];
    } else if (c == '\r' || c == '\n') {
      continue;  // unfolding
    }
    out += c;
  }
  return syntax("unterminated quoted string in address list");
}

Result<std::vector<Token>> tokenize(std::string_view s) {
  std::vector<Token> toks;
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    if (is_ws(c)) { ++i; continue; }
    if (c == '(') {
      Status st = skip_comment(s, i);
      if (!st.is_ok()) return st;
    } else if (c == '"') {
      Token t{Token::quoted, {}};
      Status st = read_quoted(s, i, t.text);
      if (!st.is_ok()) return st;
      toks.push_back(std::move(t));
    } else if (c == '[') {
      auto close = s.find(']', i);
      if (close == std::string_view::npos) return syntax("unterminated domain literal in address list");
      std::string lit;
      for (char d : s.substr(i, close + 1 - i))
        if (!is_ws(d)) lit += d;
      toks.push_back({Token::literal, std::move(lit)});
      i = close + 1;
    } else if (is_5322_special(c)) {
      if (c == ')' || c == ']' || c == '\\') return syntax("unexpected " + show_char(c) + " in address list");
      toks.push_back({Token::special, std::string(1, char(c))});
      ++i;
    } else if (c < 32 || c == 127) {
      return syntax("invalid character " + show_char(c) + " in address list");
    } else {
      std::size_t start = i;
      while (i < s.size() && !is_ws(s[i]) && !is_5322_special(s[i]) && (unsigned char)s[i] >= 32 && s[i] != 127) ++i;
      toks.push_back({Token::atom, std::string(s.substr(start, i - start))});
    }
  }
  return toks;
}

bool is_word(const Token& t) { return t.kind == Token::atom || t.kind == Token::quoted; }

// addr-spec (or a bare local part, which `sendmail -t` qualifies) from
// tokens [B, E).
Result<Address> addr_spec(const std::vector<Token>& t, std::size_t b, std::size_t e) {
  Address a;
  std::size_t i = b;
  bool want_word = true;
  for (; i < e && t[i].ch() != '@'; ++i) {
    if (want_word ? !is_word(t[i]) : t[i].ch() != '.')
      return syntax("unexpected " + (t[i].kind == Token::special ? show_char(t[i].text[0]) : "'" + t[i].text.substr(0, 40) + "'") + " in address");
    a.local += t[i].text;
    want_word = !want_word;
  }
  if (i == b) return syntax("empty local part");
  if (want_word) return syntax("empty atom in local part (leading, trailing or double dot)");
  if (i < e) {
    if (++i >= e) return syntax("missing domain after @");
    if (t[i].kind == Token::literal) {
      a.domain = t[i++].text;
    } else {
      for (want_word = true; i < e; ++i, want_word = !want_word) {
        if (want_word ? t[i].kind != Token::atom : t[i].ch() != '.')
          return syntax("unexpected text in domain of address");
        a.domain += t[i].text;
      }
    }
    if (i < e) return syntax("unexpected text after domain of address");
    Status st = check_domain(a.domain, true);
    if (!st.is_ok()) return st;
  }
  // The address must be expressible in SMTP.
  for (std::size_t k = 0; k < a.local.size();) {
    unsigned char c = a.local[k];
    if (c >= 0x80) {
      std::size_t n = utf8_len(a.local, k);
      if (!n) return syntax("invalid UTF-8 in address");
      k += n;
    } else if (c < 32 || c == 127) {
      return syntax("invalid character " + show_char(c) + " in local part");
    } else {
      ++k;
    }
  }
  std::string wire = a.str();
  if (wire.size() - a.domain.size() - 1 > kMaxLocal) return syntax("local part too long (at most 64 octets)");
  if (wire.size() > kMaxPath - 2) return syntax("address too long (at most 254 octets)");
  return a;
}

// One mailbox: name-addr or addr-spec, tokens [B, E), non-empty.
Result<Address> one_mailbox(const std::vector<Token>& t, std::size_t b, std::size_t e) {
  std::size_t lt = b;
  while (lt < e && t[lt].ch() != '<') ++lt;
  if (lt == e) return addr_spec(t, b, e);
  // The display name is not used; an unquoted '@' or '[' in it
  // ("bob@x.org <bob@x.org>", common from scripts) is tolerated.
  std::size_t gt = lt + 1;
  while (gt < e && t[gt].ch() != '>') ++gt;
  if (gt + 1 != e) return syntax("unexpected text after <address>");
  std::size_t s = lt + 1;
  if (s < gt && t[s].ch() == '@') {  // obs-route
    while (s < gt && t[s].ch() != ':') ++s;
    if (s == gt) return syntax("invalid route in <address>");
    ++s;
  }
  if (s == gt) return syntax("empty address <>");
  return addr_spec(t, s, gt);
}

}  // namespace

Result<std::vector<Address>> parse_header_addresses(std::string_view value) {
  auto toks = tokenize(value);
  if (!toks) return toks.error();
  const std::vector<Token>& t = *toks;
  std::vector<Address> out;
  bool in_group = false;
  for (std::size_t i = 0; i <= t.size();) {
    std::size_t start = i;
    bool angle = false;
    for (; i < t.size(); ++i) {
      char c = t[i].ch();
      if (c == '<') {
        if (angle) return syntax("nested '<' in address list");
        angle = true;
      } else if (c == '>') {
        if (!angle) return syntax("unexpected '>' in address list");
        angle = false;
      } else if (!angle && (c == ',' || c == ';' || c == ':')) {
        break;
      }
    }
    if (angle) return syntax("unterminated <address> in address list");
    char sep = i < t.size() ? t[i].ch() : 0;
    if (sep == ':') {
      if (in_group) return syntax("nested group in address list");
      for (std::size_t k = start; k < i; ++k)
        if (!is_word(t[k]) && t[k].ch() != '.') return syntax("invalid group name in address list");
      in_group = true;
      ++i;
      continue;
    }
    if (i > start) {
      auto a = one_mailbox(t, start, i);
      if (!a) return a.error();
      out.push_back(std::move(*a));
    }
    if (sep == ';') {
      if (!in_group) return syntax("';' outside a group in address list");
      in_group = false;
    }
    ++i;  // past the separator, or past the end
  }
  return out;
}

}  // namespace sluice::addr
