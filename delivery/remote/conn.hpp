// One TCP connection to a peer MTA, plain or TLS (OpenSSL), with a deadline
// on every read and write (RFC 5321 4.5.3.2), and the SMTP reply reader.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "common/status.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace sluice::remote {

struct Reply {
  int code = 0;        // 0: no reply (time-out, lost connection): see text
  std::string text;    // the reply whole, lines joined by a space: "550 5.1.1 <x@y>: user unknown"
  std::string lines;   // the lines after the code, "\n"-separated (EHLO keywords)
  char digit() const { return code ? static_cast<char>('0' + code / 100) : '4'; }
  // The enhanced code of the reply (RFC 3463), or one derived from the code.
  std::string enhanced() const;
};

class Conn {
 public:
  // Connects to ADDR (numeric, v4 or v6) PORT within TIMEOUT seconds.
  static Result<std::unique_ptr<Conn>> open(const std::string& addr, int port, long long timeout_s);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Writes all of DATA; false (with error()) on time-out or error.
  bool write(std::string_view data, long long timeout_s);
  Reply read_reply(long long timeout_s);
  // TLS client handshake. SNI and, when VERIFY, the certificate's name are
  // checked against HOST.
  Status start_tls(SSL_CTX* ctx, const std::string& host, bool verify, long long timeout_s);

  bool tls() const { return ssl_ != nullptr; }
  const std::string& tls_version() const { return tls_version_; }
  const std::string& tls_cipher() const { return tls_cipher_; }
  const std::string& error() const { return error_; }
  const std::string& peer() const { return peer_; }  // "[addr]:port"

 private:
  explicit Conn(int fd) : fd_(fd) {}
  long io(bool writing, char* buf, size_t n, long long deadline_ms);
  int fd_;
  SSL* ssl_ = nullptr;
  std::string inbuf_, error_, peer_, tls_version_, tls_cipher_;
};

// A process-wide client context: system CAs or CA_FILE. Null on error.
SSL_CTX* make_client_ctx(const std::string& ca_file, std::string& error);

}  // namespace sluice::remote
