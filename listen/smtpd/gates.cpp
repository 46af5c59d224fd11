#include "listen/smtpd/gates.hpp"

#include <arpa/inet.h>

#include <cctype>
#include <cstring>

namespace sluice::smtpd {

bool parse_network(std::string_view text, Network& out) {
  std::string s(text);
  size_t slash = s.find('/');
  std::string host = s.substr(0, slash);
  out = Network{};
  if (inet_pton(AF_INET, host.c_str(), out.bytes) == 1) {
    out.prefix = 32;
  } else if (inet_pton(AF_INET6, host.c_str(), out.bytes) == 1) {
    out.v6 = true;
    out.prefix = 128;
  } else {
    return false;
  }
  if (slash != std::string::npos) {
    std::string p = s.substr(slash + 1);
    if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos) return false;
    int n = std::stoi(p);
    if (n > out.prefix) return false;
    out.prefix = n;
  }
  return true;
}

std::string unmap_ipv4(std::string_view ip) {
  if (ip.size() > 7 && (ip.substr(0, 7) == "::ffff:" || ip.substr(0, 7) == "::FFFF:") &&
      ip.find('.') != std::string_view::npos)
    return std::string(ip.substr(7));
  return std::string(ip);
}

namespace {
bool contains(const Network& n, const unsigned char* b) {
  int full = n.prefix / 8, rest = n.prefix % 8;
  if (memcmp(n.bytes, b, static_cast<size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (n.bytes[full] & mask) == (b[full] & mask);
}
}  // namespace

bool in_networks(const std::vector<Network>& nets, std::string_view ip_text) {
  std::string ip = unmap_ipv4(ip_text);
  unsigned char b4[4], b6[16];
  bool is4 = inet_pton(AF_INET, ip.c_str(), b4) == 1;
  bool is6 = !is4 && inet_pton(AF_INET6, ip.c_str(), b6) == 1;
  for (const auto& n : nets) {
    if (is4 && !n.v6 && contains(n, b4)) return true;
    if (is6 && n.v6 && contains(n, b6)) return true;
  }
  return false;
}

const std::map<std::string, Reply>& default_replies() {
  static const std::map<std::string, Reply> r = {
      {"client", {554, "5.7.1", "Access denied"}},
      {"helo", {550, "5.7.1", "Helo command rejected: Access denied"}},
      {"sender", {554, "5.7.1", "Sender address rejected: Access denied"}},
      {"sender_domain", {554, "5.7.1", "Sender address rejected: Access denied"}},
      {"user", {554, "5.7.1", "Sender rejected: this user may not send mail"}},
      {"messages", {421, "4.7.0", "Too many messages in one session, reconnect to send more"}},
      {"hops", {554, "5.4.6", "Too many hops (Received lines): mail loop?"}},
      {"sessions", {421, "4.7.0", "Too many connections, try again later"}},
      {"sessions_per_ip", {421, "4.7.0", "Too many connections from your address, try again later"}},
      {"rate", {421, "4.7.0", "Too many connections from your address per minute, slow down"}},
      // Built-in refusals; relay, rcpt_unknown and over_quota texts follow "<address>: ".
      {"relay", {554, "5.7.1", "Relay access denied"}},
      {"rcpt_unknown", {550, "5.1.1", "Recipient address rejected: User unknown"}},
      // A full mailbox (sluice-quota): temporary, or permanent under
      // local.quota_exceeded = "bounce" or for a message larger than the quota.
      {"over_quota", {452, "4.2.2", "Mailbox is full, try again later"}},
      {"over_quota_permanent", {552, "5.2.2", "Mailbox is full"}},
      {"size", {552, "5.3.4", "Message size exceeds fixed limit"}},
  };
  return r;
}

bool merge_replies(const std::map<std::string, std::string>& overrides, std::map<std::string, Reply>& out,
                   std::string& why) {
  out = default_replies();
  for (const auto& [gate, text] : overrides) {
    auto it = out.find(gate);
    if (it == out.end()) return why = "smtpd.replies: unknown gate " + gate, false;
    Reply r = it->second;
    r.text = text;
    if (text.size() > 4 && isdigit(static_cast<unsigned char>(text[0])) && text[3] == ' ') {
      r.code = atoi(text.substr(0, 3).c_str());
      if (r.code < 400 || r.code > 599) return why = "smtpd.replies." + gate + ": code must be 4xx or 5xx", false;
      r.text = text.substr(4);
      r.enhanced = "";
      size_t sp = r.text.find(' ');
      if (sp != std::string::npos && r.text[0] == text[0] && r.text[1] == '.') {
        r.enhanced = r.text.substr(0, sp);
        r.text = r.text.substr(sp + 1);
      }
    }
    it->second = r;
  }
  return true;
}

const char* sender_gate(const Gates& g, const addr::Address& sender) {
  if (sender.null()) return nullptr;
  if (g.senders.count(addr::lower_ascii(sender.str()))) return "sender";
  std::string d = addr::lower_ascii(sender.domain);
  if (g.sender_domains.count(d) || g.sender_domains.count("." + d)) return "sender_domain";
  for (size_t dot = d.find('.'); dot != std::string::npos; dot = d.find('.', dot + 1))
    if (g.sender_domains.count(d.substr(dot))) return "sender_domain";
  return nullptr;
}

long long received_count(std::string_view m) {
  long long n = 0;
  size_t pos = 0;
  while (pos < m.size() && m[pos] != '\n') {
    if (m.size() - pos >= 9 && strncasecmp(m.data() + pos, "received:", 9) == 0) n++;
    size_t nl = m.find('\n', pos);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return n;
}

}  // namespace sluice::smtpd
