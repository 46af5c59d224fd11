#include "delivery/remote/conn.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/date.hpp"

namespace sluice::remote {
namespace {

bool wait_fd(int fd, short ev, long long deadline_ms) {
  for (;;) {
    long long left = deadline_ms - monotonic_ms();
    if (left <= 0) return false;
    struct pollfd p {fd, ev, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min(left, 60000LL)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

std::string ssl_error() {
  unsigned long e = ERR_get_error();
  if (!e) return "TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

bool is_code_part(std::string_view s) {
  // "5.1.1": class 2/4/5, then 1-3 digits, then 1-3 digits.
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
  size_t dot = s.find('.', 2);
  if (dot == std::string_view::npos || dot == 2 || dot > 5 || dot + 1 >= s.size()) return false;
  for (size_t i = 2; i < s.size(); i++)
    if (i != dot && (s[i] < '0' || s[i] > '9')) return false;
  return s.size() - dot - 1 <= 3;
}

}  // namespace

std::string Reply::enhanced() const {
  if (text.size() > 4) {
    std::string_view rest = std::string_view(text).substr(4);
    std::string_view word = rest.substr(0, rest.find(' '));
    if (is_code_part(word) && word[0] == text[0]) return std::string(word);
  }
  char d = digit();
  return std::string(1, d == '3' ? '2' : d) + ".0.0";
}

Result<std::unique_ptr<Conn>> Conn::open(const std::string& addr, int port, long long timeout_s) {
  struct sockaddr_storage ss {};
  socklen_t len;
  bool v6 = addr.find(':') != std::string::npos;
  std::string peer = "[" + addr + "]:" + std::to_string(port);
  if (v6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, addr.c_str(), &s6->sin6_addr) != 1) return Status::temp("4.4.1", "bad address " + addr);
    len = sizeof *s6;
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, addr.c_str(), &s4->sin_addr) != 1) return Status::temp("4.4.1", "bad address " + addr);
    len = sizeof *s4;
  }
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::temp("4.4.1", std::string("socket: ") + strerror(errno));
  std::unique_ptr<Conn> c(new Conn(fd));
  c->peer_ = peer;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) return Status::temp("4.4.1", "connect to " + peer + ": " + strerror(errno));
    if (!wait_fd(fd, POLLOUT, monotonic_ms() + timeout_s * 1000))
      return Status::temp("4.4.1", "connect to " + peer + ": timed out after " + std::to_string(timeout_s) + "s");
    int err = 0;
    socklen_t el = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) return Status::temp("4.4.1", "connect to " + peer + ": " + strerror(err));
  }
  return c;
}

Conn::~Conn() {
  if (ssl_) SSL_free(ssl_);
  ::close(fd_);
}

// One read or write of at most N bytes, plain or TLS, waiting until
// DEADLINE_MS. Returns bytes moved, 0 on EOF, -1 on error or time-out.
long Conn::io(bool writing, char* buf, size_t n, long long deadline_ms) {
  for (;;) {
    short ev = writing ? POLLOUT : POLLIN;
    if (ssl_) {
      ERR_clear_error();
      int r = writing ? SSL_write(ssl_, buf, static_cast<int>(n)) : SSL_read(ssl_, buf, static_cast<int>(n));
      if (r > 0) return r;
      int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_ZERO_RETURN) return 0;
      if (e == SSL_ERROR_WANT_READ) ev = POLLIN;
      else if (e == SSL_ERROR_WANT_WRITE) ev = POLLOUT;
      else {
        error_ = e == SSL_ERROR_SYSCALL && errno ? strerror(errno) : ssl_error();
        if (e == SSL_ERROR_SYSCALL && !errno) return 0;
        return -1;
      }
    } else {
      ssize_t r = writing ? ::send(fd_, buf, n, MSG_NOSIGNAL) : ::recv(fd_, buf, n, 0);
      if (r >= 0) return r;
      if (errno != EAGAIN && errno != EINTR) {
        error_ = strerror(errno);
        return -1;
      }
    }
    if (!wait_fd(fd_, ev, deadline_ms)) {
      error_ = "timed out";
      return -1;
    }
  }
}

