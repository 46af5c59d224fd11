// The message as sendmail queues it: CRLF turned into LF, input ended by a
// lone "." unless -i, Bcc removed, From/Date/Message-ID added when
// missing, and the envelope (sender, recipients from argv and, with -t,
// from To/Cc/Bcc).
#include <cctype>
#include <cstdio>
#include <ctime>

#include "admin/sendmail/sendmail.hpp"
#include "common/address.hpp"

namespace sluice::sendmail {
namespace {

Status data_err(const std::string& text) { return Status::perm("65", text); }

// CRLF -> LF and, without -i, the end at a line holding only ".".
std::string normalize(std::string_view in, bool ignore_dots) {
  std::string out;
  out.reserve(in.size() + 1);
  size_t i = 0;
  while (i < in.size()) {
    size_t j = in.find('\n', i);
    std::string_view line = in.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!ignore_dots && line == ".") break;
    out.append(line);
    out += '\n';
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

struct Field {
  std::string name;  // lowercased
  std::string raw;   // the whole field with its continuation lines, LF-terminated
  std::string value() const {
    std::string v = raw.substr(raw.find(':') + 1);
    std::string out;
    for (char c : v)
      if (c != '\n' && c != '\r') out += c;  // unfold
    return out;
  }
};

bool is_field_name_char(char c) { return c > 32 && c < 127 && c != ':'; }

// Splits the header section from the body. A first line that is not a
// header field starts the body (Postfix does the same).
void split(const std::string& msg, std::vector<Field>& fields, std::string& body) {
  size_t i = 0;
  while (i < msg.size()) {
    size_t j = msg.find('\n', i);
    std::string_view line(msg.data() + i, j - i);
    if (line.empty()) {
      i = j + 1;
      break;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !fields.empty()) {
      fields.back().raw.append(line).append("\n");
      i = j + 1;
      continue;
    }
    size_t colon = line.find(':');
    size_t k = 0;
    while (k < line.size() && is_field_name_char(line[k])) k++;
    if (colon == std::string_view::npos || colon == 0 || k != colon) break;
    fields.push_back({addr::lower_ascii(line.substr(0, colon)), std::string(line) + "\n"});
    i = j + 1;
  }
  body = msg.substr(std::min(i, msg.size()));
}

bool atext_only(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-/=?^_`{|}~.").find(c) != std::string_view::npos ||
          static_cast<unsigned char>(c) >= 0x80))
      return false;
  return true;
}

// Top-level comma split (outside quotes, comments and angle brackets).
std::vector<std::string> split_list(std::string_view v) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  int depth = 0, angle = 0;
  for (size_t i = 0; i < v.size(); i++) {
    char c = v[i];
    if (quoted && c == '\\' && i + 1 < v.size()) {
      cur += c;
      cur += v[++i];
      continue;
    }
    if (c == '"' && depth == 0) quoted = !quoted;
    else if (!quoted && c == '(') depth++;
    else if (!quoted && c == ')' && depth > 0) depth--;
    else if (!quoted && depth == 0 && c == '<') angle++;
    else if (!quoted && depth == 0 && c == '>' && angle > 0) angle--;
    if (c == ',' && !quoted && depth == 0 && angle == 0) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

// "root" -> "root@HOST", "Root <root>" -> "Root <root@HOST>".
std::string qualify_item(const std::string& item, const std::string& host) {
  std::string t = trim(item);
  if (atext_only(t)) return t + "@" + host;
  size_t lt = t.rfind('<');
  if (lt != std::string::npos && !t.empty() && t.back() == '>') {
    std::string inner = t.substr(lt + 1, t.size() - lt - 2);
    if (atext_only(inner)) return t.substr(0, lt + 1) + inner + "@" + host + ">";
  }
  return t;
}

std::string quote_name(const std::string& name) {
  bool plain = true;
  for (char c : name)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == ' ' || std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos))
      plain = false;
  if (plain) return name;
  std::string q = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') q += '\\';
    if (c != '\n' && c != '\r') q += c;
  }
  return q + "\"";
}

Result<std::string> envelope_sender(const Options& o, const Context& ctx) {
  if (!o.sender_given) return ctx.login + "@" + ctx.hostname;
  std::string s = trim(o.sender);
  if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = s.substr(1, s.size() - 2);
  if (s.empty()) return std::string();  // the null sender <>
  if (s.find('@') == std::string::npos) s += "@" + ctx.hostname;
  auto a = addr::parse_mailbox(s, true);
  if (!a) return data_err("bad sender address " + o.sender + ": " + a.error().text);
  return a->str();
}

void add_missing(std::vector<Field>& fields, const std::string& from, const Options& o, const Context& ctx) {
  auto has = [&](const char* n) {
    for (const auto& f : fields)
      if (f.name == n) return true;
    return false;
  };
  if (!has("from")) {
    std::string name = o.full_name.empty() ? ctx.gecos : o.full_name;
    std::string v = name.empty() ? from : quote_name(name) + " <" + from + ">";
    fields.push_back({"from", "From: " + v + "\n"});
  }
  if (!has("date")) fields.push_back({"date", "Date: " + rfc5322_date(ctx.now) + "\n"});
  if (!has("message-id"))
    fields.push_back({"message-id", "Message-ID: <" + ctx.unique + "@" + ctx.hostname + ">\n"});
}

}  // namespace

Result<std::vector<std::string>> parse_addresses(std::string_view value, const std::string& hostname) {
  auto r = addr::parse_header_addresses(value);
  if (!r) {
    std::string q;
    for (const auto& item : split_list(value)) {
      if (trim(item).empty()) continue;
      q += (q.empty() ? "" : ", ") + qualify_item(item, hostname);
    }
    r = addr::parse_header_addresses(q);
    if (!r) return data_err("bad address in '" + std::string(value) + "': " + r.error().text);
  }
  std::vector<std::string> out;
  for (auto a : *r) {
    // A bare local part ("root", as cron writes it) is a user of this host.
    if (a.domain.empty()) a.domain = hostname;
    auto check = addr::parse_mailbox(a.str(), true);
    if (!check) return data_err("bad address '" + a.str() + "': " + check.error().text);
    out.push_back(a.str());
  }
  return out;
}

Result<Prepared> prepare(std::string_view input, const Options& o, const Context& ctx) {
  std::vector<Field> fields;
  std::string body;
  split(normalize(input, o.ignore_dots), fields, body);

  Prepared p;
  auto sender = envelope_sender(o, ctx);
  if (!sender) return sender.error();
  p.env.sender = *sender;

  std::vector<std::string> rcpts;
  for (const auto& a : o.rcpts) {
    auto r = parse_addresses(a, ctx.hostname);
    if (!r) return r.error();
    rcpts.insert(rcpts.end(), r->begin(), r->end());
  }
  if (o.extract) {
    // Resent-* fields, when present, name the recipients of this resending.
    bool resent = false;
    for (const auto& f : fields) resent |= f.name == "resent-to" || f.name == "resent-cc" || f.name == "resent-bcc";
    for (const auto& f : fields) {
      bool want = resent ? (f.name == "resent-to" || f.name == "resent-cc" || f.name == "resent-bcc")
                         : (f.name == "to" || f.name == "cc" || f.name == "bcc");
      if (!want) continue;
      auto r = parse_addresses(f.value(), ctx.hostname);
      if (!r) return r.error();
      rcpts.insert(rcpts.end(), r->begin(), r->end());
    }
  }
  std::vector<std::string> seen;
  for (const auto& r : rcpts) {
    std::string key = addr::lower_ascii(r);
    bool dup = false;
    for (const auto& s : seen) dup |= s == key;
    if (dup) continue;
    seen.push_back(key);
    p.env.rcpts.push_back(queue::Rcpt{r, o.notify, "", queue::RcptState::pending, 0});
  }
  if (p.env.rcpts.empty())
    return Status::perm("64", o.extract ? "no recipient addresses found in the message header"
                                        : "no recipients given (name them, or use -t)");

  // Bcc is for the envelope only (Postfix removes it from every message).
  std::erase_if(fields, [](const Field& f) { return f.name == "bcc" || f.name == "resent-bcc"; });
  add_missing(fields, p.env.sender.empty() ? "MAILER-DAEMON@" + ctx.hostname : p.env.sender, o, ctx);
  for (const auto& f : fields) p.message += f.raw;
  p.message += "\n";
  p.message += body;

  if (!o.ret.empty()) p.env.params.emplace_back("ret", o.ret);
  if (!o.envid.empty()) p.env.params.emplace_back("envid", o.envid);
  bool utf8 = false;
  for (const auto& r : p.env.rcpts)
    for (unsigned char c : r.address) utf8 |= c >= 0x80;
  for (unsigned char c : p.env.sender) utf8 |= c >= 0x80;
  if (utf8) p.env.params.emplace_back("smtputf8", "1");
  return p;
}

}  // namespace sluice::sendmail
