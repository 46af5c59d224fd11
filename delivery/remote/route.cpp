#include "delivery/remote/route.hpp"

#include <algorithm>

namespace sluice::remote {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

Result<Route> parse_route(const std::string& value) {
  Route r;
  std::string rest = value;
  // Credentials end at the last '@': a password may hold one, a host may not.
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    std::string cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = cred.find(':');
    if (colon == std::string::npos || colon == 0) return Status::perm("5.3.5", "route " + value + ": credentials must be user:password");
    r.user = cred.substr(0, colon);
    r.password = cred.substr(colon + 1);
  }
  std::string port;
  if (!rest.empty() && rest[0] == '[') {
    auto end = rest.find(']');
    if (end == std::string::npos) return Status::perm("5.3.5", "route " + value + ": unclosed [");
    r.host = rest.substr(1, end - 1);
    if (end + 1 < rest.size()) {
      if (rest[end + 1] != ':') return Status::perm("5.3.5", "route " + value + ": junk after ]");
      port = rest.substr(end + 2);
    }
  } else {
    auto colon = rest.find(':');
    r.host = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
  }
  if (r.host.empty()) return Status::perm("5.3.5", "route " + value + ": no host");
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) || std::stoi(port) == 0 ||
        std::stoi(port) > 65535)
      return Status::perm("5.3.5", "route " + value + ": bad port");
    r.port = std::stoi(port);
  }
  return r;
}

std::optional<std::string> find_route_key(const std::map<std::string, std::string>& routes,
                                          const std::string& domain) {
  std::map<std::string, std::string> low;
  for (const auto& [k, v] : routes) low[lower(k)] = k;
  std::string d = lower(domain);
  if (auto it = low.find(d); it != low.end()) return it->second;
  for (size_t dot = d.find('.'); dot != std::string::npos; dot = d.find('.', dot + 1))
    if (auto it = low.find(d.substr(dot)); it != low.end()) return it->second;
  if (auto it = low.find("*"); it != low.end()) return it->second;
  return std::nullopt;
}

Result<TlsPolicy> parse_tls_policy(const std::string& s) {
  if (s == "none") return TlsPolicy::none;
  if (s == "may") return TlsPolicy::may;
  if (s == "encrypt") return TlsPolicy::encrypt;
  if (s == "verify") return TlsPolicy::verify;
  return Status::perm("5.3.5", "TLS policy \"" + s + "\": expected none, may, encrypt or verify");
}

TlsPolicy tls_policy_for(const std::map<std::string, std::string>& table, const std::string& domain,
                         const std::string& relay, TlsPolicy def) {
  std::map<std::string, std::string> no_star;
  for (const auto& [k, v] : table)
    if (k != "*") no_star[k] = v;
  auto key = find_route_key(no_star, domain);
  if (!key && !relay.empty()) key = find_route_key(no_star, relay);
  if (!key) {
    if (auto it = table.find("*"); it != table.end()) key = "*";
  }
  if (!key) return def;
  auto p = parse_tls_policy(table.at(*key));
  return p ? *p : TlsPolicy::verify;  // config check refuses bad values; fail safe anyway
}

}  // namespace sluice::remote
