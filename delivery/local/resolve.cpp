#include "delivery/local/resolve.hpp"

#include "common/address.hpp"

namespace sluice::local {

bool split_address(std::string_view a, std::string& local, std::string& domain) {
  size_t at = a.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == a.size()) return false;
  local = a.substr(0, at);
  domain = a.substr(at + 1);
  return true;
}

Resolution Resolver::resolve(std::string_view rcpt) {
  Walk w;
  auto parsed = addr::parse_mailbox(rcpt);
  if (!parsed) {
    w.res.status = Status::perm("5.1.3", "bad recipient address: " + parsed.error().text);
    return w.res;
  }
  expand(addr::lower_ascii(parsed->str()), "", 0, w);
  if (w.tables_failed) {
    w.res.dests.clear();  // deliver nothing now; the retry expands again
    w.res.failed.clear();
  } else if (w.res.dests.empty() && w.res.status.is_ok()) {
    // Every target failed: the recipient fails with the first reason.
    if (!w.res.failed.empty()) {
      auto& [target, st] = w.res.failed.front();
      w.res.status = st;
      w.res.status.text = target + ": " + st.text;
    } else {
      w.res.status = Status::perm("5.1.1", "no deliverable target");
    }
    w.res.failed.clear();
  }
  return w.res;
}

void Resolver::fail(Walk& w, const std::string& address, int depth, Status st) {
  if (depth == 0) {
    w.res.status = std::move(st);
    return;
  }
  w.res.failed.emplace_back(address, std::move(st));
}

// A lookup that could not be answered: nothing is delivered for this
// recipient, so the retry expands the whole tree again from the start.
void Resolver::tables_error(Walk& w, const Status& st) {
  if (!w.tables_failed) w.res.status = Status::temp("4.3.0", st.text);
  w.tables_failed = true;
}

void Resolver::expand(const std::string& address, const std::string& via, int depth, Walk& w) {
  if (w.tables_failed) return;
  if (depth > kMaxDepth) return fail(w, address, depth, Status::perm("5.4.6", "alias expansion too deep (a loop?)"));
  if (!w.seen.insert(address).second) return;  // already expanded: one delivery, and cycles end
  std::string local, domain;
  if (!split_address(address, local, domain))
    return fail(w, address, depth, Status::perm("5.1.3", "bad address " + address));
  auto is_local = tables_.is_local_domain(domain);
  if (!is_local) return tables_error(w, is_local.error());
  if (!*is_local) {
    if (depth == 0) return fail(w, address, depth, Status::perm("5.1.2", "not a local domain: " + domain));
    if (w.res.dests.size() >= kMaxDestinations)
      return fail(w, address, depth, Status::perm("5.3.4", "alias expands to too many targets"));
    w.res.dests.push_back({Destination::Kind::forward, address, via, 0});
    return;
  }
  if (lookup(address, via, depth, w) || w.tables_failed) return;
  size_t d = delimiter_.empty() ? std::string::npos : local.find_first_of(delimiter_);
  if (d != std::string::npos && d > 0) {
    std::string base = local.substr(0, d) + "@" + domain;
    // Already expanded in this walk (alias -> bob, bob+x): one delivery.
    if (!w.seen.insert(base).second || lookup(base, via, depth, w) || w.tables_failed) return;
  }
  auto catchall = tables_.find_alias("@" + domain);
  if (!catchall) return tables_error(w, catchall.error());
  if (!catchall->empty()) return expand_targets(*catchall, address, depth, w);
  fail(w, address, depth, Status::perm("5.1.1", "unknown user " + address));
}

bool Resolver::lookup(const std::string& address, const std::string& via, int depth, Walk& w) {
  auto user = tables_.find_user(address);
  if (!user) {
    tables_error(w, user.error());
    return false;
  }
  if (*user) {
    if (w.res.dests.size() >= kMaxDestinations) {
      fail(w, address, depth, Status::perm("5.3.4", "alias expands to too many targets"));
      return true;
    }
    long long q = (*user)->quota_bytes < 0 ? default_quota_ : (*user)->quota_bytes;
    w.res.dests.push_back({Destination::Kind::mailbox, (*user)->address, via, q});
    return true;
  }
  auto targets = tables_.find_alias(address);
  if (!targets) {
    tables_error(w, targets.error());
    return false;
  }
  if (targets->empty()) return false;
  expand_targets(*targets, address, depth, w);
  return true;
}

void Resolver::expand_targets(const std::vector<std::string>& targets, const std::string& via, int depth,
                              Walk& w) {
  for (const auto& t : targets) {
    auto parsed = addr::parse_mailbox(t);
    if (!parsed) {
      fail(w, t, depth + 1, Status::perm("5.1.3", "bad alias target " + t));
      continue;
    }
    expand(addr::lower_ascii(parsed->str()), via, depth + 1, w);
  }
}

}  // namespace sluice::local
