// Options, and opening an SMTP session: greeting, EHLO, STARTTLS, AUTH.
#include <openssl/evp.h>

#include <ctime>

#include "common/log.hpp"
#include "delivery/remote/remote.hpp"

namespace sluice::remote {
namespace {

std::string b64(std::string_view s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(s.data()),
                          static_cast<int>(s.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// Sends LINE and reads the reply.
Reply command(Conn& c, const std::string& line, long long timeout) {
  if (!c.write(line + "\r\n", timeout)) return Reply{0, "lost connection (" + c.error() + ")", ""};
  return c.read_reply(timeout);
}

Status reply_status(const Reply& r, const std::string& where, const std::string& stage) {
  if (r.code == 0) return Status::temp("4.4.2", where + ": " + r.text + " " + stage);
  if (r.digit() == '5') return Status::perm(r.enhanced(), r.text);
  return Status::temp(r.enhanced(), r.text);
}

// EHLO, and HELO when the peer does not know EHLO (RFC 5321 4.1.1.1).
Status greet(Session& s, const Options& o) {
  Reply r = command(*s.conn, "EHLO " + o.helo, o.t_greeting);
  if (r.code == 250) {
    s.ext = Extensions::parse(r.lines);
    return Status::ok();
  }
  if (r.code == 0 || r.code == 421) return reply_status(r, s.where(), "after EHLO");
  r = command(*s.conn, "HELO " + o.helo, o.t_greeting);
  if (r.code != 250) return reply_status(r, s.where(), "after HELO");
  s.ext = Extensions{};
  return Status::ok();
}

Status authenticate(Session& s, const Options& o, const Destination& d) {
  const std::string& mechs = " " + s.ext.auth + " ";
  Reply r;
  if (mechs.find(" PLAIN ") != std::string::npos) {
    r = command(*s.conn, "AUTH PLAIN " + b64(std::string(1, '\0') + d.user + std::string(1, '\0') + d.password),
                o.t_greeting);
  } else if (mechs.find(" LOGIN ") != std::string::npos) {
    r = command(*s.conn, "AUTH LOGIN", o.t_greeting);
    if (r.code == 334) r = command(*s.conn, b64(d.user), o.t_greeting);
    if (r.code == 334) r = command(*s.conn, b64(d.password), o.t_greeting);
  } else {
    return Status::temp("4.7.0", "AUTH PLAIN or LOGIN not offered by " + s.where());
  }
  if (r.code == 235) return Status::ok();
  // A refused password is the configuration's fault, not the message's: retry later.
  return Status::temp("4.7.0", "authentication with " + s.where() + " failed: " + r.text);
}

}  // namespace

Extensions Extensions::parse(const std::string& lines) {
  Extensions e;
  e.esmtp = true;
  size_t i = 0;
  bool first = true;
  while (i < lines.size()) {
    size_t j = lines.find('\n', i);
    if (j == std::string::npos) j = lines.size();
    std::string l = lines.substr(i, j - i);
    i = j + 1;
    if (first) {  // the first line is the greeting text, not a keyword
      first = false;
      continue;
    }
    std::string up;
    for (char c : l) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::string kw = up.substr(0, up.find(' '));
    std::string arg = up.size() > kw.size() ? up.substr(kw.size() + 1) : "";
    if (kw == "PIPELINING") e.pipelining = true;
    else if (kw == "8BITMIME") e.eightbit = true;
    else if (kw == "SMTPUTF8") e.smtputf8 = true;
    else if (kw == "DSN") e.dsn = true;
    else if (kw == "CHUNKING") e.chunking = true;
    else if (kw == "STARTTLS") e.starttls = true;
    else if (kw == "AUTH") e.auth = arg;
    else if (kw == "SIZE" && !arg.empty() && arg.size() < 18 && isdigit(static_cast<unsigned char>(arg[0])))
      e.size = std::stoll(arg);
  }
  return e;
}

Result<Options> Options::from_config(const Config& cfg) {
  Options o;
  o.helo = cfg.str("remote.helo_name");
  if (o.helo.empty()) o.helo = cfg.hostname();
  o.mx_port = static_cast<int>(cfg.integer("remote.mx_port"));
  o.routes = cfg.map("routes");
  for (const auto& [k, v] : o.routes)
    if (auto r = parse_route(v); !r) return r.error();
  o.tls_table = cfg.map("remote.tls_policy");
  for (const auto& [k, v] : o.tls_table)
    if (auto p = parse_tls_policy(v); !p) return Status::perm("5.3.5", "remote.tls_policy " + k + ": " + p.error().text);
  auto def = parse_tls_policy(cfg.str("remote.tls"));
  if (!def) return Status::perm("5.3.5", "remote.tls: " + def.error().text);
  o.tls_default = *def;
  o.ca_file = cfg.str("remote.tls_ca_file").empty() ? "" : cfg.path("remote.tls_ca_file");
  o.dns_servers = cfg.list("dns.servers");
  o.t_dns = cfg.seconds("remote.dns_timeout");
  o.t_connect = cfg.seconds("remote.connect_timeout");
  o.t_greeting = cfg.seconds("remote.greeting_timeout");
  o.t_mail = cfg.seconds("remote.mail_timeout");
  o.t_rcpt = cfg.seconds("remote.rcpt_timeout");
  o.t_data_init = cfg.seconds("remote.data_init_timeout");
  o.t_data_block = cfg.seconds("remote.data_block_timeout");
  o.t_data_done = cfg.seconds("remote.data_done_timeout");
  o.cache_idle = cfg.seconds("remote.cache_idle");
  o.cache_max_use = cfg.integer("remote.cache_max_use");
  o.down_time = cfg.seconds("remote.down_time");
  o.dest_concurrency = cfg.integer("remote.destination_concurrency");
  o.state_dir = cfg.path("remote.state_dir");
  for (long long* t : {&o.t_dns, &o.t_connect, &o.t_greeting, &o.t_mail, &o.t_rcpt, &o.t_data_init, &o.t_data_block,
                       &o.t_data_done})
    if (*t < 1) *t = 1;
  return o;
}

Result<std::unique_ptr<Session>> open_session(const Options& o, SSL_CTX* tls, const Destination& d, const Host& h,
                                              const std::string& addr, bool with_tls, const std::string& qid) {
  auto c = Conn::open(addr, d.port, o.t_connect);
  if (!c) return c.error();
  auto s = std::make_unique<Session>();
  s->conn = std::move(*c);
  s->dest = d.key;
  s->host = h.name;
  Reply r = s->conn->read_reply(o.t_greeting);
  if (r.code != 220) {
    if (r.code == 0) return Status::temp("4.4.2", s->where() + ": " + r.text + " (greeting)");
    command(*s->conn, "QUIT", 2);
    return reply_status(r, s->where(), "greeting");
  }
  if (Status st = greet(*s, o); !st.is_ok()) return st;
  bool must = d.tls == TlsPolicy::encrypt || d.tls == TlsPolicy::verify;
  if (d.tls != TlsPolicy::none && with_tls && tls) {
    if (s->ext.starttls) {
      Reply t = command(*s->conn, "STARTTLS", o.t_greeting);
      if (t.code != 220) {
        if (must || t.code == 0) return Status::temp("4.7.4", s->where() + " refused STARTTLS: " + t.text);
      } else {
        if (Status st = s->conn->start_tls(tls, h.name, d.tls == TlsPolicy::verify, o.t_greeting); !st.is_ok())
          return st;
        log::info({{"event", "tls"}, {"qid", qid}, {"host", h.name}, {"peer", s->conn->peer()},
                   {"version", s->conn->tls_version()}, {"cipher", s->conn->tls_cipher()},
                   {"verified", d.tls == TlsPolicy::verify ? "yes" : "no"}});
        if (Status st = greet(*s, o); !st.is_ok()) return st;  // RFC 3207 4.2: forget what was said before
      }
    } else if (must) {
      return Status::temp("4.7.4", "TLS is required, but was not offered by " + s->where());
    }
  } else if (must) {
    return Status::temp("4.7.4", "TLS is required, but unavailable for " + s->where());
  }
  if (!d.user.empty()) {
    if (!s->ext.auth.empty()) {
      if (Status st = authenticate(*s, o, d); !st.is_ok()) return st;
    } else {
      log::warn({{"event", "auth_not_offered"}, {"qid", qid}, {"host", s->where()}});
    }
  }
  return s;
}

void quit(Session& s) {
  if (!s.conn) return;
  command(*s.conn, "QUIT", 2);
  s.conn.reset();
}

}  // namespace sluice::remote
