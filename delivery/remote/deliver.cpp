// The Deliverer: a job's recipients grouped by domain, each group sent to
// its destination over a cached or new session; down marks and slots.
#include <openssl/ssl.h>

#include <ctime>

#include "common/date.hpp"
#include "common/log.hpp"
#include "delivery/remote/message.hpp"
#include "delivery/remote/remote.hpp"

namespace sluice::remote {
namespace {

using deliver::RcptResult;

std::string domain_of(const std::string& addr) {
  auto at = addr.rfind('@');
  return at == std::string::npos ? "" : lower(addr.substr(at + 1));
}

bool is_ip_literal(const std::string& h) {
  return h.find(':') != std::string::npos ||
         (!h.empty() && h.find_first_not_of("0123456789.") == std::string::npos);
}

}  // namespace

Deliverer::Deliverer(Options o, std::unique_ptr<Resolver> r)
    : o_(std::move(o)), resolver_(std::move(r)), state_(o_.state_dir, o_.down_time) {}

// Made at the first STARTTLS, not at start: reading the CA bundle costs
// about 20 ms of CPU, paid by every pool member even when no mail leaves.
// When it cannot be made, "may" goes on in plain text and "encrypt" or
// "verify" defers (4.7.4), as for a peer without STARTTLS.
SSL_CTX* Deliverer::tls() {
  if (tls_ || tls_failed_) return tls_;
  std::string error;
  tls_ = make_client_ctx(o_.ca_file, error);
  if (!tls_) {
    tls_failed_ = true;
    log::error({{"event", "tls_error"}, {"error", error}});
  }
  return tls_;
}

Deliverer::~Deliverer() {
  close_all();
  if (tls_) SSL_CTX_free(tls_);
}

void Deliverer::close_all() {
  for (auto& [k, s] : cache_) quit(*s);
  cache_.clear();
}

long long Deliverer::expire_cache() {
  long long now = monotonic_ms(), next = -1;
  for (auto it = cache_.begin(); it != cache_.end();) {
    long long due = it->second->idle_since + o_.cache_idle * 1000;
    if (due <= now) {
      quit(*it->second);
      it = cache_.erase(it);
      continue;
    }
    if (next < 0 || due - now < next) next = due - now;
    ++it;
  }
  return next;
}

Result<Destination> Deliverer::destination(const std::string& domain, bool resolve) {
  Destination d;
  d.port = o_.mx_port;
  std::string relay;
  if (auto key = find_route_key(o_.routes, domain)) {
    auto r = parse_route(o_.routes.at(*key));
    if (!r) return r.error();
    if (r->port) d.port = r->port;
    d.user = r->user;
    d.password = r->password;
    relay = r->host;
    d.key = "route:" + lower(r->host) + ":" + std::to_string(d.port);
  } else {
    d.key = "mx:" + domain;
  }
  d.tls = tls_policy_for(o_.tls_table, domain, relay, o_.tls_default);
  if (!resolve) return d;
  if (!relay.empty()) {
    if (is_ip_literal(relay)) {
      d.hosts.push_back(Host{relay, 0, {relay}});
    } else {
      auto h = resolver_->host(relay);
      if (!h) return h.error();
      d.hosts.push_back(std::move(*h));
    }
    return d;
  }
  auto hosts = resolver_->mx(domain);
  if (!hosts) return hosts.error();
  d.hosts = std::move(*hosts);
  return d;
}

// A new session to the first host and address of D that takes one.
// All of them unreachable marks D down.
Result<std::unique_ptr<Session>> Deliverer::session_for(Destination& d, const std::string& domain,
                                                        const std::string& qid) {
  UniqueFd slot = state_.acquire_slot(d.key, o_.dest_concurrency, o_.t_connect * 1000);
  if (!slot) return Status::temp("4.4.5", "too many connections to " + domain + " (remote.destination_concurrency)");
  Status last = Status::temp("4.4.1", "no address to try for " + domain);
  bool answered = false;  // some host spoke SMTP: not "down"
  for (const auto& h : d.hosts) {
    for (const auto& addr : h.addrs) {
      auto s = open_session(o_, tls(), d, h, addr, true, qid);
      if (!s && d.tls == TlsPolicy::may && s.error().enhanced == "4.7.0" &&
          s.error().text.find("TLS with") == 0) {
        // Opportunistic TLS that failed its handshake: plain text, as Postfix does.
        log::warn({{"event", "tls_failed"}, {"qid", qid}, {"host", h.name}, {"error", s.error().text}});
        s = open_session(o_, tls(), d, h, addr, false, qid);
      }
      if (s) {
        log::info({{"event", "connected"}, {"qid", qid}, {"host", h.name}, {"peer", (*s)->conn->peer()},
                   {"tls", (*s)->conn->tls() ? (*s)->conn->tls_version() : "none"}});
        (*s)->slot = std::move(slot);
        state_.clear_down(d.key);
        return s;
      }
      last = s.error();
      answered |= last.enhanced != "4.4.1" && last.enhanced != "4.4.2";
      log::info({{"event", "connect_failed"}, {"qid", qid}, {"host", h.name}, {"addr", addr},
                 {"error", last.text}});
    }
  }
  if (!answered) state_.mark_down(d.key, last.text);
  // A 5xx greeting from every host is still retried: an MX answering 554 to
  // everyone is most often a transient policy or load problem.
  if (last.is_perm()) last = Status::temp("4.4.1", last.text);
  return last;
}

void Deliverer::release(std::unique_ptr<Session> s) {
  if (!s->conn) return;
  if (o_.cache_idle <= 0 || s->messages >= o_.cache_max_use) {
    quit(*s);
    return;
  }
  s->idle_since = monotonic_ms();
  auto& slot = cache_[s->dest];
  if (slot) quit(*slot);
  slot = std::move(s);
}

std::vector<RcptResult> Deliverer::deliver_domain(const deliver::Job& job, const std::string& domain,
                                                  const std::vector<const deliver::Recipient*>& rcpts,
                                                  const std::string& msg) {
  Envelope env{&job, rcpts};
  auto fail_all = [&](const Status& st) {
    std::vector<RcptResult> out;
    for (auto* r : rcpts) out.push_back(RcptResult{r->index, st, "", ""});
    return out;
  };
  auto pre = destination(domain, false);
  if (!pre) return fail_all(pre.error());
  std::unique_ptr<Session> s;
  if (auto it = cache_.find(pre->key); it != cache_.end()) {
    s = std::move(it->second);
    cache_.erase(it);
    // RSET between messages also proves the cached connection still lives.
    if (!s->conn->write("RSET\r\n", o_.t_greeting) || s->conn->read_reply(o_.t_greeting).code != 250) s.reset();
    else log::debug({{"event", "reuse"}, {"qid", job.qid}, {"host", s->where()}});
  }
  if (!s) {
    if (auto why = state_.down(pre->key))
      return fail_all(Status::temp("4.4.1", "destination " + domain + " is marked down: " + *why));
    auto d = destination(domain, true);
    if (!d) return fail_all(d.error());
    auto made = session_for(*d, domain, job.qid);
    if (!made) return fail_all(made.error());
    s = std::move(*made);
  }
  auto out = transact(*s, o_, env, msg);
  for (const auto& r : out)
    log::info({{"event", r.status.is_ok() ? "sent" : r.status.is_perm() ? "bounced" : "deferred"},
               {"qid", job.qid}, {"rcpt", rcpts[&r - out.data()]->address}, {"relay", s->where()},
               {"tls", s->conn && s->conn->tls() ? s->conn->tls_version() + " " + s->conn->tls_cipher() : "none"},
               {"body", s->ext.chunking ? "bdat" : "data"}, {"dsn", r.status.enhanced}, {"reply", r.status.text}});
  release(std::move(s));
  return out;
}

std::vector<RcptResult> Deliverer::deliver(const deliver::Job& job, int fd) {
  std::vector<RcptResult> out;
  auto msg = read_message(fd, job.offset, job.length);
  if (!msg) {
    for (const auto& r : job.rcpts) out.push_back(RcptResult{r.index, msg.error(), "", ""});
    return out;
  }
  // Recipients by domain, in the order they first appear.
  std::vector<std::pair<std::string, std::vector<const deliver::Recipient*>>> groups;
  for (const auto& r : job.rcpts) {
    std::string d = domain_of(r.address);
    auto it = std::find_if(groups.begin(), groups.end(), [&](auto& g) { return g.first == d; });
    if (it == groups.end()) groups.push_back({d, {&r}});
    else it->second.push_back(&r);
  }
  for (auto& [domain, rcpts] : groups) {
    if (domain.empty()) {
      for (auto* r : rcpts) out.push_back(RcptResult{r->index, Status::perm("5.1.3", "no domain in " + r->address), "", ""});
      continue;
    }
    auto part = deliver_domain(job, domain, rcpts, *msg);
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

}  // namespace sluice::remote
