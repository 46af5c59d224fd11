// The security part of a session: the greeting (with the MX port's
// greet pause), STARTTLS and AUTH.
#include "common/log.hpp"
#include "listen/smtpd/session.hpp"

namespace sluice::smtpd {

using asio::awaitable;

awaitable<bool> Session::greet() {
  if (port_ == Port::submissions) {
    // RFC 8314: TLS from the first byte.
    // (GCC 12 miscompiles co_await inside || and ?:, so each stands alone.)
    bool ok = false;
    if (tls_ctx_) ok = co_await conn_->start_tls(*tls_ctx_);
    if (!ok) {
      end_reason_ = "tls_failed";
      co_return false;
    }
  }
  if (port_ == Port::smtp && s_.greet_pause_ms > 0) {
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(s_.greet_pause_ms));
    std::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (conn_->pending_in_kernel() > 0) {
      // A client that talks before the greeting is not waiting for replies:
      // a spam engine, or a pipelining attack.
      refuse({554, "5.5.0", s_.hostname + " Protocol error: you talked before the greeting"}, "early_talker");
      end_reason_ = "early_talker";
      co_await flush();
      co_return false;
    }
  }
  if (in_networks(s_.gates.clients, conn_->peer_ip)) {
    refuse_gate("client", conn_->peer_ip);
    rejected_ = true;
    co_return true;
  }
  if (milters_.active()) {
    MilterOutcome o = co_await milters_.connect();
    if (o.kind == MilterOutcome::Kind::tempfail) {
      // Nothing in this session could be accepted: 421 (RFC 5321 3.8).
      refuse({421, "4.7.1", s_.hostname + " " + o.reply.text}, "milter", "connect by " + o.milter);
      end_reason_ = "milter";
      co_await flush();
      co_return false;
    }
    if (o.kind == MilterOutcome::Kind::reject) {
      refuse(o.reply, "milter", "connect by " + o.milter);
      rejected_ = true;
      co_return true;
    }
  }
  reply(220, "", s_.hostname + " ESMTP sluice");
  co_return true;
}

awaitable<void> Session::cmd_starttls(const std::string& arg) {
  if (!tls_ctx_ || conn_->tls()) co_return reply(503, "5.5.1", conn_->tls() ? "TLS already active" : "TLS not available");
  if (!arg.empty()) co_return reply(501, "5.5.4", "Syntax: STARTTLS");
  if (!conn_->in.empty()) {
    // CVE-2011-0411: commands sent in plaintext after STARTTLS must not be
    // executed as if they came over TLS.
    log::warn({{"event", "starttls_injection"}, {"client", conn_->peer_ip}, {"port", port_name(port_)},
               {"discarded", std::to_string(conn_->in.size())}});
    conn_->in.clear();
  }
  reply(220, "2.0.0", "Ready to start TLS");
  bool ok = co_await flush();
  if (ok) ok = co_await conn_->start_tls(*tls_ctx_);
  if (!ok) {
    quit_ = true;
    end_reason_ = "tls_failed";
    co_return;
  }
  // RFC 3207 4.2: forget everything learnt before TLS.
  helo_.clear();
  esmtp_ = false;
  reset_transaction();
}

// One SASL response line, base64-decoded. False (reply sent) when the
// client cancels ("*") or sends bad base64.
awaitable<bool> Session::sasl_read(std::string& decoded) {
  std::string line;
  Read r = co_await read_line(line);
  if (r == Read::eof) {
    quit_ = true;
    co_return false;
  }
  if (r == Read::bad) co_return false;
  if (line == "*") {
    reply(501, "5.0.0", "Authentication aborted");
    co_return false;
  }
  if (!base64_decode(line, decoded)) {
    reply(501, "5.5.2", "Cannot decode response");
    co_return false;
  }
  co_return true;
}

awaitable<void> Session::cmd_auth(const std::string& arg) {
  if (!esmtp_) co_return reply(503, "5.5.1", "Send EHLO first");
  if (!conn_->tls())
    co_return refuse({538, "5.7.11", "Encryption required for requested authentication mechanism"}, "auth_tls");
  if (!auth_user_.empty()) co_return reply(503, "5.5.1", "Already authenticated");
  if (txn_.active) co_return reply(503, "5.5.1", "AUTH not allowed during a mail transaction");
  size_t sp = arg.find(' ');
  std::string mech = addr::lower_ascii(arg.substr(0, sp));
  std::string initial = sp == std::string::npos ? "" : arg.substr(sp + 1);
  std::string user, password, decoded;
  if (mech == "plain") {
    if (initial.empty()) {
      reply(334, "", "");
      if (!co_await sasl_read(decoded)) co_return;
    } else if (initial != "=" && !base64_decode(initial, decoded)) {
      co_return reply(501, "5.5.2", "Cannot decode response");
    }
    if (!parse_plain(decoded, user, password)) co_return reply(501, "5.5.2", "Malformed PLAIN response");
  } else if (mech == "login") {
    if (initial.empty()) {
      reply(334, "", base64_encode("Username:"));
      if (!co_await sasl_read(user)) co_return;
    } else if (!base64_decode(initial, user)) {
      co_return reply(501, "5.5.2", "Cannot decode response");
    }
    reply(334, "", base64_encode("Password:"));
    if (!co_await sasl_read(password)) co_return;
  } else {
    co_return reply(504, "5.5.4", "Unrecognized authentication type");
  }
  co_await verify_login(user, password);
}

awaitable<void> Session::verify_login(const std::string& user, const std::string& password) {
  // The line protocol of sluice-auth: one line, the password last.
  bool clean = !user.empty() && user.size() <= 256 && password.size() <= 1024 &&
               user.find_first_of(std::string(" \r\n\0", 4)) == std::string::npos &&
               password.find_first_of(std::string("\r\n\0", 3)) == std::string::npos;
  std::string answer = "fail";
  if (clean) answer = co_await auth_query(s_.auth_socket, "login " + conn_->peer_ip + " " + user + " " + password);
  if (answer == "ok") {
    auth_user_ = user;
    log::info({{"event", "auth"}, {"client", conn_->peer_ip}, {"user", user}, {"result", "ok"}});
    co_return reply(235, "2.7.0", "Authentication successful");
  }
  if (answer == "ban") {
    refuse({421, "4.7.0", s_.hostname + " Too many failed logins from your address, try again later"}, "auth_ban",
           user);
    quit_ = true;
    end_reason_ = "auth_ban";
    co_return;
  }
  if (answer != "fail")
    co_return refuse({454, "4.7.0", "Temporary authentication failure"}, "auth_lookup", user);
  auth_failures_++;
  refuse({535, "5.7.8", "Authentication credentials invalid"}, "auth", user);
  if (auth_failures_ >= s_.auth_failures) {
    refuse({421, "4.7.0", s_.hostname + " Too many failed authentications, closing connection"}, "auth_failures",
           user);
    quit_ = true;
    end_reason_ = "auth_failures";
  }
}

}  // namespace sluice::smtpd
