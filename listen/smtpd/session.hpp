// One SMTP session as a coroutine that reads top to bottom: greeting,
// then read a command line, dispatch it through the command table, until
// QUIT, EOF, a timeout or too many errors. Replies are queued and flushed
// only when the session is about to wait for the client, which is what
// RFC 2920 (PIPELINING) asks of a server.
#pragma once
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "listen/smtpd/body.hpp"
#include "listen/smtpd/command.hpp"
#include "listen/smtpd/conn.hpp"
#include "listen/smtpd/milter.hpp"
#include "listen/smtpd/policy.hpp"
#include "queue/store/queue.hpp"

namespace sluice::smtpd {

class Session {
 public:
  Session(std::shared_ptr<Conn> conn, Port port, const Settings& s, asio::ssl::context* tls);
  asio::awaitable<void> run();

 private:
  using Handler = asio::awaitable<void> (Session::*)(const std::string& arg);
  struct Entry {
    const char* verb;
    Handler handler;
  };
  static const Entry kCommands[];

  enum class Read { line, bad, eof };
  asio::awaitable<Read> read_line(std::string& line);
  void reply(int code, std::string enhanced, std::string text);
  void reply(const Reply& r) { reply(r.code, r.enhanced, r.text); }
  void refuse(const Reply& r, const char* gate, std::string_view detail = "");
  // The admin's reply for GATE (smtpd.replies), refused and logged.
  void refuse_gate(const char* gate, std::string_view detail, std::string_view text_prefix = "");
  asio::awaitable<bool> flush();
  void reset_transaction();
  bool may_relay() const;

  asio::awaitable<void> cmd_ehlo(const std::string& arg);
  asio::awaitable<void> cmd_helo(const std::string& arg);
  asio::awaitable<void> cmd_mail(const std::string& arg);
  asio::awaitable<void> cmd_rcpt(const std::string& arg);
  asio::awaitable<void> cmd_data(const std::string& arg);
  asio::awaitable<void> cmd_bdat(const std::string& arg);
  asio::awaitable<void> cmd_rset(const std::string& arg);
  asio::awaitable<void> cmd_noop(const std::string& arg);
  asio::awaitable<void> cmd_quit(const std::string& arg);
  asio::awaitable<void> cmd_vrfy(const std::string& arg);
  asio::awaitable<void> cmd_expn(const std::string& arg);
  asio::awaitable<void> cmd_help(const std::string& arg);
  asio::awaitable<void> cmd_starttls(const std::string& arg);
  asio::awaitable<void> cmd_auth(const std::string& arg);

  // session_data.cpp
  asio::awaitable<bool> read_chunk(long long n, BodyDecoder* body);
  asio::awaitable<void> finish_message(BodyDecoder& body);
  void refuse_fatal(BodyDecoder::Fatal f);
  std::string envelope_bytes() const;
  bool apply_milter_edits(const MilterMessage& mm);
  // session_auth.cpp
  asio::awaitable<bool> sasl_read(std::string& decoded);
  asio::awaitable<void> verify_login(const std::string& user, const std::string& password);
  asio::awaitable<bool> greet();

  std::shared_ptr<Conn> conn_;
  Port port_;
  const Settings& s_;
  asio::ssl::context* tls_ctx_;
  std::chrono::steady_clock::time_point started_;

  std::string out_;        // replies not yet sent
  std::string helo_, auth_user_;
  bool esmtp_ = false, quit_ = false;
  bool rejected_ = false;  // smtpd.reject_clients: 503 to all but QUIT (RFC 5321 3.1)
  std::string end_reason_ = "eof";

  // The milters' view of the session (milter.hpp), and a helper that turns
  // their verdict on a step into a reply; true when the step may go on.
  MilterContext mctx_;
  MilterSession milters_;
  bool milter_allows(const MilterOutcome& o, std::string_view detail);

  struct Transaction {
    bool active = false;
    bool discard = false;      // a milter said discard: accepted, then dropped
    bool milter_done = false;  // the milters saw the end of this message
    std::string quarantine;    // a milter's reason to hold the message
    MailArgs mail;
    std::vector<queue::Rcpt> rcpts;
    std::unique_ptr<BodyDecoder> chunks;  // BDAT in progress
  } txn_;

  int messages_ = 0, rcpts_ = 0, errors_ = 0, auth_failures_ = 0;
};

}  // namespace sluice::smtpd
