#include "listen/smtpd/session.hpp"

#include <algorithm>

#include "common/log.hpp"

namespace sluice::smtpd {

using asio::awaitable;

const Session::Entry Session::kCommands[] = {
    {"EHLO", &Session::cmd_ehlo},   {"HELO", &Session::cmd_helo},         {"MAIL", &Session::cmd_mail},
    {"RCPT", &Session::cmd_rcpt},   {"DATA", &Session::cmd_data},         {"BDAT", &Session::cmd_bdat},
    {"RSET", &Session::cmd_rset},   {"NOOP", &Session::cmd_noop},         {"QUIT", &Session::cmd_quit},
    {"VRFY", &Session::cmd_vrfy},   {"EXPN", &Session::cmd_expn},         {"HELP", &Session::cmd_help},
    {"STARTTLS", &Session::cmd_starttls}, {"AUTH", &Session::cmd_auth},
};

Session::Session(std::shared_ptr<Conn> conn, Port port, const Settings& s, asio::ssl::context* tls)
    : conn_(std::move(conn)),
      port_(port),
      s_(s),
      tls_ctx_(tls),
      started_(std::chrono::steady_clock::now()),
      milters_(s.milters, mctx_) {
  if (!milters_.active()) return;  // the common case pays nothing for milters
  mctx_.hostname = s.hostname;
  mctx_.client_ip = conn_->peer_ip;
  mctx_.client_port = conn_->peer_port;
}

bool Session::milter_allows(const MilterOutcome& o, std::string_view detail) {
  switch (o.kind) {
    case MilterOutcome::Kind::next: return true;
    case MilterOutcome::Kind::discard:
      txn_.discard = true;
      return true;
    case MilterOutcome::Kind::reject:
    case MilterOutcome::Kind::tempfail:
      refuse(o.reply, "milter", std::string(detail) + " by " + o.milter);
      return false;
  }
  return true;
}

namespace {
// What a milter gets for MAIL and RCPT: the path in angle brackets, then
// the ESMTP parameters as the client sent them.
std::vector<std::string> milter_args(const std::string& arg, const std::string& address) {
  std::vector<std::string> out{"<" + address + ">"};
  size_t gt = arg.find('>');
  std::string_view rest = gt == std::string::npos ? std::string_view() : std::string_view(arg).substr(gt + 1);
  while (!rest.empty()) {
    size_t sp = rest.find(' ');
    std::string_view w = rest.substr(0, sp);
    if (!w.empty()) out.emplace_back(w);
    if (sp == std::string_view::npos) break;
    rest.remove_prefix(sp + 1);
  }
  return out;
}
}  // namespace

void Session::reply(int code, std::string enhanced, std::string text) {
  if (code >= 400) errors_++;
  out_ += Reply{code, std::move(enhanced), std::move(text)}.line() + "\r\n";
}

// Every refusal by a gate is logged with the client and the gate's name.
void Session::refuse(const Reply& r, const char* gate, std::string_view detail) {
  reply(r);
  log::info({{"event", "refused"}, {"gate", gate}, {"client", conn_->peer_ip}, {"port", port_name(port_)},
             {"reply", r.line()}, {"detail", detail}});
}

void Session::refuse_gate(const char* gate, std::string_view detail, std::string_view text_prefix) {
  Reply r = s_.gates.replies.at(gate);
  r.text = std::string(text_prefix) + r.text;
  if (r.code == 421) r.text = s_.hostname + " " + r.text;
  refuse(r, gate, detail);
}

awaitable<bool> Session::flush() {
  if (out_.empty()) co_return true;
  std::string data;
  data.swap(out_);
  co_return co_await conn_->write(data);
}

void Session::reset_transaction() {
  // A transaction the milters saw begin but not end: they forget it.
  if (txn_.active && !txn_.milter_done && milters_.active()) milters_.abort();
  txn_ = Transaction{};
}

bool Session::may_relay() const { return !auth_user_.empty() || in_networks(s_.trusted, conn_->peer_ip); }

// One command line, CRLF required. A bare LF ends a line that is refused
// (never executed), and a line too long is refused and skipped to its end.
awaitable<Session::Read> Session::read_line(std::string& line) {
  bool skipping = false;
  for (;;) {
    size_t nl = conn_->in.find('\n');
    if (nl != std::string::npos) {
      bool crlf = nl > 0 && conn_->in[nl - 1] == '\r';
      size_t len = crlf ? nl - 1 : nl;
      // A whole long line can arrive in one read: its length counts too.
      if (len > kMaxCommandLine) skipping = true;
      line.assign(conn_->in, 0, skipping ? 0 : len);
      conn_->in.erase(0, nl + 1);
      if (skipping) {
        reply(500, "5.5.2", "Line too long");
        co_return Read::bad;
      }
      if (!crlf) {
        reply(500, "5.5.2", "Bare LF in a command; lines end with CRLF");
        co_return Read::bad;
      }
      co_return Read::line;
    }
    if (conn_->in.size() > kMaxCommandLine + 1) {
      skipping = true;
      conn_->in.clear();
    }
    // About to wait for the client: whatever we owe it goes out first.
    if (!co_await flush()) co_return Read::eof;
    if (!co_await conn_->read_more()) co_return Read::eof;
  }
}

awaitable<void> Session::run() {
  if (co_await greet()) {
    while (!quit_) {
      std::string line;
      Read r = co_await read_line(line);
      if (r == Read::eof) {
        end_reason_ = conn_->timed_out() ? "timeout" : "eof";
        break;
      }
      Command c;
      if (r == Read::line) {
        if (auto e = split_command(line, c)) {
          reply(*e);
        } else {
          Handler h = nullptr;
          for (const auto& entry : kCommands)
            if (c.verb == entry.verb) h = entry.handler;
          if (rejected_ && c.verb != "QUIT") reply(503, "5.7.1", "Access denied; only QUIT is accepted");
          else if (h) co_await (this->*h)(c.arg);
          else reply(500, "5.5.2", "Command unrecognized");
        }
      }
      if (!quit_ && errors_ >= s_.max_errors) {
        refuse({421, "4.7.0", s_.hostname + " Too many errors, closing connection"}, "errors");
        end_reason_ = "errors";
        quit_ = true;
      }
    }
    co_await flush();
  }
  if (milters_.active()) co_await milters_.quit();
  co_await conn_->shutdown();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_);
  log::info({{"event", "session_end"}, {"client", conn_->peer_ip}, {"port", port_name(port_)}, {"helo", helo_},
             {"tls", conn_->tls() ? conn_->tls_version : "no"}, {"auth", auth_user_},
             {"messages", std::to_string(messages_)}, {"rcpts", std::to_string(rcpts_)},
             {"errors", std::to_string(errors_)}, {"reason", end_reason_},
             {"duration_ms", std::to_string(ms.count())}});
}

