// The fd 1 envelope of the qmail-queue interface, with sluice's extra
// records. "Don't parse" in qmail's sense: NUL-terminated records whose first
// byte says what they are, so the reader needs no quoting rules.
#include <string>

#include "common/address.hpp"
#include "queue/store/queue.hpp"

namespace sluice::queue {
namespace {

constexpr size_t kMaxPath = 254;  // RFC 5321 4.5.3.1.3: a 256-octet path less its angle brackets

bool fail(EnvelopeError& err, int code, std::string text) {
  err.exit_code = code;
  err.text = std::move(text);
  return false;
}

// A recipient must be a mailbox; a sender a mailbox or empty. qmail-queue
// itself checks nothing, but everything after us (bounces, Maildir paths,
// SMTP commands) is safer when a bad address is refused at the door.
bool check_address(std::string_view a, bool is_sender, EnvelopeError& err) {
  if (a.size() > kMaxPath) return fail(err, 11, "5.1.3 address too long");
  if (is_sender && a.empty()) return true;
  auto r = addr::parse_mailbox(a, true);
  if (!r) return fail(err, 91, (is_sender ? "5.1.7 bad sender address: " : "5.1.3 bad recipient address: ") +
                                   r.error().text);
  return true;
}

bool valid_notify(std::string_view n) {
  if (n == "NEVER") return true;
  size_t i = 0;
  while (i < n.size()) {
    size_t j = n.find(',', i);
    if (j == std::string_view::npos) j = n.size();
    auto w = n.substr(i, j - i);
    if (w != "SUCCESS" && w != "FAILURE" && w != "DELAY") return false;
    i = j + 1;
  }
  return !n.empty() && n.back() != ',';
}

}  // namespace

std::string Envelope::param(std::string_view key) const {
  for (const auto& [k, v] : params)
    if (k == key) return v;
  return "";
}

bool parse_envelope(std::string_view data, Envelope& out, EnvelopeError& err) {
  out = Envelope{};
  bool have_sender = false;
  size_t i = 0;
  for (;;) {
    if (i >= data.size()) return fail(err, 91, "4.3.0 envelope ends before its terminating empty record");
    size_t z = data.find('\0', i);
    if (z == std::string_view::npos) return fail(err, 91, "4.3.0 envelope record without NUL");
    std::string_view rec = data.substr(i, z - i);
    i = z + 1;
    if (rec.empty()) break;
    char type = rec[0];
    std::string_view v = rec.substr(1);
    if (!have_sender && type != 'F') return fail(err, 91, "4.3.0 envelope must start with an F record");
    switch (type) {
      case 'F':
        if (have_sender) return fail(err, 91, "4.3.0 second F record");
        if (!check_address(v, true, err)) return false;
        out.sender = v;
        have_sender = true;
        break;
      case 'T':
        if (!check_address(v, false, err)) return false;
        out.rcpts.push_back(Rcpt{std::string(v), "", "", RcptState::pending, 0});
        break;
      case 'N': {
        // RFC 3461 keywords are case-insensitive; the queue keeps them upper case.
        std::string n(v);
        for (auto& c : n) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (out.rcpts.empty() || !valid_notify(n)) return fail(err, 91, "4.3.0 bad N (NOTIFY) record");
        out.rcpts.back().notify = n;
        break;
      }
      case 'O':
        if (out.rcpts.empty() || v.size() > 500) return fail(err, 91, "4.3.0 bad O (ORCPT) record");
        out.rcpts.back().orcpt = v;
        break;
      case 'R':
        if (addr::lower_ascii(v) != "full" && addr::lower_ascii(v) != "hdrs")
          return fail(err, 91, "4.3.0 bad R (RET) record");
        out.params.emplace_back("ret", addr::lower_ascii(v) == "full" ? "FULL" : "HDRS");
        break;
      case 'E': out.params.emplace_back("envid", v); break;
      case 'U': out.params.emplace_back("smtputf8", "1"); break;
      case 'A': out.params.emplace_back("auth", v); break;
      case 'C': out.params.emplace_back("client", v); break;
      case 'H': out.params.emplace_back("helo", v); break;
      case 'P': {
        auto eq = v.find('=');
        if (eq == 0 || eq == std::string_view::npos) return fail(err, 91, "4.3.0 bad P record");
        out.params.emplace_back(std::string(v.substr(0, eq)), std::string(v.substr(eq + 1)));
        break;
      }
      default:
        return fail(err, 91, std::string("4.3.0 unknown envelope record type '") +
                                 (type >= 33 && type < 127 ? std::string(1, type) : "?") + "'");
    }
    if (v.size() > 1000) return fail(err, 91, "4.3.0 envelope record too long");
  }
  if (i != data.size()) return fail(err, 91, "4.3.0 data after the envelope's end");
  if (out.rcpts.empty()) return fail(err, 91, "4.3.0 envelope has no recipient");
  return true;
}

std::string encode_envelope(const Envelope& e) {
  std::string out = "F" + e.sender + '\0';
  for (const auto& [k, v] : e.params) {
    if (k == "ret") out += "R" + v + '\0';
    else if (k == "envid") out += "E" + v + '\0';
    else if (k == "smtputf8") out += std::string("U") + '\0';
    else if (k == "auth") out += "A" + v + '\0';
    else if (k == "client") out += "C" + v + '\0';
    else if (k == "helo") out += "H" + v + '\0';
    else out += "P" + k + "=" + v + '\0';
  }
  for (const auto& r : e.rcpts) {
    out += "T" + r.address + '\0';
    if (!r.notify.empty()) out += "N" + r.notify + '\0';
    if (!r.orcpt.empty()) out += "O" + r.orcpt + '\0';
  }
  out += '\0';
  return out;
}

}  // namespace sluice::queue
