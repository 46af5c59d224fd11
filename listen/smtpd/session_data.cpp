// The message part of a session: DATA and BDAT, and the hand-off to the
// queue through sluice-injectd.
#include <cstdio>
#include <cstdlib>
#include <ctime>

// GCC 12 and 13 report asio's coroutine frame allocator as mismatched in
// some coroutines: a known false positive (asio issue 1391).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include "common/log.hpp"
#include "listen/smtpd/chain.hpp"
#include "listen/smtpd/session.hpp"

namespace sluice::smtpd {

using asio::awaitable;

void Session::refuse_fatal(BodyDecoder::Fatal f) {
  // The client and we no longer agree where the message ends (RFC 5321
  // 2.3.8; the SMTP smuggling attacks): nothing more it sends can be
  // trusted to be a command, so the session ends here.
  const char* what = f == BodyDecoder::Fatal::bare_lf ? "bare <LF>" : "bare <CR>";
  refuse({554, "5.5.2", std::string("Error: ") + what + " received; lines must end with <CR><LF>"}, "smuggling",
         fatal_name(f));
  reset_transaction();
  quit_ = true;
  end_reason_ = "bare_newline";
}

awaitable<void> Session::cmd_data(const std::string& arg) {
  if (!arg.empty()) co_return reply(501, "5.5.4", "Syntax: DATA");
  if (!txn_.active) co_return reply(503, "5.5.1", "Need MAIL command");
  if (txn_.chunks) co_return reply(503, "5.5.1", "DATA cannot follow BDAT");
  if (txn_.rcpts.empty()) co_return reply(554, "5.5.1", "No valid recipients");
  if (!conn_->in.empty()) {
    // RFC 2920 3.1: DATA ends a pipelined group; a client that sends the
    // message before our 354 is not speaking SMTP (spam software).
    refuse({554, "5.5.0", "Improper pipelining: message sent before the 354 reply"}, "pipelining");
    quit_ = true;
    end_reason_ = "pipelining";
    co_return;
  }
  if (milters_.active()) {
    MilterOutcome o = co_await milters_.data();
    if (!milter_allows(o, "data")) co_return;
  }
  reply(354, "", "End data with <CR><LF>.<CR><LF>");
  if (!co_await flush()) {
    quit_ = true;
    co_return;
  }
  BodyDecoder body(BodyDecoder::Mode::data, s_.max_size);
  for (;;) {
    size_t used = body.feed(conn_->in);
    conn_->in.erase(0, used);
    if (body.done() || body.fatal() != BodyDecoder::Fatal::none) break;
    if (!co_await conn_->read_more()) {
      quit_ = true;
      end_reason_ = conn_->timed_out() ? "timeout" : "eof_in_data";
      co_return;
    }
  }
  if (body.fatal() != BodyDecoder::Fatal::none) co_return refuse_fatal(body.fatal());
  co_await finish_message(body);
}

// Reads the N octets of a BDAT chunk into BODY (null: discards them).
awaitable<bool> Session::read_chunk(long long n, BodyDecoder* body) {
  while (n > 0) {
    if (conn_->in.empty()) {
      bool got = co_await conn_->read_more();
      if (!got) co_return false;
    }
    size_t take = static_cast<size_t>(std::min<long long>(n, static_cast<long long>(conn_->in.size())));
    if (body && body->fatal() == BodyDecoder::Fatal::none) body->feed(std::string_view(conn_->in).substr(0, take));
    conn_->in.erase(0, take);
    n -= static_cast<long long>(take);
  }
  co_return true;
}

awaitable<void> Session::cmd_bdat(const std::string& arg) {
  long long n;
  bool last;
  if (!parse_bdat(arg, n, last)) {
    // Without the size we cannot find the next command: end the session.
    reply(501, "5.5.4", "Syntax: BDAT size [LAST]");
    quit_ = true;
    end_reason_ = "bdat_syntax";
    co_return;
  }
  bool ok = txn_.active && !txn_.rcpts.empty();
  if (ok && !txn_.chunks) txn_.chunks = std::make_unique<BodyDecoder>(BodyDecoder::Mode::chunks, s_.max_size);
  BodyDecoder* into = ok ? txn_.chunks.get() : nullptr;
  bool read = co_await read_chunk(n, into);
  if (!read) {
    quit_ = true;
    end_reason_ = conn_->timed_out() ? "timeout" : "eof_in_data";
    co_return;
  }
  // RFC 3030 4.2: a chunk sent in error is read and discarded, then refused.
  if (!txn_.active) co_return reply(503, "5.5.1", "Need MAIL command");
  if (!ok) co_return reply(554, "5.5.1", "No valid recipients");
  BodyDecoder& body = *txn_.chunks;
  if (last) body.finish();
  if (body.fatal() != BodyDecoder::Fatal::none) co_return refuse_fatal(body.fatal());
  if (!last) co_return reply(250, "2.0.0", std::to_string(n) + " octets received");
  co_await finish_message(body);
}

// The envelope edits of the milters: recipients removed and added, a new
// sender. An address that does not parse refuses the message for now (a
// milter that says nonsense must not decide where mail goes).
bool Session::apply_milter_edits(const MilterMessage& mm) {
  for (const auto& d : mm.del_rcpts)
    std::erase_if(txn_.rcpts, [&](const queue::Rcpt& r) { return addr::lower_ascii(r.address) == addr::lower_ascii(d); });
  for (const auto& a : mm.add_rcpts) {
    auto parsed = addr::parse_mailbox(a, true);
    if (!parsed) {
      refuse({451, "4.7.1", "Service unavailable - try again later"}, "milter", "bad recipient from a milter: " + a);
      return false;
    }
    txn_.rcpts.push_back(queue::Rcpt{parsed->str(), "", ""});
  }
  if (mm.new_sender) {
    auto parsed = addr::parse_mailbox(*mm.new_sender, true);
    if (!parsed && !mm.new_sender->empty()) {
      refuse({451, "4.7.1", "Service unavailable - try again later"}, "milter",
             "bad sender from a milter: " + *mm.new_sender);
      return false;
    }
    txn_.mail.sender = parsed ? *parsed : addr::Address{};
  }
  if (!mm.quarantine.empty()) {
    // Queued into hold/ (queue/store/commit.cpp): `sluice queue release` lets it go.
    txn_.quarantine = mm.quarantine;
    log::info({{"event", "milter_quarantine"}, {"client", conn_->peer_ip}, {"reason", mm.quarantine}});
  }
  if (txn_.rcpts.empty()) {
    // Every recipient removed: nothing to deliver, as with a discard.
    txn_.discard = true;
  }
  return true;
}

std::string Session::envelope_bytes() const {
  queue::Envelope env;
  const MailArgs& m = txn_.mail;
  env.sender = m.sender.str();
  if (!m.ret.empty()) env.params.emplace_back("ret", m.ret);
  if (!m.envid.empty()) env.params.emplace_back("envid", m.envid);
  if (m.smtputf8) env.params.emplace_back("smtputf8", "1");
  if (!auth_user_.empty()) env.params.emplace_back("auth", auth_user_);
  env.params.emplace_back("client", conn_->peer_ip);
  env.params.emplace_back("helo", helo_);
  if (!txn_.quarantine.empty()) env.params.emplace_back("quarantine", txn_.quarantine);
  env.rcpts = txn_.rcpts;
  return queue::encode_envelope(env);
}

awaitable<void> Session::finish_message(BodyDecoder& body) {
  Reply r;
  const char* gate = nullptr;
  if (body.too_big()) {
    r = s_.gates.replies.at("size");
    gate = "size";
  } else if (body.nul()) {
    r = {554, "5.6.0", "NUL characters are not allowed in messages"};
    gate = "nul";
  } else if (body.long_line()) {
    r = {554, "5.6.0", "Message line longer than 998 characters"};
    gate = "line_length";
  }
  if (gate) {
    refuse(r, gate, std::to_string(body.size()));
    reset_transaction();
    co_return;
  }
  if (long long hops = received_count(body.message()); s_.gates.hops > 0 && hops > s_.gates.hops) {
    refuse_gate("hops", std::to_string(hops));
    reset_transaction();
    co_return;
  }
  ReceivedInfo ri;
  ri.helo = helo_;
  ri.client_ip = conn_->peer_ip;
  ri.hostname = s_.hostname;
  ri.esmtp = esmtp_;
  ri.tls = conn_->tls();
  ri.tls_version = conn_->tls_version;
  ri.tls_cipher = conn_->tls_cipher;
  ri.auth = !auth_user_.empty();
  ri.utf8 = txn_.mail.smtputf8;
  if (txn_.rcpts.size() == 1) ri.rcpt = txn_.rcpts[0].address;
  ri.time = static_cast<long long>(::time(nullptr));
  if (s_.received_auth) ri.auth_user = auth_user_;
  std::string message = received_header(ri);
  if (port_ != Port::smtp || !auth_user_.empty()) {
    // Submission completes the header a mail client left out (RFC 6409 8).
    char unique[32];
    snprintf(unique, sizeof unique, "%08x%08x", arc4random(), arc4random());
    message += missing_headers(body.message(), s_.hostname, ri.time, unique);
  }
  message += body.message();
  // Before the wait for the disk: the pipelined replies still owed.
  co_await flush();
  if (milters_.active()) {
    if (txn_.chunks) {
      // BDAT has no DATA command: the milters hear it here.
      MilterOutcome o = co_await milters_.data();
      if (!milter_allows(o, "data")) {
        reset_transaction();
        co_return;
      }
    }
    MilterMessage mm = co_await milters_.message(message);
    txn_.milter_done = true;
    if (!milter_allows(mm.outcome, "message")) {
      reset_transaction();
      co_return;
    }
    if (mm.edits > 0 && !apply_milter_edits(mm)) {
      reset_transaction();
      co_return;
    }
    message = std::move(mm.message);
  }
  if (txn_.discard) {
    // Accepted for the client, dropped here, as the milter asked.
    log::info({{"event", "discarded"}, {"client", conn_->peer_ip}, {"from", txn_.mail.sender.str()},
               {"size", std::to_string(message.size())}, {"by", "milter"}});
    reply(250, "2.0.0", "Ok");
    reset_transaction();
    co_return;
  }
  InjectResult ir;
  if (s_.filters.empty()) {
    ir = co_await inject(s_.inject_socket, envelope_bytes(), message);
  } else {
    ir = co_await run_chain(chain_argv(s_.filters, s_.exe_dir), std::chrono::seconds(s_.filter_timeout_s),
                            envelope_bytes(), message);
  }
  r = injection_reply(ir.code, ir.text);
  if (ir.code == 0) {
    messages_++;
    rcpts_ += static_cast<int>(txn_.rcpts.size());
    std::string rcpts;
    for (const auto& rc : txn_.rcpts) rcpts += (rcpts.empty() ? "" : ",") + rc.address;
    log::info({{"event", "accepted"}, {"qid", ir.text}, {"size", std::to_string(message.size())},
               {"from", txn_.mail.sender.str()}, {"nrcpt", std::to_string(txn_.rcpts.size())}, {"rcpts", rcpts},
               {"client", conn_->peer_ip}, {"port", port_name(port_)},
               {"tls", conn_->tls() ? conn_->tls_version + "/" + conn_->tls_cipher : "no"}, {"auth", auth_user_}});
    reply(r);
  } else {
    refuse(r, "queue", ir.text);
  }
  reset_transaction();
}

}  // namespace sluice::smtpd