awaitable<void> Session::cmd_ehlo(const std::string& arg) {
  if (arg.empty() || arg.find(' ') != std::string::npos) {
    reply(501, "5.5.4", "Syntax: EHLO hostname");
    co_return;
  }
  if (s_.gates.helo.count(addr::lower_ascii(arg))) co_return refuse_gate("helo", arg);
  if (milters_.active()) {
    mctx_.tls_version = conn_->tls_version;
    mctx_.tls_cipher = conn_->tls_cipher;
    MilterOutcome o = co_await milters_.helo(arg);
    if (!milter_allows(o, "helo " + arg)) co_return;
  }
  helo_ = arg;
  esmtp_ = true;
  reset_transaction();
  std::vector<std::string> lines = {s_.hostname, "PIPELINING", "SIZE " + std::to_string(s_.max_size), "8BITMIME",
                                    "ENHANCEDSTATUSCODES", "DSN", "SMTPUTF8", "CHUNKING"};
  if (tls_ctx_ && !conn_->tls()) lines.push_back("STARTTLS");
  // RFC 4954 14: no plaintext passwords over an unencrypted connection.
  if (conn_->tls() && auth_user_.empty()) lines.push_back("AUTH PLAIN LOGIN");
  for (size_t i = 0; i < lines.size(); i++)
    out_ += "250" + std::string(i + 1 < lines.size() ? "-" : " ") + lines[i] + "\r\n";
}

awaitable<void> Session::cmd_helo(const std::string& arg) {
  if (arg.empty() || arg.find(' ') != std::string::npos) {
    reply(501, "5.5.4", "Syntax: HELO hostname");
    co_return;
  }
  if (s_.gates.helo.count(addr::lower_ascii(arg))) co_return refuse_gate("helo", arg);
  if (milters_.active()) {
    MilterOutcome o = co_await milters_.helo(arg);
    if (!milter_allows(o, "helo " + arg)) co_return;
  }
  helo_ = arg;
  esmtp_ = false;
  reset_transaction();
  reply(250, "", s_.hostname);
}

awaitable<void> Session::cmd_mail(const std::string& arg) {
  if (helo_.empty()) co_return reply(503, "5.5.1", "Send EHLO or HELO first");
  if (txn_.active) co_return reply(503, "5.5.1", "Nested MAIL command");
  if (port_ != Port::smtp && !conn_->tls())
    co_return refuse({530, "5.7.0", "Must issue a STARTTLS command first"}, "tls_required");
  if (port_ != Port::smtp && auth_user_.empty())
    co_return refuse({530, "5.7.0", "Authentication required"}, "auth_required");
  if (s_.gates.messages > 0 && messages_ >= s_.gates.messages) {
    refuse_gate("messages", std::to_string(messages_));
    quit_ = true;
    end_reason_ = "messages";
    co_return;
  }
  MailArgs m;
  if (auto e = parse_mail(arg, m)) co_return reply(*e);
  if (!auth_user_.empty() && s_.gates.users.count(addr::lower_ascii(auth_user_)))
    co_return refuse_gate("user", auth_user_);
  if (const char* g = sender_gate(s_.gates, m.sender)) co_return refuse_gate(g, m.sender.str());
  if (m.size > s_.max_size) co_return refuse_gate("size", std::to_string(m.size));
  if (!auth_user_.empty() && !m.sender.null()) {
    // An authenticated user sends only as an address they own.
    std::string from = m.sender.str();
    std::string answer = co_await auth_query(s_.auth_socket, "sendas " + auth_user_ + " " + from);
    if (answer == "no")
      co_return refuse({553, "5.7.1", "<" + from + ">: Sender address rejected: not owned by user " + auth_user_},
                       "sendas", auth_user_ + " " + from);
    if (answer != "yes")
      co_return refuse({451, "4.3.0", "<" + from + ">: Temporary lookup failure, try again later"}, "sendas_lookup",
                       answer.empty() ? "sluice-auth did not answer" : answer);
  }
  bool discard = false;
  if (milters_.active()) {
    mctx_.auth_user = auth_user_;
    std::vector<std::string> margs = milter_args(arg, m.sender.str());
    MilterOutcome o = co_await milters_.mail(margs);
    if (!milter_allows(o, "mail " + m.sender.str())) {
      milters_.abort();
      co_return;
    }
    discard = txn_.discard;
  }
  txn_.active = true;
  txn_.discard = discard;
  txn_.mail = std::move(m);
  reply(250, "2.1.0", "Ok");
}

