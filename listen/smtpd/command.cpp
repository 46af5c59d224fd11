#include "listen/smtpd/command.hpp"

#include <cctype>
#include <vector>

#include "common/text.hpp"

namespace sluice::smtpd {

std::string Reply::line() const {
  std::string s = std::to_string(code);
  s += ' ';
  if (!enhanced.empty()) s += enhanced + ' ';
  return s + text;
}

namespace {

Reply err(int code, std::string enh, std::string text) { return Reply{code, std::move(enh), std::move(text)}; }

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// "FROM:" / "TO:" then the path and its parameters, split at single spaces.
std::optional<Reply> split_path(std::string_view arg, std::string_view keyword, std::string_view& path,
                                std::vector<std::string_view>& params) {
  if (arg.size() < keyword.size() || !iequal(arg.substr(0, keyword.size()), keyword))
    return err(501, "5.5.4", "Syntax: " + std::string(keyword == "FROM:" ? "MAIL FROM:<address>" : "RCPT TO:<address>"));
  arg.remove_prefix(keyword.size());
  while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
  size_t len = addr::path_length(arg);
  if (len == std::string_view::npos) return err(501, "5.1.3", "Bad address syntax: the path must be in <>");
  path = arg.substr(0, len);
  arg.remove_prefix(len);
  if (!arg.empty() && arg.front() != ' ') return err(501, "5.5.4", "Syntax: a space must follow the address");
  while (!arg.empty()) {
    while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
    if (arg.empty()) break;
    size_t sp = arg.find(' ');
    params.push_back(arg.substr(0, sp));
    arg.remove_prefix(sp == std::string_view::npos ? arg.size() : sp);
  }
  if (params.size() > 16) return err(501, "5.5.4", "Too many parameters");
  return std::nullopt;
}

void split_param(std::string_view p, std::string& key, std::string_view& value, bool& has_value) {
  size_t eq = p.find('=');
  has_value = eq != std::string_view::npos;
  key = upper(p.substr(0, eq));
  value = has_value ? p.substr(eq + 1) : std::string_view{};
}

bool all_digits(std::string_view s) {
  long long ignored;
  return parse_decimal(s, ignored);
}

// Printable ASCII only: ENVID and ORCPT end up in DSNs and the queue file.
bool printable(std::string_view s) {
  for (unsigned char c : s)
    if (c < 32 || c == 127) return false;
  return true;
}

std::optional<Reply> mail_param(const std::string& key, std::string_view v, bool has_value, MailArgs& out) {
  if (key == "SIZE") {
    if (!has_value || !all_digits(v) || out.size >= 0) return err(501, "5.5.4", "Bad SIZE parameter");
    out.size = std::stoll(std::string(v));
  } else if (key == "BODY") {
    std::string b = upper(v);
    if (b != "7BIT" && b != "8BITMIME") return err(555, "5.5.4", "Unsupported BODY type");
    if (!out.body.empty()) return err(501, "5.5.4", "Duplicate BODY parameter");
    out.body = b;
  } else if (key == "RET") {
    std::string r = upper(v);
    if ((r != "FULL" && r != "HDRS") || !out.ret.empty()) return err(501, "5.5.4", "Bad RET parameter");
    out.ret = r;
  } else if (key == "ENVID") {
    std::string d;
    if (!has_value || !out.envid.empty() || !xtext_decode(v, d) || d.empty() || d.size() > 100 || !printable(d))
      return err(501, "5.5.4", "Bad ENVID parameter");
    out.envid = d;
  } else if (key == "SMTPUTF8") {
    if (has_value || out.smtputf8) return err(501, "5.5.4", "SMTPUTF8 takes no value");
    out.smtputf8 = true;
  } else if (key == "AUTH") {
    // RFC 4954 5: the submitter's identity as the client claims it. We
    // record who actually authenticated instead, so the claim is ignored.
    std::string d;
    if (!has_value || !xtext_decode(v, d)) return err(501, "5.5.4", "Bad AUTH parameter");
  } else {
    return err(555, "5.5.4", "Unsupported parameter " + key);
  }
  return std::nullopt;
}

std::optional<Reply> rcpt_param(const std::string& key, std::string_view v, bool has_value, RcptArgs& out) {
  if (key == "NOTIFY") {
    if (!has_value || !out.notify.empty()) return err(501, "5.5.4", "Bad NOTIFY parameter");
    std::string n = upper(v);
    bool never = false, other = false;
    std::string_view rest = n;
    std::string seen;
    while (true) {
      size_t c = rest.find(',');
      std::string_view item = rest.substr(0, c);
      if (item == "NEVER") never = true;
      else if (item == "SUCCESS" || item == "FAILURE" || item == "DELAY") {
        if (seen.find(item) != std::string::npos) return err(501, "5.5.4", "Bad NOTIFY parameter");
        seen += std::string(item) + ",";
        other = true;
      } else {
        return err(501, "5.5.4", "Bad NOTIFY parameter");
      }
      if (c == std::string_view::npos) break;
      rest.remove_prefix(c + 1);
    }
    if (never && (other || n != "NEVER")) return err(501, "5.5.4", "NOTIFY=NEVER cannot be combined");
    out.notify = n;
  } else if (key == "ORCPT") {
    size_t semi = v.find(';');
    std::string d;
    if (!has_value || !out.orcpt.empty() || semi == std::string_view::npos || semi == 0 ||
        !xtext_decode(v.substr(semi + 1), d) || d.empty() || d.size() > 500 || !printable(d))
      return err(501, "5.5.4", "Bad ORCPT parameter");
    std::string type = addr::lower_ascii(v.substr(0, semi));
    if (type != "rfc822" && type != "utf-8") return err(501, "5.5.4", "Bad ORCPT address type");
    out.orcpt = type + ";" + d;
  } else {
    return err(555, "5.5.4", "Unsupported parameter " + key);
  }
  return std::nullopt;
}

}  // namespace

std::optional<Reply> split_command(std::string_view line, Command& out) {
  for (unsigned char c : line)
    if ((c < 32 && c != '\t') || c == 127) return err(500, "5.5.2", "Control characters are not allowed in commands");
  size_t sp = line.find(' ');
  out.verb = upper(line.substr(0, sp));
  out.arg = sp == std::string_view::npos ? std::string() : std::string(line.substr(sp + 1));
  if (out.verb.empty() || out.verb.size() > 16) return err(500, "5.5.2", "Command unrecognized");
  return std::nullopt;
}

std::optional<Reply> parse_mail(std::string_view arg, MailArgs& out) {
  std::string_view path;
  std::vector<std::string_view> params;
  if (auto e = split_path(arg, "FROM:", path, params)) return e;
  auto a = addr::parse_path(path, true, true);
  if (!a) {
    std::string text = a.error().text;
    return err(text.find("too long") != std::string::npos ? 553 : 501, "5.1.7", "Bad sender address: " + text);
  }
  out.sender = *a;
  for (auto p : params) {
    std::string key;
    std::string_view v;
    bool has;
    split_param(p, key, v, has);
    if (auto e = mail_param(key, v, has, out)) return e;
  }
  if (out.sender.needs_smtputf8() && !out.smtputf8)
    return err(553, "5.6.7", "Non-ASCII address needs MAIL FROM:<...> SMTPUTF8");
  return std::nullopt;
}

std::optional<Reply> parse_rcpt(std::string_view arg, RcptArgs& out) {
  std::string_view path;
  std::vector<std::string_view> params;
  if (auto e = split_path(arg, "TO:", path, params)) return e;
  if (iequal(path, "<postmaster>")) {
    out.postmaster = true;
  } else {
    auto a = addr::parse_path(path, true, false);
    if (!a) {
      std::string text = a.error().text;
      return err(text.find("too long") != std::string::npos ? 553 : 501, "5.1.3", "Bad recipient address: " + text);
    }
    out.rcpt = *a;
  }
  for (auto p : params) {
    std::string key;
    std::string_view v;
    bool has;
    split_param(p, key, v, has);
    if (auto e = rcpt_param(key, v, has, out)) return e;
  }
  return std::nullopt;
}

bool parse_bdat(std::string_view arg, long long& size, bool& last) {
  size_t sp = arg.find(' ');
  std::string_view n = arg.substr(0, sp);
  if (!all_digits(n)) return false;
  size = std::stoll(std::string(n));
  last = false;
  if (sp == std::string_view::npos) return true;
  std::string_view rest = arg.substr(sp + 1);
  if (!iequal(rest, "LAST")) return false;
  last = true;
  return true;
}

namespace {
int b64val(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

bool base64_decode(std::string_view in, std::string& out) {
  out.clear();
  if (in.size() % 4 != 0) return false;
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; k++) {
      char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        pad++;
      } else {
        if (pad) return false;  // data after padding
        v[k] = b64val(c);
        if (v[k] < 0) return false;
      }
    }
    // Bits below the padding must be zero: one encoding per byte string.
    if ((pad == 2 && (v[1] & 0xf)) || (pad == 1 && (v[2] & 0x3))) return false;
    unsigned n = (unsigned(v[0]) << 18) | (unsigned(v[1]) << 12) | (unsigned(v[2]) << 6) | unsigned(v[3]);
    out += static_cast<char>(n >> 16);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return true;
}

std::string base64_encode(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    unsigned n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
    out += t[(n >> 18) & 63];
    out += t[(n >> 12) & 63];
    out += i + 1 < in.size() ? t[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? t[n & 63] : '=';
  }
  return out;
}

bool parse_plain(std::string_view decoded, std::string& user, std::string& password) {
  size_t a = decoded.find('\0');
  if (a == std::string_view::npos) return false;
  size_t b = decoded.find('\0', a + 1);
  if (b == std::string_view::npos) return false;
  std::string_view authz = decoded.substr(0, a);
  user = decoded.substr(a + 1, b - a - 1);
  password = decoded.substr(b + 1);
  if (user.empty() || password.find('\0') != std::string::npos) return false;
  return authz.empty() || authz == user;
}

}  // namespace sluice::smtpd
