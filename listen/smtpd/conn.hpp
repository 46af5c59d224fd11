// One client connection: a TCP socket, TLS on it once STARTTLS (or the
// submissions port) starts it, a read buffer, and an inactivity deadline
// (RFC 5321 4.5.3.2) enforced by a watchdog coroutine that closes the
// socket, which ends whatever read or write is pending.
#pragma once
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace sluice::smtpd {

class Conn {
 public:
  Conn(asio::ip::tcp::socket s, std::chrono::seconds timeout);
  ~Conn();

  // Starts the watchdog; call once, right after construction.
  static void start_watchdog(const std::shared_ptr<Conn>& self);

  // Reads what is there (at least one byte) and appends it to `in`.
  // False on EOF, error or timeout.
  asio::awaitable<bool> read_more();
  asio::awaitable<bool> write(std::string_view data);
  // TLS server handshake. False when it fails (the caller ends the session).
  asio::awaitable<bool> start_tls(asio::ssl::context& ctx);
  // Bytes the kernel holds for us that we have not read (plain TCP only).
  size_t pending_in_kernel();
  void close();
  // TLS: sends close_notify first (waiting at most a few seconds for the
  // peer's), so a client can tell our end of the session from a truncation.
  asio::awaitable<void> shutdown();
  void set_timeout(std::chrono::seconds t) { timeout_ = t; }

  std::string in;  // received, not yet consumed
  bool tls() const { return ssl_ != nullptr; }
  bool timed_out() const { return timed_out_; }
  std::string tls_version, tls_cipher;
  std::string peer_ip;
  unsigned short peer_port = 0;

 private:
  static asio::awaitable<void> watchdog(std::shared_ptr<Conn> self);
  void touch() { deadline_ = std::chrono::steady_clock::now() + timeout_; }

  asio::ip::tcp::socket sock_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> ssl_;
  asio::steady_timer timer_;
  std::chrono::seconds timeout_;
  std::chrono::steady_clock::time_point deadline_;
  bool closed_ = false, timed_out_ = false;
};

// The two services behind the listener, reached over UNIX sockets with a
// deadline each; never blocking the event loop.
//
// sluice-auth: one request line, one answer line ("" when unreachable).
asio::awaitable<std::string> auth_query(const std::string& socket_path, std::string request);
// Closes the connections auth_query and inject keep open; call before the event
// loop they belong to is destroyed.
void close_kept_connections();
// Sizes the kept connections for WORKERS event loops sharing the daemons.
void set_kept_connections(long long workers);

struct InjectResult {
  int code = 75;     // sluice-inject's exit status
  std::string text;  // qid, or the reply line
};
// sluice-injectd, protocol of queue/store/submit.hpp.
asio::awaitable<InjectResult> inject(const std::string& socket_path, const std::string& envelope,
                                     const std::string& message);

}  // namespace sluice::smtpd
