#include "queue/injectd/server.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/accept_loop.hpp"
#include "common/fd.hpp"
#include "common/log.hpp"
#include "common/text.hpp"
#include "queue/store/queue.hpp"
#include "queue/store/submit.hpp"

namespace sluice::injectd {
namespace {

void reply(int fd, int code, const std::string& text) {
  std::string line = std::to_string(code) + " " + text + "\n";
  write_all(fd, line);
}

// The connection's bytes, read in large pieces: the request header, the
// envelope and the message come in one or two reads instead of a read per
// header byte. Over-reading is safe: everything after a header belongs to
// that request, and a framed request says where the next one starts.
class Input {
 public:
  explicit Input(int fd) : fd_(fd) {}

  // 1: more bytes buffered; 0: end of stream; -1: error.
  int fill() {
    buf_.erase(0, pos_);  // what was consumed goes, so the buffer never grows past a chunk and a header
    pos_ = 0;
    size_t old = buf_.size();
    buf_.resize(old + kChunk);
    for (;;) {
      ssize_t n = ::read(fd_, buf_.data() + old, kChunk);
      if (n < 0 && errno == EINTR) continue;
      buf_.resize(old + static_cast<size_t>(n > 0 ? n : 0));
      return n > 0 ? 1 : n == 0 ? 0 : -1;
    }
  }
  size_t available() const { return buf_.size() - pos_; }
  std::string_view peek() const { return std::string_view(buf_).substr(pos_); }
  void skip(size_t n) { pos_ += n; }
  bool at_end() { return available() == 0 && fill() <= 0; }

 private:
  static constexpr size_t kChunk = 1 << 16;
  int fd_;
  std::string buf_;
  size_t pos_ = 0;
};

// "ENVLEN\n" (the message runs to the end of the stream) or
// "ENVLEN MSGLEN\n" (framed: the connection may carry another request).
struct Header {
  size_t envlen = 0;
  long long msglen = -1;
};

bool read_header(Input& in, Header& h) {
  size_t nl;
  while ((nl = in.peek().find('\n')) == std::string_view::npos) {
    if (in.available() > 26 || in.fill() <= 0) return false;
  }
  std::string_view line = in.peek().substr(0, nl);
  in.skip(nl + 1);
  size_t sp = line.find(' ');
  long long env = 0;
  if (!parse_decimal(line.substr(0, sp), env) || env > static_cast<long long>(queue::kMaxEnvelope)) return false;
  h.envlen = static_cast<size_t>(env);
  return sp == std::string_view::npos || parse_decimal(line.substr(sp + 1), h.msglen);
}

bool read_exact(Input& in, std::string& out, size_t n) {
  out.clear();
  while (out.size() < n) {
    if (in.available() == 0 && in.fill() <= 0) return false;
    size_t take = std::min(n - out.size(), in.available());
    out.append(in.peek().substr(0, take));
    in.skip(take);
  }
  return true;
}

// Only the listener (or root) may say how a message came in; a local user
// could otherwise claim an authenticated sender in the Received line.
void set_origin(queue::Envelope& env, uid_t peer, const Settings& s) {
  // Our own account counts too: in a one-user instance the listener runs as it.
  bool trusted = peer == 0 || peer == s.trusted_uid || peer == ::getuid();
  std::erase_if(env.params, [trusted](const auto& p) {
    return p.first == "uid" || (!trusted && (p.first == "auth" || p.first == "client" || p.first == "helo"));
  });
  env.params.emplace_back("uid", std::to_string(peer));
}

// Serves one request whose header is H. True when it was committed and the
// connection may carry the next one; after a refusal the connection is
// closed, since the rest of a refused message would still be on the way.
bool serve_request(int fd, Input& in, const Header& h, uid_t peer, const Settings& s) {
  std::string envdata;
  if (!read_exact(in, envdata, h.envlen)) return reply(fd, 54, "4.3.0 cannot read the envelope"), false;
  queue::Envelope env;
  queue::EnvelopeError err;
  if (!queue::parse_envelope(envdata, env, err)) return reply(fd, err.exit_code, err.text), false;
  set_origin(env, peer, s);
  if (s.max_message > 0 && h.msglen > s.max_message)
    return reply(fd, 31, "5.3.4 message larger than limits.message_size"), false;

  auto staging = queue::Staging::open(s.qdir, s.min_free);
  if (!staging) {
    const std::string& t = staging.error().text;
    int code = atoi(t.c_str());
    return reply(fd, code ? code : 55, "4.3.1 " + t.substr(t.find(' ') + 1)), false;
  }
  bool framed = h.msglen >= 0;
  long long left = h.msglen;  // -1: to the end of the stream
  while (left != 0) {
    if (in.available() == 0) {
      int r = in.fill();
      if (r < 0 || (r == 0 && framed)) return reply(fd, 54, "4.3.0 cannot read the message"), false;
      if (r == 0) break;
    }
    std::string_view piece = in.peek();
    if (framed) piece = piece.substr(0, static_cast<size_t>(std::min<long long>(left, static_cast<long long>(piece.size()))));
    if (s.max_message > 0 && staging->length() + static_cast<long long>(piece.size()) > s.max_message)
      return reply(fd, 31, "5.3.4 message larger than limits.message_size"), false;
    if (!staging->write(piece)) return reply(fd, 53, "4.3.1 insufficient system storage"), false;
    in.skip(piece.size());
    if (framed) left -= static_cast<long long>(piece.size());
  }
  if (int rc = staging->commit(env, ::time(nullptr)); rc != 0)
    return reply(fd, rc, rc == 53 ? "4.3.1 insufficient system storage" : "4.3.0 queue write error"), false;
  log::info({{"event", "queued"}, {"qid", staging->qid()}, {"uid", std::to_string(peer)},
             {"size", std::to_string(staging->length())}, {"nrcpt", std::to_string(env.rcpts.size())}});
  reply(fd, 0, staging->qid());
  return framed;
}

}  // namespace

void serve_connection(int fd_in, const Settings& s) {
  UniqueFd fd(fd_in);
  // A client that stalls, or keeps an idle connection, must not hold a
  // thread for ever.
  struct timeval tv {300, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return reply(fd.get(), 81, "4.3.0 no peer credentials");
  Input in(fd.get());
  for (bool first = true;; first = false) {
    // A framed client may end its connection between requests.
    if (!first && in.at_end()) return;
    Header h;
    if (!read_header(in, h)) return reply(fd.get(), 54, "4.3.0 cannot read the envelope");
    if (!serve_request(fd.get(), in, h, cred.uid, s)) return;
  }
}

int serve(int listener, const Settings& s, int max_threads) {
  return serve_threads(listener, max_threads, [&s](int fd) { serve_connection(fd, s); });
}

}  // namespace sluice::injectd
