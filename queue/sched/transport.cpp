#include "queue/sched/transport.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "common/date.hpp"

namespace sluice::sched {
namespace {

// A busy deliverer gets more jobs only while its oldest is this young:
// past it, the deliverer is on something slow (a forward, a huge message)
// and the next job is better off on another one.
constexpr long long kFreshMs = 20;

}  // namespace

Transport::~Transport() {
  for (auto& c : conns_) close(c);
}

void Transport::close(Conn& c) {
  if (c.fd >= 0) ::close(c.fd);
  c.fd = -1;
  for (auto& j : c.inflight) lost_.push_back(std::move(j));
  c.inflight.clear();
}

void Transport::retire_all() {
  for (auto& c : conns_) {
    c.retire = true;
    if (!c.busy()) close(c);
  }
}

size_t Transport::busy_count() const {
  return static_cast<size_t>(std::count_if(conns_.begin(), conns_.end(), [](const Conn& c) { return c.busy(); }));
}

Conn* Transport::pick(std::string& error) {
  error.clear();
  std::erase_if(conns_, [](const Conn& c) { return c.fd < 0; });
  long long now = monotonic_ms();
  Conn *ahead = nullptr, *idle = nullptr;
  for (auto& c : conns_) {
    if (c.retire || c.sent >= max_jobs_) continue;  // closes after its last answer
    if (!c.busy()) {
      if (!idle) idle = &c;
    } else if (c.inflight.size() < depth_ && now - c.inflight.front().sent_ms < kFreshMs &&
               (!ahead || c.inflight.size() > ahead->inflight.size())) {
      // The fullest one: rounds grow instead of every deliverer doing one job each.
      ahead = &c;
    }
  }
  if (ahead) return ahead;
  if (idle) return idle;
  if (conns_.size() >= max_) return nullptr;
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return error = strerror(errno), nullptr;
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  if (path_.size() >= sizeof sa.sun_path) {
    ::close(fd);
    return error = "socket path too long: " + path_, nullptr;
  }
  memcpy(sa.sun_path, path_.c_str(), path_.size());
  if (::connect(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) != 0) {
    error = "cannot reach " + name_ + " deliverers at " + path_ + ": " + strerror(errno);
    ::close(fd);
    return nullptr;
  }
  // The vector may move: callers hold the pointer only until the next call.
  conns_.push_back(Conn{});
  conns_.back().fd = fd;
  return &conns_.back();
}

bool Transport::send(Conn& c, const deliver::Job& job, int fd) {
  if (!deliver::send_packet(c.fd, deliver::encode_job(job), fd)) {
    close(c);
    return false;
  }
  InFlight j{job.qid, {}, monotonic_ms()};
  for (const auto& r : job.rcpts) j.rcpts.push_back(r.index);
  c.inflight.push_back(std::move(j));
  c.sent++;
  return true;
}

std::vector<Answer> Transport::receive(Conn& c) {
  std::vector<Answer> out;
  std::string packet;
  // Every answer already waiting, so a round's answers cost one poll.
  for (bool first = true; c.busy(); first = false) {
    int fd = -1;
    errno = 0;
    bool got = deliver::recv_packet(c.fd, packet, &fd, first ? 0 : MSG_DONTWAIT);
    if (fd >= 0) ::close(fd);
    if (!got && !first && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    std::optional<std::vector<deliver::RcptResult>> r;
    if (got)
      if (auto d = deliver::decode_results(packet)) r = std::move(*d);
    if (!r) {
      close(c);  // dead, or an answer that makes no sense: its jobs are lost
      break;
    }
    out.push_back({std::move(c.inflight.front()), std::move(*r)});
    c.inflight.pop_front();
  }
  if (c.fd >= 0 && !c.busy() && (c.sent >= max_jobs_ || c.retire)) close(c);
  return out;
}

}  // namespace sluice::sched
