#include "delivery/sms/smpp_client.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/date.hpp"
#include "common/log.hpp"

namespace sluice::sms {

std::string hex32(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08X", v);
  return b;
}


uint32_t SmppTransport::next_seq() {
  seq_ = seq_ >= 0x7FFFFFFF ? 1 : seq_ + 1;
  return seq_;
}

bool SmppTransport::send_pdu(uint32_t id, uint32_t status, uint32_t seq, const std::string& body) {
  if (!fd_) return false;
  if (!write_all(fd_.get(), smpp::encode({id, status, seq, body}))) return false;
  last_io_ms_ = monotonic_ms();
  return true;
}

int SmppTransport::read_pdu(smpp::Pdu& p, int timeout_ms) {
  long long deadline = monotonic_ms() + std::max(timeout_ms, 0);
  for (;;) {
    long n = smpp::parse(inbuf_, p);
    if (n > 0) {
      inbuf_.erase(0, n);
      last_io_ms_ = monotonic_ms();
      return 1;
    }
    if (n < 0) {
      log::warn({{"event", "smpp_protocol_error"}, {"error", "impossible PDU length"}});
      return -1;
    }
    long long left = deadline - monotonic_ms();
    if (left <= 0 || !fd_) return fd_ ? 0 : -1;
    struct pollfd pfd = {fd_.get(), POLLIN, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) {
      interrupted_ = true;
      return 0;
    }
    if (r < 0) return -1;
    if (r == 0) return 0;
    char buf[8192];
    ssize_t got = ::read(fd_.get(), buf, sizeof buf);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) return -1;
    inbuf_.append(buf, static_cast<size_t>(got));
  }
}

bool SmppTransport::connect_tcp(std::string& why) {
  struct addrinfo hints = {}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  std::string port = std::to_string(o_.port);
  if (int e = ::getaddrinfo(o_.host.c_str(), port.c_str(), &hints, &res); e != 0) {
    why = "cannot resolve " + o_.host + ": " + gai_strerror(e);
    return false;
  }
  why = "cannot connect to " + o_.host + ":" + port;
  for (auto* a = res; a; a = a->ai_next) {
    UniqueFd s(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol));
    if (!s) continue;
    if (::connect(s.get(), a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      why += std::string(": ") + std::strerror(errno);
      continue;
    }
    struct pollfd pfd = {s.get(), POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    if (::poll(&pfd, 1, o_.timeout_ms) != 1 || ::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
      why += std::string(": ") + (err ? std::strerror(err) : "timed out");
      continue;
    }
    // Blocking writes, bounded: a PDU is small, and a stuck SMSC must not
    // hang the drainer forever.
    ::fcntl(s.get(), F_SETFL, ::fcntl(s.get(), F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {o_.timeout_ms / 1000, (o_.timeout_ms % 1000) * 1000};
    ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fd_ = std::move(s);
    ::freeaddrinfo(res);
    return true;
  }
  ::freeaddrinfo(res);
  return false;
}

bool SmppTransport::bind(std::string& why) {
  uint32_t id = o_.receipts ? smpp::kBindTransceiver : smpp::kBindTransmitter;
  const char* mode = o_.receipts ? "transceiver" : "transmitter";
  uint32_t seq = next_seq();
  if (!send_pdu(id, 0, seq, smpp::bind_body(o_.bind))) {
    why = "bind: write failed";
    return false;
  }
  long long deadline = monotonic_ms() + o_.timeout_ms;
  smpp::Pdu p;
  while (monotonic_ms() < deadline) {
    int r = read_pdu(p, static_cast<int>(deadline - monotonic_ms()));
    if (r < 0) break;
    if (r == 0) continue;
    if (p.seq != seq || (p.id != (id | smpp::kResp) && p.id != smpp::kGenericNack)) continue;
    if (p.status != 0) {
      why = std::string("bind refused: ") + smpp::status_name(p.status) + " (" + hex32(p.status) + ")";
      log::error({{"event", "smpp_bind_refused"}, {"host", o_.host}, {"system_id", o_.bind.system_id},
                  {"status", hex32(p.status)}, {"name", smpp::status_name(p.status)},
                  {"hint", "check sms.smpp.system_id, sms.smpp.password and sms.smpp.system_type"}});
      return false;
    }
    log::info({{"event", "smpp_bound"}, {"host", o_.host}, {"port", std::to_string(o_.port)}, {"mode", mode},
               {"system_id", o_.bind.system_id}});
    return true;
  }
  why = "bind: no answer from " + o_.host + " within the timeout";
  return false;
}

void SmppTransport::drop() {
  fd_.reset();
  inbuf_.clear();
  enquire_sent_ms_ = 0;
}

void SmppTransport::schedule_reconnect() {
  connect_backoff_ms_ = connect_backoff_ms_ ? std::min(connect_backoff_ms_ * 2, 60000LL) : 1000;
  next_connect_ms_ = monotonic_ms() + connect_backoff_ms_;
}

bool SmppTransport::ensure_bound(std::string& why) {
  if (fd_) return true;
  long long wait = next_connect_ms_ - monotonic_ms();
  if (wait > 0) {
    why = "SMSC not available; next attempt in " + std::to_string((wait + 999) / 1000) + "s";
    return false;
  }
  if (connect_tcp(why) && bind(why)) {
    connect_backoff_ms_ = 0;
    return true;
  }
  drop();
  schedule_reconnect();
  log::warn({{"event", "smpp_unavailable"}, {"error", why},
             {"retry_in_ms", std::to_string(connect_backoff_ms_)}});
  return false;
}

}  // namespace sluice::sms
