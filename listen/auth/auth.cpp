#include "listen/auth/auth.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/address.hpp"
#include "common/fd.hpp"
#include "common/log.hpp"
#include "common/password.hpp"
#include "delivery/local/resolve.hpp"

namespace sluice::auth {

void Bans::expire(long long now) {
  if (ips_.size() < 10000) return;
  std::erase_if(ips_, [&](const auto& kv) {
    return kv.second.banned_until <= now && now - kv.second.first > window_;
  });
}

bool Bans::banned(const std::string& ip, long long now) {
  std::lock_guard lk(mu_);
  auto it = ips_.find(ip);
  return it != ips_.end() && it->second.banned_until > now;
}

bool Bans::failure(const std::string& ip, long long now) {
  std::lock_guard lk(mu_);
  expire(now);
  Entry& e = ips_[ip];
  // Failures older than the window are forgotten: a user mistyping once a
  // day is never banned.
  if (e.count == 0 || now - e.first > window_) {
    e.count = 0;
    e.first = now;
  }
  if (++e.count >= max_) {
    e.banned_until = now + window_;
    e.count = 0;
    return true;
  }
  return false;
}

namespace {

// One question to sluice-quota; "" when it cannot be asked or answered.
std::string ask_quota(const std::string& socket_path, const std::string& request) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  if (!fd || socket_path.size() >= sizeof sa.sun_path) return "";
  memcpy(sa.sun_path, socket_path.c_str(), socket_path.size() + 1);
  struct timeval tv {5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd.get(), reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) != 0) return "";
  if (!write_all(fd.get(), request + "\n")) return "";
  std::string line;
  char c;
  while (line.size() < 1024) {
    ssize_t n = ::read(fd.get(), &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return "";
    if (c == '\n') return line;
    line += c;
  }
  return "";
}

// Whether the mailboxes behind a known local recipient have room: only
// asked when every destination is a mailbox with a quota, the only case
// sluice-quota can answer "full".
std::string quota_answer(const std::string& address, const local::Resolution& res, long long size,
                         const Settings& s) {
  if (s.quota_socket.empty() || res.dests.empty()) return "local";
  for (const auto& d : res.dests)
    if (d.kind != local::Destination::Kind::mailbox || d.quota <= 0) return "local";
  std::string out = ask_quota(s.quota_socket, "quota " + address + " " + std::to_string(size));
  if (out.rfind("full ", 0) == 0) return out;
  if (out != "ok")
    log::warn({{"event", "quota_check_failed"}, {"rcpt", address},
               {"error", out.empty() ? "sluice-quota did not answer" : out}, {"action", "accepted"}});
  return "local";
}

std::string rcpt_answer(std::string_view args, tables::Tables& t, const Settings& s) {
  // "ADDRESS [SIZE]": an address never holds a space once the listener has
  // parsed it, except in a quoted local part, so SIZE is taken only when
  // the last word is all digits.
  std::string_view address = args;
  long long size = 0;
  if (size_t sp = args.rfind(' '); sp != std::string_view::npos) {
    std::string_view n = args.substr(sp + 1);
    if (!n.empty() && n.size() <= 18 && n.find_first_not_of("0123456789") == std::string_view::npos) {
      size = std::stoll(std::string(n));
      address = args.substr(0, sp);
    }
  }
  auto a = addr::parse_mailbox(address);
  if (!a) return "unknown 5.1.3 " + a.error().text;
  auto local = t.is_local_domain(addr::lower_ascii(a->domain));
  if (!local) return "temp " + local.error().text;
  if (!*local) return "remote";
  local::Resolver r(t, s.delimiter, s.default_quota);
  auto res = r.resolve(a->str());
  if (res.status.is_ok()) return quota_answer(a->str(), res, size, s);
  if (res.status.is_temp()) return "temp " + res.status.text;
  return "unknown " + res.status.enhanced + " " + res.status.text;
}

// A hash to verify against when the user does not exist, so the time of
// the answer does not tell which users exist.
const std::string& dummy_hash() {
  static const std::string h = password::hash("sluice-auth dummy password");
  return h;
}

std::string login_answer(std::string_view args, tables::Tables& t, Bans& bans, long long now) {
  size_t a = args.find(' ');
  size_t b = a == std::string_view::npos ? a : args.find(' ', a + 1);
  if (b == std::string_view::npos) return "temp malformed login request";
  std::string ip(args.substr(0, a));
  std::string user = addr::lower_ascii(args.substr(a + 1, b - a - 1));
  std::string_view pw = args.substr(b + 1);
  if (bans.banned(ip, now)) return "ban";
  auto u = t.find_user(user);
  if (!u) return "temp " + u.error().text;
  bool ok = *u ? password::verify(pw, (*u)->password_hash) : (password::verify(pw, dummy_hash()), false);
  if (ok) return "ok";
  bool now_banned = bans.failure(ip, now);
  log::info({{"event", "login_failed"}, {"client", ip}, {"user", user}, {"banned", now_banned ? "yes" : "no"}});
  return now_banned ? "ban" : "fail";
}

std::string sendas_answer(std::string_view args, tables::Tables& t, const Settings& s) {
  size_t sp = args.find(' ');
  if (sp == std::string_view::npos) return "temp malformed sendas request";
  std::string user = addr::lower_ascii(args.substr(0, sp));
  auto a = addr::parse_mailbox(args.substr(sp + 1));
  if (!a) return "no";
  std::string address = addr::lower_ascii(a->str());
  if (address == user) return "yes";
  // user+tag@domain is still the user's own address.
  size_t d = s.delimiter.empty() ? std::string::npos : a->local.find(s.delimiter);
  std::string base = address;
  if (d != std::string::npos) base = addr::lower_ascii(a->local.substr(0, d) + "@" + a->domain);
  if (base == user) return "yes";
  for (const std::string& candidate : {address, base}) {
    auto targets = t.find_alias(candidate);
    if (!targets) return "temp " + targets.error().text;
    for (const auto& target : *targets)
      if (addr::lower_ascii(target) == user) return "yes";
  }
  return "no";
}

}  // namespace

std::string answer(std::string_view line, tables::Tables& tables, Bans& bans, const Settings& s, long long now) {
  if (line.substr(0, 5) == "rcpt ") return rcpt_answer(line.substr(5), tables, s);
  if (line.substr(0, 6) == "login ") return login_answer(line.substr(6), tables, bans, now);
  if (line.substr(0, 7) == "sendas ") return sendas_answer(line.substr(7), tables, s);
  return "temp unknown request";
}

}  // namespace sluice::auth
