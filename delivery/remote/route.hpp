// Static routes (config [routes], qmail's smtproutes and Postfix's relayhost
// in one) and per-destination TLS policy.
//
//   "example.org"  = "relay.example.net:2525"      that domain only
//   ".example.org" = "relay.example.net"           its subdomains
//   "*"            = "user:secret@smarthost:587"   everything else
//
// A routed relay is looked up by A/AAAA only (no MX), as Postfix's [host].
#pragma once
#include <map>
#include <optional>
#include <string>

#include "common/status.hpp"

namespace sluice::remote {

struct Route {
  std::string host;
  int port = 0;  // 0: remote.mx_port
  std::string user, password;  // AUTH credentials, when both given
};

// Parses "[user:password@]host[:port]" ("[::1]:25" for IPv6 literals).
Result<Route> parse_route(const std::string& value);

// The route for DOMAIN: exact key, then ".parent" keys from the nearest up,
// then "*"; nullopt when the domain goes by MX. Keys compare case-blind.
std::optional<std::string> find_route_key(const std::map<std::string, std::string>& routes,
                                          const std::string& domain);

enum class TlsPolicy { none, may, encrypt, verify };

Result<TlsPolicy> parse_tls_policy(const std::string& s);

// The policy of DOMAIN (same key rules as routes), else of the route host
// RELAY when given, else DEFAULT.
TlsPolicy tls_policy_for(const std::map<std::string, std::string>& table, const std::string& domain,
                         const std::string& relay, TlsPolicy def);

std::string lower(std::string s);

}  // namespace sluice::remote
