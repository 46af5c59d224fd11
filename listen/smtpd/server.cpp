#include "listen/smtpd/server.hpp"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <asio.hpp>
#include <csignal>
#include <ctime>
#include <utility>

#include "common/daemon.hpp"
#include "common/log.hpp"
#include "common/shared_regions.hpp"
#include "listen/smtpd/admission.hpp"
#include "listen/smtpd/session.hpp"

namespace sluice::smtpd {

using asio::awaitable;
using asio::ip::tcp;

std::unique_ptr<asio::ssl::context> make_tls_context(const std::string& cert, const std::string& key) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* h = ctx->native_handle();
  SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION);
  SSL_CTX_set_options(h, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_cipher_list(h, "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20");
  std::error_code ec;
  ctx->use_certificate_chain_file(cert, ec);
  if (!ec) ctx->use_private_key_file(key, asio::ssl::context::pem, ec);
  if (ec) {
    log::warn({{"event", "tls_unavailable"}, {"cert", cert}, {"key", key}, {"error", ec.message()},
               {"action", "no STARTTLS, submissions refused"}});
    return nullptr;
  }
  return ctx;
}

namespace {

// ClientHello callback: switch the connection to the context of the domain
// the client asked for; no name, or one we have no certificate for, keeps
// the default.
int choose_certificate(SSL* ssl, int*, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_OK;
  std::string host = name;
  for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [domain, ctx] : static_cast<TlsContexts*>(arg)->sni) {
    if (host == domain || (host.size() > domain.size() && host.ends_with("." + domain))) {
      SSL_set_SSL_CTX(ssl, ctx->native_handle());
      break;
    }
  }
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

std::unique_ptr<TlsContexts> make_tls_contexts(const std::string& cert, const std::string& key,
                                               const std::map<std::string, std::string>& sni,
                                               const std::string& root) {
  auto out = std::make_unique<TlsContexts>();
  out->main = make_tls_context(cert, key);
  if (!out->main) return out;
  auto resolve = [&root](std::string p) {
    while (!p.empty() && p.front() == ' ') p.erase(0, 1);
    return p.empty() || p[0] == '/' ? p : root + "/" + p;
  };
  for (const auto& [domain, files] : sni) {
    auto comma = files.find(',');
    if (comma == std::string::npos) {
      log::warn({{"event", "sni_ignored"}, {"domain", domain}, {"error", "value must be \"cert.pem,key.pem\""}});
      continue;
    }
    auto ctx = make_tls_context(resolve(files.substr(0, comma)), resolve(files.substr(comma + 1)));
    if (!ctx) continue;  // make_tls_context logged why
    std::string d = domain;
    for (auto& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out->sni.emplace_back(d, std::move(ctx));
  }
  if (!out->sni.empty()) {
    SSL_CTX_set_tlsext_servername_callback(out->main->native_handle(), choose_certificate);
    SSL_CTX_set_tlsext_servername_arg(out->main->native_handle(), out.get());
  }
  return out;
}

namespace {

struct Worker {
  asio::io_context io{1};
  const Settings& s;
  asio::ssl::context* tls;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  long sessions = 0;
  bool draining = false;
  Admission admission;

  Worker(const Settings& settings, asio::ssl::context* t, Admission a)
      : s(settings), tls(t), admission(std::move(a)) {}

  void maybe_exit() {
    if (draining && sessions == 0) io.stop();
  }

  awaitable<void> session(tcp::socket sock, Port port) {
    sessions++;
    auto conn = std::make_shared<Conn>(std::move(sock), std::chrono::seconds(s.timeout_s));
    Conn::start_watchdog(conn);
    std::string ip = conn->peer_ip;
    if (const char* gate = admission.admit(ip, static_cast<long long>(::time(nullptr)), s.gates)) {
      co_await shed(*conn, port, gate);
    } else {
      Session sess(conn, port, s, tls);
      co_await sess.run();
      admission.release(ip);
    }
    sessions--;
    maybe_exit();
  }

  // Load shedding: 421 and close, before any greeting pause or TLS (on
  // the submissions port the connection is only closed).
  awaitable<void> shed(Conn& conn, Port port, const char* gate) {
    Reply r = s.gates.replies.at(gate);
    if (r.code == 421) r.text = s.hostname + " " + r.text;
    log::info({{"event", "refused"}, {"gate", gate}, {"client", conn.peer_ip}, {"port", port_name(port)},
               {"reply", r.line()}, {"detail", "connection"}});
    if (port != Port::submissions) co_await conn.write(r.line() + "\r\n");
    conn.close();
  }

  awaitable<void> accept_loop(tcp::acceptor& acc, Port port) {
    for (;;) {
      std::error_code ec;
      tcp::socket sock = co_await acc.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acc.is_open()) co_return;
      if (ec) {
        // EMFILE and friends: wait a little instead of spinning.
        log::warn({{"event", "accept_failed"}, {"error", ec.message()}});
        asio::steady_timer t(io, std::chrono::milliseconds(100));
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      asio::co_spawn(io, session(std::move(sock), port), asio::detached);
    }
  }

  std::error_code add(int fd, Port port) {
    struct sockaddr_storage ss {};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &len) != 0)
      return std::error_code(errno, std::system_category());
    auto acc = std::make_unique<tcp::acceptor>(io);
    std::error_code ec;
    acc->assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
    if (ec) return ec;
    acc->non_blocking(true, ec);
    asio::co_spawn(io, accept_loop(*acc, port), asio::detached);
    acceptors.push_back(std::move(acc));
    return {};
  }
};

// The pool's shared counters when sluice-start passed them; alone
// otherwise (a worker run by hand counts only its own sessions).
Admission admission_for_worker() {
  auto a = shared::attach_from_env();
  if (!a) {
    log::error({{"event", "shared_file_failed"}, {"error", a.error().text}, {"action", "counting alone"}});
    return Admission::alone();
  }
  if (!*a) return Admission::alone();
  return Admission(std::move((*a)->map), (*a)->mine);
}

}  // namespace

int serve(const std::map<std::string, std::vector<int>>& listeners, const Settings& s, asio::ssl::context* tls) {
  set_kept_connections(s.workers);
  Worker w(s, tls, admission_for_worker());
  const std::pair<const char*, Port> names[] = {
      {"smtp", Port::smtp}, {"submission", Port::submission}, {"submissions", Port::submissions}};
  int count = 0;
  for (auto [name, port] : names) {
    auto it = listeners.find(name);
    if (it == listeners.end()) continue;
    for (int fd : it->second) {
      if (auto ec = w.add(fd, port)) {
        log::error({{"event", "listener_failed"}, {"name", name}, {"fd", std::to_string(fd)}, {"error", ec.message()}});
        return 71;
      }
      count++;
    }
  }
  if (count == 0) {
    log::error({{"event", "no_listener"}, {"error", "no smtp, submission or submissions socket: run by sluice-start"}});
    return 78;
  }
  asio::signal_set stop(w.io, SIGTERM, SIGINT);
  stop.async_wait([&](std::error_code ec, int) {
    if (!ec) w.io.stop();
  });
  asio::signal_set hup(w.io, SIGHUP);
  hup.async_wait([&](std::error_code ec, int) {
    if (ec) return;
    log::info({{"event", "reload"}, {"sessions", std::to_string(w.sessions)}, {"action", "drain and exit"}});
    w.draining = true;
    for (auto& a : w.acceptors) {
      std::error_code ignored;
      a->close(ignored);
    }
    w.maybe_exit();
  });
  daemon::signal_ready();
  w.io.run();
  close_kept_connections();
  return 0;
}

}  // namespace sluice::smtpd
