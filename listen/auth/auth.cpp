#include "listen/auth/auth.hpp"

#include <vector>

#include "common/address.hpp"
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

std::string rcpt_answer(std::string_view address, tables::Tables& t, const Settings& s) {
  auto a = addr::parse_mailbox(address);
  if (!a) return "unknown 5.1.3 " + a.error().text;
  auto local = t.is_local_domain(addr::lower_ascii(a->domain));
  if (!local) return "temp " + local.error().text;
  if (!*local) return "remote";
  local::Resolver r(t, s.delimiter, s.default_quota);
  auto res = r.resolve(a->str());
  if (res.status.is_ok()) return "local";
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
