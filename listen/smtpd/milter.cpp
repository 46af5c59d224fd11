#include "listen/smtpd/milter.hpp"

// GCC 12 and 13 report asio's coroutine frame allocator (aligned_new and
// its matching delete) as mismatched in some coroutines: a known false
// positive (asio issue 1391), silenced here only.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <charconv>

#include "common/log.hpp"

namespace sluice::smtpd {

using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;
namespace m = milter;
using Socket = asio::generic::stream_protocol::socket;
using Macros = std::vector<std::pair<std::string, std::string>>;

bool parse_milter_spec(std::string_view t, MilterSpec& out) {
  out = MilterSpec{};
  out.text = std::string(t);
  auto port_of = [](std::string_view p, uint16_t& port) {
    unsigned v = 0;
    auto [e, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc() || e != p.data() + p.size() || v == 0 || v > 65535) return false;
    port = static_cast<uint16_t>(v);
    return true;
  };
  for (std::string_view pre : {"unix:", "local:"})
    if (t.substr(0, pre.size()) == pre) {
      out.unix_socket = true;
      out.path = std::string(t.substr(pre.size()));
      return !out.path.empty() && out.path[0] == '/';
    }
  for (std::string_view pre : {"inet:", "inet6:"})
    if (t.substr(0, pre.size()) == pre) {
      std::string_view rest = t.substr(pre.size());
      if (size_t at = rest.find('@'); at != std::string_view::npos) {  // Sendmail's PORT@HOST
        out.host = std::string(rest.substr(at + 1));
        return !out.host.empty() && port_of(rest.substr(0, at), out.port);
      }
      size_t colon = rest.rfind(':');
      if (colon == std::string_view::npos) return false;
      std::string_view host = rest.substr(0, colon);
      if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
      out.host = std::string(host);
      return !out.host.empty() && port_of(rest.substr(colon + 1), out.port);
    }
  return false;
}

struct MilterSession::One {
  const MilterSpec* spec = nullptr;
  std::shared_ptr<Socket> sock;
  std::string in;
  m::Negotiated n;
  bool dead = false;           // failed under default accept: left out
  bool quiet_session = false;  // accepted the connection: nothing more to ask
  bool quiet_message = false;  // accepted (or discarded) this message
  bool need_abort = false;     // SMFIC_ABORT goes before its next command

