// MX resolution for sluice-remote (RFC 5321 section 5) through libunbound,
// asynchronous with one deadline for all the queries of a destination.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "common/status.hpp"

struct ub_ctx;

namespace sluice::remote {

struct Host {
  std::string name;                // MX target, or the domain itself (implicit MX)
  int preference = 0;
  std::vector<std::string> addrs;  // numeric, IPv6 first, then IPv4
};

// Orders MX records by preference and shuffles those of equal preference
// (RFC 5321 5.1), with SEED for reproducible tests (0: random).
void order_mx(std::vector<Host>& hosts, unsigned seed = 0);

// The rdata of an MX record (preference, uncompressed name) as a Host;
// false when malformed. A null MX (RFC 7505) gives name ".".
bool parse_mx_rdata(const unsigned char* data, size_t len, Host& out);

class Resolver {
 public:
  // SERVERS: "host:port" entries (dns.servers); empty uses /etc/resolv.conf.
  static Result<std::unique_ptr<Resolver>> create(const std::vector<std::string>& servers, long long timeout_s);
  ~Resolver();
  // The hosts to try for DOMAIN in order, each with its addresses. Errors:
  // 5.1.10 null MX, 5.1.2 no such domain, 5.4.4 no address, 4.4.3 DNS trouble.
  Result<std::vector<Host>> mx(const std::string& domain);
  // Addresses of one host name (a route's relay): IPv6 then IPv4.
  Result<Host> host(const std::string& name);

 private:
  explicit Resolver(ub_ctx* c, long long t) : ctx_(c), timeout_s_(t) {}
  ub_ctx* ctx_;
  long long timeout_s_;
};

}  // namespace sluice::remote