awaitable<void> Session::cmd_rcpt(const std::string& arg) {
  if (!txn_.active) co_return reply(503, "5.5.1", "Need MAIL command");
  if (txn_.chunks) co_return reply(503, "5.5.1", "BDAT in progress");
  RcptArgs r;
  if (auto e = parse_rcpt(arg, r)) co_return reply(*e);
  if (r.postmaster) r.rcpt = addr::Address{"postmaster", s_.hostname};
  std::string a = r.rcpt.str();
  if (r.rcpt.needs_smtputf8() && !txn_.mail.smtputf8)
    co_return reply(553, "5.6.7", "Non-ASCII address needs MAIL FROM:<...> SMTPUTF8");
  if (static_cast<long long>(txn_.rcpts.size()) >= s_.max_rcpts)
    co_return refuse({452, "4.5.3", "Too many recipients"}, "recipients", a);
  // SIZE lets sluice-auth ask whether the message fits the mailbox.
  std::string question = "rcpt " + a + " " + std::to_string(std::max(txn_.mail.size, 0LL));
  std::string answer = co_await auth_query(s_.auth_socket, question);
  std::string word = answer.substr(0, answer.find(' '));
  if (word == "unknown") co_return refuse_gate("rcpt_unknown", a, "<" + a + ">: ");
  if (word == "full") {
    // The usage in the answer goes to the log, not to the client.
    bool permanent = answer.compare(5, 2, "5.") == 0;
    co_return refuse_gate(permanent ? "over_quota_permanent" : "over_quota", a + ": " + answer.substr(5),
                          "<" + a + ">: ");
  }
  if (word == "remote" && !may_relay()) co_return refuse_gate("relay", a, "<" + a + ">: ");
  if (word != "local" && word != "remote")
    co_return refuse({451, "4.3.0", "<" + a + ">: Temporary lookup failure, try again later"}, "rcpt_lookup",
                     a + ": " + (answer.empty() ? "sluice-auth did not answer" : answer));
  if (milters_.active()) {
    std::vector<std::string> margs = milter_args(arg, a);
    MilterOutcome o = co_await milters_.rcpt(margs);
    if (!milter_allows(o, "rcpt " + a)) co_return;
  }
  txn_.rcpts.push_back(queue::Rcpt{a, r.notify, r.orcpt});
  reply(250, "2.1.5", "Ok");
}

awaitable<void> Session::cmd_rset(const std::string&) {
  reset_transaction();
  reply(250, "2.0.0", "Ok");
  co_return;
}

awaitable<void> Session::cmd_noop(const std::string&) {
  reply(250, "2.0.0", "Ok");
  co_return;
}

awaitable<void> Session::cmd_quit(const std::string&) {
  reply(221, "2.0.0", "Bye");
  quit_ = true;
  end_reason_ = "quit";
  co_return;
}

awaitable<void> Session::cmd_vrfy(const std::string& arg) {
  // Off by default: it would let anyone harvest the user table (RFC 5321 3.5.3).
  if (!s_.vrfy) co_return reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
  std::string a(arg);
  if (!a.empty() && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
  auto parsed = addr::parse_mailbox(a, true);
  if (!parsed) co_return reply(501, "5.1.3", "Bad address syntax");
  std::string answer = co_await auth_query(s_.auth_socket, "rcpt " + parsed->str());
  std::string word = answer.substr(0, answer.find(' '));
  if (word == "local" || word == "full") co_return reply(250, "2.1.5", "<" + parsed->str() + ">");
  if (word == "unknown") co_return reply(550, "5.1.1", "<" + parsed->str() + ">: User unknown");
  reply(252, "2.1.5", "Cannot VRFY user, but will accept message and attempt delivery");
  co_return;
}

awaitable<void> Session::cmd_expn(const std::string&) {
  reply(502, "5.5.1", "EXPN not available");
  co_return;
}

awaitable<void> Session::cmd_help(const std::string&) {
  reply(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
  co_return;
}

}  // namespace sluice::smtpd