  bool live(bool message_stage) const { return !dead && !quiet_session && !(message_stage && quiet_message); }
};

namespace {

// Closes SOCK when the time is up, which ends whatever waits on it.
std::shared_ptr<asio::steady_timer> guard(const std::shared_ptr<Socket>& s, std::chrono::seconds t) {
  auto timer = std::make_shared<asio::steady_timer>(s->get_executor(), t);
  timer->async_wait([s](std::error_code ec) {
    std::error_code ignored;
    if (!ec) s->close(ignored);
  });
  return timer;
}

awaitable<bool> send(const std::shared_ptr<Socket>& s, const std::string& bytes, std::chrono::seconds t) {
  auto timer = guard(s, t);
  std::error_code ec;
  co_await asio::async_write(*s, asio::buffer(bytes), redirect_error(use_awaitable, ec));
  timer->cancel();
  co_return !ec;
}

// The next packet; nullopt on EOF, a time-out or a bad length.
awaitable<std::optional<m::Packet>> read_packet(const std::shared_ptr<Socket>& s, std::string& in,
                                                std::chrono::seconds t) {
  auto timer = guard(s, t);
  for (;;) {
    m::Packet p;
    bool bad = false;
    if (m::take_packet(in, p, bad)) {
      timer->cancel();
      co_return p;
    }
    if (bad) break;
    char buf[8192];
    std::error_code ec;
    size_t n = co_await s->async_read_some(asio::buffer(buf), redirect_error(use_awaitable, ec));
    if (ec) break;
    in.append(buf, n);
  }
  timer->cancel();
  co_return std::nullopt;
}

Reply reply_for(const m::Answer& a, bool temp) {
  if (a.verdict == m::Verdict::reply) {
    std::string enh = a.enhanced.empty() ? (a.code >= 500 ? "5.7.1" : "4.7.1") : a.enhanced;
    return {a.code, enh, a.text.empty() ? "Command rejected" : a.text};
  }
  return temp ? Reply{451, "4.7.1", "Service unavailable - try again later"} : Reply{550, "5.7.1", "Command rejected"};
}

std::string unbracket(std::string_view a) {
  if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
  return std::string(a);
}

}  // namespace

// (GCC 12 miscompiles braced temporaries inside coroutines: the packets and
// macro lists are built by these plain functions.)
namespace {
Macros helo_macros(const MilterContext& c) {
  Macros mac;
  if (!c.tls_version.empty()) {
    mac.emplace_back("{tls_version}", c.tls_version);
    mac.emplace_back("{cipher}", c.tls_cipher);
  }
  return mac;
}
Macros mail_macros(const MilterContext& c, const std::vector<std::string>& args) {
  Macros mac;
  mac.emplace_back("{mail_addr}", args.empty() ? std::string() : unbracket(args[0]));
  if (!c.auth_user.empty()) mac.emplace_back("{auth_authen}", c.auth_user);
  return mac;
}
Macros rcpt_macros(const std::vector<std::string>& args) {
  Macros mac;
  mac.emplace_back("{rcpt_addr}", args.empty() ? std::string() : unbracket(args[0]));
  return mac;
}
Macros connect_macros(const MilterContext& c) {
  Macros mac;
  mac.emplace_back("j", c.hostname);
  mac.emplace_back("{daemon_name}", "sluice-smtpd");
  mac.emplace_back("_", "unknown [" + c.client_ip + "]");
  mac.emplace_back("{client_addr}", c.client_ip);
  mac.emplace_back("{client_port}", std::to_string(c.client_port));
  mac.emplace_back("{client_name}", "unknown");
  return mac;
}
MilterOutcome verdict_outcome(const m::Answer& a, const std::string& milter) {
  MilterOutcome o;
  o.milter = milter;
  if (a.verdict == m::Verdict::discard) {
    o.kind = MilterOutcome::Kind::discard;
    return o;
  }
  if (a.verdict != m::Verdict::reject && a.verdict != m::Verdict::tempfail && a.verdict != m::Verdict::reply)
    return o;
  o.reply = reply_for(a, a.verdict == m::Verdict::tempfail);
  o.kind = o.reply.code >= 500 ? MilterOutcome::Kind::reject : MilterOutcome::Kind::tempfail;
  return o;
}
std::optional<m::Answer> go_on() { return m::Answer{}; }
std::string one_string(const std::string& s) {
  std::string out = s;
  out += '\0';
  return out;
}
std::string header_packet(const m::Header& f) {
  std::string d = f.name;
  d += '\0';
  d += m::wire_value(f.value);
  d += '\0';
  return m::encode('L', d);
}
}  // namespace

MilterOutcome MilterSession::failed(One& one, const std::string& why) {
  log::warn({{"event", "milter_failed"}, {"milter", one.spec->text}, {"client", ctx_.client_ip}, {"error", why},
             {"action", s_.default_accept ? "accept" : "tempfail"}});
  std::error_code ignored;
  if (one.sock) one.sock->close(ignored);
  one.dead = true;
  if (s_.default_accept) return {};
  return {MilterOutcome::Kind::tempfail, {451, "4.7.1", "Service unavailable - try again later"}, one.spec->text};
}

awaitable<MilterOutcome> MilterSession::connect() {
  auto ex = co_await asio::this_coro::executor;
  for (const auto& spec : s_.milters) {
    auto one = std::make_shared<One>();
    one->spec = &spec;
    one->sock = std::make_shared<Socket>(ex);
    ones_.push_back(one);
    std::error_code ec;
    auto timer = guard(one->sock, s_.command_timeout);
    if (spec.unix_socket) {
      co_await one->sock->async_connect(asio::local::stream_protocol::endpoint(spec.path),
                                        redirect_error(use_awaitable, ec));
    } else {
      asio::ip::tcp::resolver r(ex);
      auto found = co_await r.async_resolve(spec.host, std::to_string(spec.port), redirect_error(use_awaitable, ec));
      if (!ec && found.empty()) ec = asio::error::host_not_found;
      if (!ec)
        co_await one->sock->async_connect(asio::generic::stream_protocol::endpoint(found.begin()->endpoint()),
                                          redirect_error(use_awaitable, ec));
    }
    timer->cancel();
    if (ec || !one->sock->is_open()) {
      MilterOutcome o = failed(*one, "connect: " + (ec ? ec.message() : std::string("timed out")));
      if (o.kind != MilterOutcome::Kind::next) co_return o;
      continue;
    }
    std::string neg = m::encode('O', m::optneg(m::kAllActions & ~m::kSetSymList, m::kClientSteps));
    bool sent = co_await send(one->sock, neg, s_.command_timeout);
    std::optional<m::Packet> p;
    if (sent) p = co_await read_packet(one->sock, one->in, s_.command_timeout);
    std::optional<m::Negotiated> n;
    if (p && p->cmd == 'O') n = m::parse_optneg(p->data);
    if (!n) {
      MilterOutcome o = failed(*one, "option negotiation failed");
      if (o.kind != MilterOutcome::Kind::next) co_return o;
      continue;
    }
    // It may not ask for more than was offered.
    n->actions &= m::kAllActions & ~m::kSetSymList;
    n->steps &= m::kClientSteps;
    one->n = *n;
  }
  Macros mac = connect_macros(ctx_);
  std::string d = m::connect_data("unknown", ctx_.client_ip, ctx_.client_port);
  co_return co_await step('C', d, m::kNoConnect, m::kNrConnect, mac);
}

awaitable<MilterOutcome> MilterSession::helo(const std::string& name) {
  Macros mac = helo_macros(ctx_);
  std::string d = one_string(name);
  co_return co_await step('H', d, m::kNoHelo, m::kNrHelo, mac);
}

awaitable<MilterOutcome> MilterSession::mail(const std::vector<std::string>& args) {
  Macros mac = mail_macros(ctx_, args);
  std::string d = m::strings(args);
  co_return co_await step('M', d, m::kNoMail, m::kNrMail, mac);
}

awaitable<MilterOutcome> MilterSession::rcpt(const std::vector<std::string>& args) {
  Macros mac = rcpt_macros(args);
  std::string d = m::strings(args);
  co_return co_await step('R', d, m::kNoRcpt, m::kNrRcpt, mac);
}

awaitable<MilterOutcome> MilterSession::data() {
  Macros none;
  std::string d;
  co_return co_await step('T', d, m::kNoData, m::kNrData, none);
}

awaitable<MilterOutcome> MilterSession::step(char cmd, const std::string& data, uint32_t skip_step,
                                             uint32_t no_reply, const Macros& macros) {
  bool message_stage = cmd == 'M' || cmd == 'R' || cmd == 'T';
  for (auto& one : ones_) {
    if (one->dead) continue;
    std::string out;
    if (one->need_abort && !one->quiet_session) out += m::encode('A', "");
    one->need_abort = false;
    if (cmd == 'M') one->quiet_message = false;
    if (one->live(message_stage) && !(one->n.steps & skip_step)) {
      if (!macros.empty()) out += m::encode('D', m::macros(cmd, macros));
      out += m::encode(cmd, data);
    } else if (out.empty()) {
      continue;
    }
    bool sent = co_await send(one->sock, out, s_.command_timeout);
    if (!sent) {
      MilterOutcome o = failed(*one, std::string("cannot send command ") + cmd);
      if (o.kind != MilterOutcome::Kind::next) co_return o;
      continue;
    }
    if (!one->live(message_stage) || (one->n.steps & skip_step) || (one->n.steps & no_reply)) continue;
    auto p = co_await read_packet(one->sock, one->in, s_.command_timeout);
    std::optional<m::Answer> a;
    while (p && p->cmd == 'p') p = co_await read_packet(one->sock, one->in, s_.command_timeout);  // progress
    if (p) a = m::parse_answer(*p);
    if (!a) {
      MilterOutcome o = failed(*one, std::string("no answer to command ") + cmd);
      if (o.kind != MilterOutcome::Kind::next) co_return o;
      continue;
    }
    if (a->verdict == m::Verdict::accept) {
      if (message_stage) one->quiet_message = true;
      else one->quiet_session = true;
    }
    if (a->verdict == m::Verdict::discard) one->quiet_message = true;
    MilterOutcome o = verdict_outcome(*a, one->spec->text);
    if (o.kind != MilterOutcome::Kind::next) co_return o;
  }
  co_return MilterOutcome{};
}

// Sends P; when the milter answers this step (ANSWERS), reads the answer.
// Edits are allowed only at the end of the message (EOM): header edits go
// into MSG at once, the others into RES.
awaitable<std::optional<m::Answer>> MilterSession::exchange(One& one, m::Parsed& msg, MilterMessage& res,
                                                            bool& replacing, std::string p, bool answers, bool eom) {
  bool sent = co_await send(one.sock, p, s_.content_timeout);
  if (!sent) co_return std::nullopt;
  if (!answers) co_return go_on();
  for (;;) {
    auto pk = co_await read_packet(one.sock, one.in, s_.content_timeout);
    if (!pk) co_return std::nullopt;
    if (pk->cmd == 'p') continue;  // progress: the milter is still working
    if (auto a = m::parse_answer(*pk)) co_return a;
    auto e = m::parse_edit(*pk);
    if (!eom || !e) co_return std::nullopt;
    res.edits++;
    switch (e->kind) {
      case m::Edit::Kind::add_header:
      case m::Edit::Kind::insert_header:
      case m::Edit::Kind::change_header:
        if (!m::apply_header_edit(msg, *e))
          log::warn({{"event", "milter_edit_refused"}, {"milter", one.spec->text}, {"header", e->name}});
        break;
      case m::Edit::Kind::add_rcpt: res.add_rcpts.push_back(unbracket(e->value)); break;
      case m::Edit::Kind::del_rcpt: res.del_rcpts.push_back(unbracket(e->value)); break;
      case m::Edit::Kind::change_from: res.new_sender = unbracket(e->value); break;
      case m::Edit::Kind::replace_body:
        if (!replacing) msg.body.clear();
        replacing = true;
        msg.body += e->value;  // CRLF here; made LF by the caller
        break;
      case m::Edit::Kind::quarantine: res.quarantine = e->value.empty() ? "milter" : e->value; break;
    }
  }
}

awaitable<MilterMessage> MilterSession::message(const std::string& message) {
  MilterMessage res;
  res.message = message;
  for (auto& one : ones_) {
    if (!one->live(true)) continue;
    m::Parsed msg = m::parse_message(res.message);
    const uint32_t st = one->n.steps;
    bool replacing = false;
    std::optional<m::Answer> a = go_on();
    if (!(st & m::kNoHeaders))
      for (const auto& f : msg.fields) {
        std::string pk = header_packet(f);
        a = co_await exchange(*one, msg, res, replacing, pk, !(st & m::kNrHeader), false);
        if (!a || a->verdict != m::Verdict::next) break;
      }
    if (a && a->verdict == m::Verdict::next && !(st & m::kNoEoh))
    {
      std::string pk = m::encode('N', "");
      a = co_await exchange(*one, msg, res, replacing, pk, !(st & m::kNrEoh), false);
    }
    if (a && a->verdict == m::Verdict::next && !(st & m::kNoBody)) {
      std::string body = m::to_crlf(msg.body);
      for (size_t at = 0; at < body.size() && a && a->verdict == m::Verdict::next; at += m::kBodyChunk)
      {
        std::string pk = m::encode('B', std::string_view(body).substr(at, m::kBodyChunk));
        a = co_await exchange(*one, msg, res, replacing, pk, !(st & m::kNrBody), false);
      }
      if (a && a->verdict == m::Verdict::skip) a = go_on();
    }
    if (a && a->verdict == m::Verdict::next) {
      std::string pk = m::encode('E', "");
      a = co_await exchange(*one, msg, res, replacing, pk, true, true);
    }
    if (!a) {
      res.outcome = failed(*one, "no answer to the message");
    } else {
      if (replacing) msg.body = m::to_lf(msg.body);
      res.message = m::join_message(msg);
      if (a->verdict == m::Verdict::accept) one->quiet_message = true;
      res.outcome = verdict_outcome(*a, one->spec->text);
    }
    if (res.outcome.kind != MilterOutcome::Kind::next) break;
  }
  co_return res;
}

void MilterSession::abort() {
  for (auto& one : ones_) one->need_abort = true;
}

awaitable<void> MilterSession::quit() {
  for (auto& one : ones_) {
    if (one->dead || !one->sock->is_open()) continue;
    std::string q = m::encode('Q', "");
    co_await send(one->sock, q, std::chrono::seconds(5));
    std::error_code ignored;
    one->sock->close(ignored);
  }
}

}  // namespace sluice::smtpd
