#include "delivery/remote/dns.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <unbound.h>

#include <algorithm>
#include <chrono>
#include <random>

namespace sluice::remote {
namespace {

constexpr int kTypeA = 1, kTypeMX = 15, kTypeAAAA = 28;
constexpr size_t kMaxHosts = 10;  // as Postfix's smtp_mx_address_limit, roughly

struct Query {
  std::string name;
  int type = 0;
  bool done = false;
  int err = 0;
  ub_result* res = nullptr;
  int id = 0;
  ~Query() {
    if (res) ub_resolve_free(res);
  }
};

void on_answer(void* arg, int err, ub_result* res) {
  auto* q = static_cast<Query*>(arg);
  q->done = true;
  q->err = err;
  q->res = res;
}

using Clock = std::chrono::steady_clock;

// Sends every query at once and waits for all answers until the deadline;
// a query not answered by then stays !done.
void run_all(ub_ctx* ctx, std::vector<std::unique_ptr<Query>>& qs, long long timeout_s) {
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  for (auto& q : qs) {
    int rc = ub_resolve_async(ctx, q->name.c_str(), q->type, 1, q.get(), on_answer, &q->id);
    if (rc != 0) {
      q->done = true;
      q->err = rc;
    }
  }
  auto pending = [&] { return std::any_of(qs.begin(), qs.end(), [](auto& q) { return !q->done; }); };
  while (pending()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    struct pollfd p {ub_fd(ctx), POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (n > 0) ub_process(ctx);
  }
  for (auto& q : qs)
    if (!q->done) ub_cancel(ctx, q->id);
}

std::string decode_name(const unsigned char* p, size_t len, size_t& pos, bool& ok) {
  std::string name;
  ok = false;
  while (pos < len) {
    size_t l = p[pos++];
    if (l == 0) {
      ok = true;
      return name.empty() ? "." : name;
    }
    if (l > 63 || pos + l > len) return "";
    if (!name.empty()) name += '.';
    name.append(reinterpret_cast<const char*>(p + pos), l);
    pos += l;
  }
  return "";
}

void add_addrs(const Query& q, std::vector<std::string>& out) {
  if (q.err || !q.res || !q.res->havedata) return;
  for (int i = 0; q.res->data[i]; i++) {
    char buf[INET6_ADDRSTRLEN];
    int len = q.res->len[i];
    if (q.type == kTypeAAAA && len == 16 && inet_ntop(AF_INET6, q.res->data[i], buf, sizeof buf)) out.push_back(buf);
    if (q.type == kTypeA && len == 4 && inet_ntop(AF_INET, q.res->data[i], buf, sizeof buf)) out.push_back(buf);
  }
}

// A query that failed for a reason other than "no such name / no data".
bool troubled(const Query& q) { return !q.done || q.err || !q.res || (q.res->rcode != 0 && q.res->rcode != 3); }

}  // namespace

bool parse_mx_rdata(const unsigned char* data, size_t len, Host& out) {
  if (len < 3) return false;
  out.preference = data[0] << 8 | data[1];
  size_t pos = 2;
  bool ok;
  out.name = decode_name(data, len, pos, ok);
  return ok && pos == len;
}

void order_mx(std::vector<Host>& hosts, unsigned seed) {
  std::mt19937 rng(seed ? seed : std::random_device{}());
  std::shuffle(hosts.begin(), hosts.end(), rng);
  std::stable_sort(hosts.begin(), hosts.end(), [](const Host& a, const Host& b) { return a.preference < b.preference; });
}

Result<std::unique_ptr<Resolver>> Resolver::create(const std::vector<std::string>& servers, long long timeout_s) {
  ub_ctx* ctx = ub_ctx_create();
  if (!ctx) return Status::temp("4.3.0", "cannot create the DNS resolver");
  std::unique_ptr<Resolver> r(new Resolver(ctx, timeout_s));
  if (servers.empty()) {
    if (int rc = ub_ctx_resolvconf(ctx, nullptr); rc != 0)
      return Status::temp("4.3.0", std::string("resolv.conf: ") + ub_strerror(rc));
    return r;
  }
  // An override names resolvers we were told to trust, local ones too, and
  // they answer for the special-use names (".test") unbound blocks itself.
  ub_ctx_set_option(ctx, "do-not-query-localhost:", "no");
  ub_ctx_set_option(ctx, "local-zone:", "test. transparent");
  ub_ctx_set_option(ctx, "qname-minimisation:", "no");
  for (const auto& s : servers) {
    auto colon = s.rfind(':');
    std::string fwd = s;
    if (colon != std::string::npos && s.find(':') == colon) fwd = s.substr(0, colon) + "@" + s.substr(colon + 1);
    if (s.size() > 2 && s[0] == '[') {  // [::1]:53
      auto end = s.find(']');
      fwd = s.substr(1, end - 1) + (end + 2 < s.size() ? "@" + s.substr(end + 2) : "");
    }
    if (int rc = ub_ctx_set_fwd(ctx, fwd.c_str()); rc != 0)
      return Status::perm("5.3.5", "dns.servers " + s + ": " + ub_strerror(rc));
  }
  return r;
}

Resolver::~Resolver() { ub_ctx_delete(ctx_); }

Result<Host> Resolver::host(const std::string& name) {
  std::vector<std::unique_ptr<Query>> qs;
  for (int t : {kTypeAAAA, kTypeA}) qs.push_back(std::unique_ptr<Query>(new Query{name, t}));
  run_all(ctx_, qs, timeout_s_);
  Host h{name, 0, {}};
  for (auto& q : qs) add_addrs(*q, h.addrs);
  if (!h.addrs.empty()) return h;
  if (troubled(*qs[0]) || troubled(*qs[1])) return Status::temp("4.4.3", "DNS lookup of " + name + " failed");
  return Status::perm("5.4.4", "Host or domain name not found: " + name);
}

Result<std::vector<Host>> Resolver::mx(const std::string& domain) {
  std::vector<std::unique_ptr<Query>> mxq;
  mxq.push_back(std::unique_ptr<Query>(new Query{domain, kTypeMX}));
  run_all(ctx_, mxq, timeout_s_);
  const Query& q = *mxq[0];
  if (!q.done) return Status::temp("4.4.3", "DNS time-out looking up the MX of " + domain);
  if (q.err) return Status::temp("4.4.3", "DNS error for " + domain + ": " + ub_strerror(q.err));
  if (q.res->rcode == 3) return Status::perm("5.1.2", "Host or domain name not found: " + domain + " (NXDOMAIN)");
  if (q.res->rcode != 0)
    return Status::temp("4.4.3", "DNS lookup of the MX of " + domain + " failed (rcode " + std::to_string(q.res->rcode) + ")");
  std::vector<Host> hosts;
  bool null_mx = false;
  if (q.res->havedata) {
    for (int i = 0; q.res->data[i]; i++) {
      Host h;
      if (!parse_mx_rdata(reinterpret_cast<unsigned char*>(q.res->data[i]), static_cast<size_t>(q.res->len[i]), h))
        continue;
      if (h.name == ".") null_mx = true;
      else hosts.push_back(std::move(h));
    }
    if (hosts.empty() && null_mx) return Status::perm("5.1.10", "Domain " + domain + " does not accept mail (null MX)");
    if (hosts.empty()) return Status::temp("4.4.3", "malformed MX records for " + domain);
  } else {
    hosts.push_back(Host{domain, 0, {}});  // RFC 5321 5.1: the implicit MX
  }
  order_mx(hosts);
  if (hosts.size() > kMaxHosts) hosts.resize(kMaxHosts);
  std::vector<std::unique_ptr<Query>> aq;
  for (auto& h : hosts)
    for (int t : {kTypeAAAA, kTypeA}) aq.push_back(std::unique_ptr<Query>(new Query{h.name, t}));
  run_all(ctx_, aq, timeout_s_);
  bool trouble = false;
  std::vector<Host> out;
  for (size_t i = 0; i < hosts.size(); i++) {
    add_addrs(*aq[2 * i], hosts[i].addrs);
    add_addrs(*aq[2 * i + 1], hosts[i].addrs);
    trouble |= troubled(*aq[2 * i]) || troubled(*aq[2 * i + 1]);
    if (!hosts[i].addrs.empty()) out.push_back(std::move(hosts[i]));
  }
  if (!out.empty()) return out;
  if (trouble) return Status::temp("4.4.3", "DNS lookup of the mail hosts of " + domain + " failed");
  return Status::perm("5.4.4", "No address for the mail hosts of " + domain);
}

}  // namespace sluice::remote
