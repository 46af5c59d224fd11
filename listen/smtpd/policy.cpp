#include "listen/smtpd/policy.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "common/date.hpp"
#include "common/fd.hpp"

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

const char* port_name(Port p) {
  switch (p) {
    case Port::smtp: return "smtp";
    case Port::submission: return "submission";
    case Port::submissions: return "submissions";
  }
  return "smtp";
}

Result<Settings> load_settings(const Config& cfg) {
  Settings s;
  s.hostname = cfg.hostname();
  s.max_size = cfg.bytes("limits.message_size");
  s.max_rcpts = cfg.integer("limits.recipients");
  s.max_errors = cfg.integer("smtpd.max_errors");
  s.auth_failures = cfg.integer("smtpd.auth_failures");
  s.greet_pause_ms = cfg.seconds("smtpd.greet_pause") * 1000;
  s.timeout_s = cfg.seconds("smtpd.timeout");
  for (const auto& n : cfg.list("smtpd.trusted_networks")) {
    Network net;
    if (!parse_network(n, net)) return Status::perm("5.3.5", "smtpd.trusted_networks: bad network " + n);
    s.trusted.push_back(net);
  }
  if (s.max_rcpts < 1) return Status::perm("5.3.5", "limits.recipients must be at least 1");
  if (s.timeout_s < 1) s.timeout_s = 1;
  s.filters = cfg.list("smtpd.filters");
  s.filter_timeout_s = std::max<long long>(1, cfg.seconds("smtpd.filter_timeout"));
  s.exe_dir = exe_dir();
  s.received_auth = cfg.boolean("smtpd.received_auth");
  std::string run = cfg.path("run_dir");
  s.inject_socket = run + "/inject.sock";
  s.auth_socket = run + "/auth.sock";
  return s;
}

std::string received_header(const ReceivedInfo& r) {
  // RFC 3848 / 6531: ESMTP, then S for TLS, A for AUTH; UTF8SMTP for SMTPUTF8.
  std::string proto = r.utf8 ? "UTF8SMTP" : r.esmtp ? "ESMTP" : "SMTP";
  if (r.tls && r.esmtp) proto += "S";
  if (r.auth && r.esmtp) proto += "A";
  std::string h = "Received: from " + (r.helo.empty() ? std::string("unknown") : r.helo) + " ([" + r.client_ip + "])\n";
  h += "\tby " + r.hostname + " (sluice) with " + proto;
  if (r.tls) h += "\n\t(" + r.tls_version + " cipher " + r.tls_cipher + ")";
  if (!r.auth_user.empty()) h += "\n\t(authenticated as " + r.auth_user + ")";
  if (!r.rcpt.empty()) h += "\n\tfor <" + r.rcpt + ">";
  h += ";\n\t" + rfc5322_date(r.time) + "\n";
  return h;
}

std::string missing_headers(std::string_view m, const std::string& hostname, long long now, std::string_view unique) {
  bool has_id = false, has_date = false;
  size_t pos = 0;
  while (pos < m.size() && m[pos] != '\n') {
    size_t nl = m.find('\n', pos);
    std::string line = addr::lower_ascii(m.substr(pos, std::min<size_t>(nl, pos + 16) - pos));
    if (line.rfind("message-id:", 0) == 0) has_id = true;
    if (line.rfind("date:", 0) == 0) has_date = true;
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  std::string out;
  if (!has_date) out += "Date: " + rfc5322_date(now) + "\n";
  if (!has_id) out += "Message-ID: <" + std::to_string(now) + "." + std::string(unique) + "@" + hostname + ">\n";
  return out;
}

Reply injection_reply(int code, const std::string& text) {
  if (code == 0) return Reply{250, "2.0.0", text.empty() ? "Ok: queued" : "Ok: queued as " + text};
  // A filter may give a whole reply line, "550 5.7.1 text".
  if (text.size() > 4 && (text[0] == '4' || text[0] == '5') && isdigit(static_cast<unsigned char>(text[1])) &&
      isdigit(static_cast<unsigned char>(text[2])) && text[3] == ' ') {
    Reply r{std::stoi(text.substr(0, 3)), "", text.substr(4)};
    size_t sp = r.text.find(' ');
    if (sp != std::string::npos && r.text[0] == text[0] && r.text[1] == '.') {
      r.enhanced = r.text.substr(0, sp);
      r.text = r.text.substr(sp + 1);
    }
    return r;
  }
  std::string enh, rest = text;
  if (text.size() > 5 && (text[0] == '4' || text[0] == '5') && text[1] == '.') {
    size_t sp = text.find(' ');
    enh = text.substr(0, sp);
    rest = sp == std::string::npos ? "" : text.substr(sp + 1);
  }
  bool permanent = code == 31 || code == 11 || (!enh.empty() && enh[0] == '5');
  if (code == 53) return Reply{452, "4.3.1", "Insufficient system storage"};
  if (permanent) {
    if (enh.empty() || enh[0] != '5') enh = code == 11 ? "5.1.3" : "5.3.0";
    int c = enh == "5.3.4" ? 552 : code == 11 ? 553 : 554;
    return Reply{c, enh, rest.empty() ? "Message refused" : rest};
  }
  if (enh.empty() || enh[0] != '4') enh = "4.3.0";
  return Reply{451, enh, rest.empty() ? "Temporary failure, try again later" : rest};
}

}  // namespace sluice::smtpd
