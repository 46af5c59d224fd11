#include "listen/smtpd/policy.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <set>

#include "common/date.hpp"
#include "common/fd.hpp"

namespace sluice::smtpd {

const char* port_name(Port p) {
  switch (p) {
    case Port::smtp: return "smtp";
    case Port::submission: return "submission";
    case Port::submissions: return "submissions";
  }
  return "smtp";
}

namespace {

std::set<std::string> lowered(const std::vector<std::string>& v) {
  std::set<std::string> out;
  for (const auto& x : v) out.insert(addr::lower_ascii(x));
  return out;
}

Status load_gates(const Config& cfg, Gates& g) {
  for (const auto& n : cfg.list("smtpd.reject_clients")) {
    Network net;
    if (!parse_network(n, net)) return Status::perm("5.3.5", "smtpd.reject_clients: bad network " + n);
    g.clients.push_back(net);
  }
  g.senders = lowered(cfg.list("smtpd.reject_senders"));
  g.sender_domains = lowered(cfg.list("smtpd.reject_sender_domains"));
  g.helo = lowered(cfg.list("smtpd.reject_helo"));
  g.users = lowered(cfg.list("smtpd.reject_users"));
  std::string why;
  if (!merge_replies(cfg.map("smtpd.replies"), g.replies, why)) return Status::perm("5.3.5", why);
  g.messages = cfg.integer("limits.messages_per_session");
  g.hops = cfg.integer("limits.hops");
  g.sessions = cfg.integer("limits.sessions");
  g.sessions_per_ip = cfg.integer("limits.sessions_per_ip");
  g.rate = cfg.integer("limits.connection_rate");
  // The rate counters saturate at 4095 a minute (admission.hpp).
  if (g.rate < 0 || g.rate > 4000)
    return Status::perm("5.3.5", "limits.connection_rate must be between 0 and 4000, not " + std::to_string(g.rate));
  return Status::ok();
}

}  // namespace

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
  s.vrfy = cfg.boolean("smtpd.vrfy");
  if (auto st = load_gates(cfg, s.gates); !st.is_ok()) return st;
  for (const auto& m : cfg.list("smtpd.milters")) {
    MilterSpec spec;
    if (!parse_milter_spec(m, spec))
      return Status::perm("5.3.5", "smtpd.milters: " + m + " is not inet:HOST:PORT, inet:PORT@HOST or unix:/PATH");
    s.milters.milters.push_back(spec);
  }
  std::string action = cfg.str("smtpd.milter_default_action");
  if (action != "tempfail" && action != "accept")
    return Status::perm("5.3.5", "smtpd.milter_default_action must be \"tempfail\" or \"accept\", not \"" + action + "\"");
  s.milters.default_accept = action == "accept";
  s.milters.command_timeout = std::chrono::seconds(std::max<long long>(1, cfg.seconds("smtpd.milter_command_timeout")));
  s.milters.content_timeout = std::chrono::seconds(std::max<long long>(1, cfg.seconds("smtpd.milter_content_timeout")));
  std::string run = cfg.path("run_dir");
  s.inject_socket = run + "/inject.sock";
  s.auth_socket = run + "/auth.sock";
  s.workers = std::max<long long>(1, cfg.integer("smtpd.workers"));
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
