// The admin's gates (smtpd.reject_*, limits.*): who may connect, which
// HELO names, senders and users are refused, how many sessions and
// connections a client gets. Each gate refuses with a reply the admin may
// replace (smtpd.replies: "gate" = "554 5.7.1 text", or just the text).
// Pure data and functions; the session counters are in admission.hpp.
#pragma once
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"
#include "listen/smtpd/command.hpp"

namespace sluice::smtpd {

// An IPv4 or IPv6 network, "192.0.2.0/24", "::1/128", or one address.
struct Network {
  bool v6 = false;
  unsigned char bytes[16] = {};
  int prefix = 0;
};
bool parse_network(std::string_view text, Network& out);
// IP is a numeric address; an IPv4-mapped IPv6 address counts as IPv4.
bool in_networks(const std::vector<Network>& nets, std::string_view ip);
// "::ffff:192.0.2.1" -> "192.0.2.1"; anything else unchanged.
std::string unmap_ipv4(std::string_view ip);

struct Gates {
  std::vector<Network> clients;   // smtpd.reject_clients
  std::set<std::string> senders, sender_domains, helo, users;  // lower case
  std::map<std::string, Reply> replies;  // every gate's reply, defaults merged with smtpd.replies
  long long messages = 0;         // limits.messages_per_session
  long long hops = 0;             // limits.hops: more Received lines than this is a loop
  long long sessions = 0;         // limits.sessions, all workers together
  long long sessions_per_ip = 0;  // limits.sessions_per_ip, all workers together
  long long rate = 0;             // limits.connection_rate: connections per IP per minute, 0 off
};

// The gate names and their default replies.
const std::map<std::string, Reply>& default_replies();
// Merges OVERRIDES (gate -> "CODE X.Y.Z text" or "text") into the
// defaults. False (WHY set) on an unknown gate or a code outside 4xx/5xx.
bool merge_replies(const std::map<std::string, std::string>& overrides, std::map<std::string, Reply>& out,
                   std::string& why);

// Sender gates: the address itself, or its domain ("example.test" refuses
// that domain, ".example.test" its subdomains too).
const char* sender_gate(const Gates& g, const addr::Address& sender);
// Received lines in MESSAGE's header (LF line endings).
long long received_count(std::string_view message);

}  // namespace sluice::smtpd
