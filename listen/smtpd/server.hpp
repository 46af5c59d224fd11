// A worker of sluice-smtpd: one event loop (asio io_context, one thread)
// accepting on every inherited listener and running each session as a
// coroutine. sluice-start runs smtpd.workers of these on the same sockets.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <asio/ssl.hpp>

#include "common/config.hpp"
#include "listen/smtpd/policy.hpp"

namespace sluice::smtpd {

// The TLS server context of tls.cert/tls.key: TLS 1.2 and 1.3 only,
// forward-secret AEAD ciphers, no compression or renegotiation. Null
// (logged) when the files cannot be loaded: the listener then runs
// without STARTTLS and refuses the submissions port.
std::unique_ptr<asio::ssl::context> make_tls_context(const std::string& cert, const std::string& key);

// The default context plus one per tls.sni entry ("domain" = "cert,key"):
// a client that names DOMAIN or a name under it in its ClientHello (SNI)
// gets that certificate. An entry that cannot be loaded is logged and left
// out. Certificates are read at start: SIGHUP restarts the worker, which
// reads them again.
struct TlsContexts {
  std::unique_ptr<asio::ssl::context> main;
  std::vector<std::pair<std::string, std::unique_ptr<asio::ssl::context>>> sni;
};
std::unique_ptr<TlsContexts> make_tls_contexts(const std::string& cert, const std::string& key,
                                               const std::map<std::string, std::string>& sni,
                                               const std::string& root);

// Runs until SIGTERM (exit at once) or SIGHUP (stop accepting, let the
// sessions finish, then exit so sluice-start starts a fresh worker with
// the new configuration). LISTENERS: fds by name (smtp, submission,
// submissions). Returns the exit status.
int serve(const std::map<std::string, std::vector<int>>& listeners, const Settings& s, asio::ssl::context* tls);

}  // namespace sluice::smtpd
