#include "listen/smtpd/conn.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <memory>
#include <vector>

#include "listen/smtpd/policy.hpp"
#include "queue/store/submit.hpp"

namespace sluice::smtpd {

using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;

Conn::Conn(asio::ip::tcp::socket s, std::chrono::seconds timeout)
    : sock_(std::move(s)), timer_(sock_.get_executor()), timeout_(timeout) {
  std::error_code ec;
  // read_more reads synchronously once the socket is readable: never block.
  sock_.non_blocking(true, ec);
  auto ep = sock_.remote_endpoint(ec);
  if (!ec) {
    peer_ip = unmap_ipv4(ep.address().to_string());
    peer_port = ep.port();
  }
  touch();
}

Conn::~Conn() { close(); }

void Conn::start_watchdog(const std::shared_ptr<Conn>& self) {
  asio::co_spawn(self->sock_.get_executor(), watchdog(self), asio::detached);
}

awaitable<void> Conn::watchdog(std::shared_ptr<Conn> self) {
  while (!self->closed_) {
    if (self->deadline_ <= std::chrono::steady_clock::now()) {
      self->timed_out_ = true;
      self->close();
      co_return;
    }
    self->timer_.expires_at(self->deadline_);
    std::error_code ec;
    co_await self->timer_.async_wait(redirect_error(use_awaitable, ec));
  }
}

void Conn::close() {
  if (closed_) return;
  closed_ = true;
  std::error_code ec;
  sock_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  sock_.close(ec);
  timer_.cancel();
}

awaitable<bool> Conn::read_more() {
  if (closed_) co_return false;
  touch();
  std::error_code ec;
  size_t n = 0;
  if (ssl_) {
    size_t old = in.size();
    in.resize(old + 4096);
    n = co_await ssl_->async_read_some(asio::buffer(in.data() + old, 4096), redirect_error(use_awaitable, ec));
    in.resize(old + n);
    co_return !ec && n > 0;
  }
  // Plain TCP: wait until there is something to read, holding no buffer,
  // then read it into the worker's one buffer and keep only what came. A
  // session waiting for its next command then costs no read buffer (10,000
  // idle sessions held 40 MB in them), and a command costs one recv instead
  // of a recv that finds nothing before the wait and another after it.
  if (in.empty() && in.capacity() > 1024) std::string().swap(in);
  static thread_local std::array<char, 65536> chunk;
  for (;;) {
    co_await sock_.async_wait(asio::socket_base::wait_read, redirect_error(use_awaitable, ec));
    if (ec) co_return false;
    n = sock_.read_some(asio::buffer(chunk), ec);
    if (ec != asio::error::would_block && ec != asio::error::try_again) break;
  }
  if (ec || n == 0) co_return false;
  in.append(chunk.data(), n);
  co_return true;
}

awaitable<bool> Conn::write(std::string_view data) {
  if (closed_) co_return false;
  touch();
  std::error_code ec;
  if (ssl_)
    co_await asio::async_write(*ssl_, asio::buffer(data), redirect_error(use_awaitable, ec));
  else
    co_await asio::async_write(sock_, asio::buffer(data), redirect_error(use_awaitable, ec));
  co_return !ec;
}

awaitable<bool> Conn::start_tls(asio::ssl::context& ctx) {
  if (closed_ || ssl_) co_return false;
  touch();
  ssl_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(sock_, ctx);
  std::error_code ec;
  co_await ssl_->async_handshake(asio::ssl::stream_base::server, redirect_error(use_awaitable, ec));
  if (ec) co_return false;
  SSL* h = ssl_->native_handle();
  tls_version = SSL_get_version(h);
  tls_cipher = SSL_get_cipher_name(h);
  co_return true;
}

awaitable<void> Conn::shutdown() {
  if (ssl_ && !closed_) {
    timeout_ = std::chrono::seconds(5);
    touch();
    std::error_code ec;
    co_await ssl_->async_shutdown(redirect_error(use_awaitable, ec));
  }
  close();
}

size_t Conn::pending_in_kernel() {
  std::error_code ec;
  size_t n = sock_.available(ec);
  return ec ? 0 : n;
}

namespace {

// Closes the socket when the deadline passes, so a hung peer cannot hold
// the session for ever.
template <class Socket>
std::shared_ptr<asio::steady_timer> guard(Socket& s, std::chrono::seconds t) {
  auto timer = std::make_shared<asio::steady_timer>(s->get_executor(), t);
  timer->async_wait([s](std::error_code ec) {
    std::error_code ignored;
    if (!ec) s->close(ignored);
  });
  return timer;
}

using UnixSocket = asio::local::stream_protocol::socket;

awaitable<std::shared_ptr<UnixSocket>> connect(const std::string& path) {
  auto ex = co_await asio::this_coro::executor;
  auto s = std::make_shared<UnixSocket>(ex);
  std::error_code ec;
  co_await s->async_connect(asio::local::stream_protocol::endpoint(path), redirect_error(use_awaitable, ec));
  if (ec) s.reset();
  co_return s;
}

// Connections to sluice-auth and sluice-injectd kept open between
// questions. A session asks sluice-auth at every MAIL and RCPT and
// sluice-injectd for every message, and a new connection each time
// (connect, accept, a thread in the daemon) cost more than the question.
// The worker's event loop is single-threaded, so a plain list is enough.
// A kept one may have been closed by the daemon meanwhile (sluice-auth
// after 30 s idle, sluice-injectd after 300 s or a refusal, either one
// restarted): then the question is asked once more on a fresh connection.
// It had not been answered, so at worst a message is queued twice.
//
// How many: at 100 concurrent clients, keeping 8 per worker (auth) and 4
// (inject) cost a fifth of the throughput in new connections, and 16 and 8
// still about 5% against 64 and 32 (measured A/B). Each kept one holds a
// thread of the daemon (256 at most), so all workers together keep at most
// 192 to each.
struct Kept {
  std::vector<std::shared_ptr<UnixSocket>> idle;
  size_t most;
};
Kept g_auth{{}, 64}, g_inject{{}, 32};

void keep(Kept& k, std::shared_ptr<UnixSocket> s) {
  if (k.idle.size() < k.most) k.idle.push_back(std::move(s));
}

// Sends BUFS on S and reads the one reply line (LF included) into LINE.
// False when no whole line came back, or more than one.
template <class Buffers>
awaitable<bool> exchange(std::shared_ptr<UnixSocket> s, const Buffers& bufs, std::chrono::seconds t,
                         std::string& line) {
  auto timer = guard(s, t);
  std::error_code ec;
  co_await asio::async_write(*s, bufs, redirect_error(use_awaitable, ec));
  // A daemon that refused early closed while we wrote; its answer is still
  // there to read.
  line.clear();
  co_await asio::async_read_until(*s, asio::dynamic_buffer(line, 4096), '\n', redirect_error(use_awaitable, ec));
  timer->cancel();
  size_t nl = line.find('\n');
  co_return nl != std::string::npos && nl + 1 == line.size();
}

// Asks on a kept connection of K, else on a fresh one to PATH. Returns the
// connection that answered (LINE holds the answer), or null; REACHED is
// false when not even a fresh connection could be made.
template <class Buffers>
awaitable<std::shared_ptr<UnixSocket>> ask(Kept& k, const std::string& path, const Buffers& bufs,
                                           std::chrono::seconds t, std::string& line, bool& reached) {
  reached = true;
  while (!k.idle.empty()) {
    auto s = std::move(k.idle.back());
    k.idle.pop_back();
    if (!s->is_open()) continue;
    bool ok = co_await exchange(s, bufs, t, line);
    if (ok) co_return s;
  }
  auto s = co_await connect(path);
  if (!s) {
    reached = false;
    co_return nullptr;
  }
  bool ok = co_await exchange(s, bufs, t, line);
  if (!ok) co_return nullptr;
  co_return s;
}

}  // namespace

awaitable<std::string> auth_query(const std::string& socket_path, std::string request) {
  request += '\n';
  std::string line;
  bool reached;
  auto buf = asio::buffer(request);
  // Password hashing is slow on purpose; 30 s is far beyond it.
  auto s = co_await ask(g_auth, socket_path, buf, std::chrono::seconds(30), line, reached);
  if (!s) co_return "";
  keep(g_auth, std::move(s));
  line.pop_back();
  co_return line;
}

void set_kept_connections(long long workers) {
  long long share = 192 / std::max<long long>(1, workers);
  g_auth.most = static_cast<size_t>(std::clamp<long long>(share, 1, 64));
  g_inject.most = static_cast<size_t>(std::clamp<long long>(share, 1, 32));
}

void close_kept_connections() {
  g_auth.idle.clear();
  g_inject.idle.clear();
}

awaitable<InjectResult> inject(const std::string& socket_path, const std::string& envelope,
                               const std::string& message) {
  InjectResult r;
  // The framed request (queue/store/submit.hpp), so the connection can be kept.
  std::string head = std::to_string(envelope.size()) + " " + std::to_string(message.size()) + "\n";
  std::array<asio::const_buffer, 3> bufs{asio::buffer(head), asio::buffer(envelope), asio::buffer(message)};
  std::string reply;
  bool reached;
  // sluice-injectd drops a stalled client after 300 s; wait a bit longer.
  auto s = co_await ask(g_inject, socket_path, bufs, std::chrono::seconds(330), reply, reached);
  if (!reached) {
    r.text = "4.3.0 the queue is not reachable (sluice-injectd)";
    co_return r;
  }
  if (!s || !queue::parse_reply(reply, r.code, r.text)) {
    // Whether it was committed is unknown: "try again" (at worst a duplicate).
    r.code = 75;
    r.text = "4.3.0 sluice-injectd closed the connection without an answer";
    co_return r;
  }
  // Only a committed request leaves the connection open for the next one.
  if (r.code == 0) keep(g_inject, std::move(s));
  co_return r;
}

}  // namespace sluice::smtpd
