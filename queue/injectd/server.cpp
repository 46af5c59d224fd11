#include "queue/injectd/server.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/accept_loop.hpp"
#include "common/fd.hpp"
#include "common/log.hpp"
#include "queue/store/queue.hpp"
#include "queue/store/submit.hpp"

namespace sluice::injectd {
namespace {

void reply(int fd, int code, const std::string& text) {
  std::string line = std::to_string(code) + " " + text + "\n";
  write_all(fd, line);
}

// Reads up to '\n' one byte at a time: the header is a few bytes, and
// reading past it would swallow the envelope.
bool read_header(int fd, size_t& envlen) {
  std::string h;
  char c;
  while (h.size() < 12) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n != 1) return false;
    if (c == '\n') break;
    if (c < '0' || c > '9') return false;
    h += c;
  }
  if (h.empty() || c != '\n') return false;
  envlen = std::stoull(h);
  return envlen <= queue::kMaxEnvelope;
}

bool read_exact(int fd, std::string& out, size_t n) {
  out.resize(n);
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, out.data() + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
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

}  // namespace

void serve_connection(int fd_in, const Settings& s) {
  UniqueFd fd(fd_in);
  // A client that stalls must not hold a thread for ever.
  struct timeval tv {300, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return reply(fd.get(), 81, "4.3.0 no peer credentials");
  size_t envlen = 0;
  std::string envdata;
  if (!read_header(fd.get(), envlen) || !read_exact(fd.get(), envdata, envlen))
    return reply(fd.get(), 54, "4.3.0 cannot read the envelope");
  queue::Envelope env;
  queue::EnvelopeError err;
  if (!queue::parse_envelope(envdata, env, err)) return reply(fd.get(), err.exit_code, err.text);
  set_origin(env, cred.uid, s);

  auto staging = queue::Staging::open(s.qdir, s.min_free);
  if (!staging) {
    const std::string& t = staging.error().text;
    int code = atoi(t.c_str());
    return reply(fd.get(), code ? code : 55, "4.3.1 " + t.substr(t.find(' ') + 1));
  }
  static thread_local char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return reply(fd.get(), 54, "4.3.0 cannot read the message");
    if (n == 0) break;
    if (s.max_message > 0 && staging->length() + n > s.max_message)
      return reply(fd.get(), 31, "5.3.4 message larger than limits.message_size");
    if (!staging->write(std::string_view(buf, static_cast<size_t>(n))))
      return reply(fd.get(), 53, "4.3.1 insufficient system storage");
  }
  if (int rc = staging->commit(env, ::time(nullptr)); rc != 0)
    return reply(fd.get(), rc, rc == 53 ? "4.3.1 insufficient system storage" : "4.3.0 queue write error");
  log::info({{"event", "queued"}, {"qid", staging->qid()}, {"uid", std::to_string(cred.uid)},
             {"size", std::to_string(staging->length())}, {"nrcpt", std::to_string(env.rcpts.size())}});
  reply(fd.get(), 0, staging->qid());
}

int serve(int listener, const Settings& s, int max_threads) {
  return serve_threads(listener, max_threads, [&s](int fd) { serve_connection(fd, s); });
}

}  // namespace sluice::injectd