bool Conn::write(std::string_view data, long long timeout_s) {
  long long deadline = monotonic_ms() + timeout_s * 1000;
  size_t done = 0;
  while (done < data.size()) {
    size_t chunk = std::min<size_t>(data.size() - done, 1 << 16);
    long n = io(true, const_cast<char*>(data.data() + done), chunk, deadline);
    if (n <= 0) {
      if (n == 0) error_ = "lost connection";
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

Reply Conn::read_reply(long long timeout_s) {
  long long deadline = monotonic_ms() + timeout_s * 1000;
  Reply r;
  std::string all;
  for (int nlines = 0;; nlines++) {
    size_t eol;
    while ((eol = inbuf_.find('\n')) == std::string::npos) {
      if (inbuf_.size() > 4096) {
        r.text = "reply line too long";
        return r;
      }
      char buf[4096];
      long n = io(false, buf, sizeof buf, deadline);
      if (n <= 0) {
        r.code = 0;
        r.text = n == 0 ? "lost connection" : error_ == "timed out" ? "timed out waiting for a reply" : error_;
        return r;
      }
      inbuf_.append(buf, static_cast<size_t>(n));
    }
    std::string line = inbuf_.substr(0, eol);
    inbuf_.erase(0, eol + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() < 3 || line[0] < '2' || line[0] > '5' || !isdigit(line[1]) || !isdigit(line[2]) ||
        (line.size() > 3 && line[3] != ' ' && line[3] != '-') || nlines > 1000) {
      r.text = "malformed reply: " + line.substr(0, 200);
      return r;
    }
    int code = std::stoi(line.substr(0, 3));
    if (nlines == 0) r.code = code;
    std::string rest = line.size() > 4 ? line.substr(4) : "";
    r.lines += rest + "\n";
    if (nlines == 0) all = line.substr(0, 3) + (rest.empty() ? "" : " " + rest);
    else if (!rest.empty()) {
      // Later lines repeat the code and often the enhanced code: keep the text.
      std::string_view t = rest;
      auto sp = t.find(' ');
      if (sp != std::string_view::npos && is_code_part(t.substr(0, sp))) t.remove_prefix(sp + 1);
      all += " " + std::string(t);
    }
    if (line.size() == 3 || line[3] == ' ') break;
  }
  r.text = all;
  return r;
}

Status Conn::start_tls(SSL_CTX* ctx, const std::string& host, bool verify, long long timeout_s) {
  if (!inbuf_.empty()) return Status::temp("4.7.0", "peer sent data after its STARTTLS reply");  // injection (CVE-2011-0411)
  ssl_ = SSL_new(ctx);
  if (!ssl_) return Status::temp("4.7.0", ssl_error());
  SSL_set_fd(ssl_, fd_);
  if (!host.empty() && host.find(':') == std::string::npos && !isdigit(static_cast<unsigned char>(host.back())))
    SSL_set_tlsext_host_name(ssl_, host.c_str());
  if (verify) {
    SSL_set_verify(ssl_, SSL_VERIFY_PEER, nullptr);
    SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set1_host(ssl_, host.c_str());
  } else {
    SSL_set_verify(ssl_, SSL_VERIFY_NONE, nullptr);
  }
  long long deadline = monotonic_ms() + timeout_s * 1000;
  for (;;) {
    ERR_clear_error();
    int r = SSL_connect(ssl_);
    if (r == 1) break;
    int e = SSL_get_error(ssl_, r);
    short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    std::string why;
    if (!ev) {
      long vr = SSL_get_verify_result(ssl_);
      why = verify && vr != X509_V_OK ? std::string("certificate verification failed: ") + X509_verify_cert_error_string(vr)
                                       : ssl_error();
    } else if (!wait_fd(fd_, ev, deadline)) {
      why = "TLS handshake timed out";
    }
    if (!why.empty()) {
      SSL_free(ssl_);
      ssl_ = nullptr;
      return Status::temp(verify ? "4.7.5" : "4.7.0", "TLS with " + peer_ + " failed: " + why);
    }
  }
  tls_version_ = SSL_get_version(ssl_);
  tls_cipher_ = SSL_get_cipher_name(ssl_);
  return Status::ok();
}

SSL_CTX* make_client_ctx(const std::string& ca_file, std::string& error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    error = ssl_error();
    return nullptr;
  }
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  int ok = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                           : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
  if (!ok) {
    error = "CA file " + ca_file + ": " + ssl_error();
    SSL_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

}  // namespace sluice::remote
