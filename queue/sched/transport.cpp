#include "queue/sched/transport.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sluice::sched {

Transport::~Transport() {
  for (auto& c : conns_) close(c);
}

void Transport::close(Conn& c) {
  if (c.fd >= 0) ::close(c.fd);
  c.fd = -1;
  c.busy = false;
}

void Transport::retire_all() {
  for (auto& c : conns_) {
    c.retire = true;
    if (!c.busy) close(c);
  }
}

size_t Transport::busy_count() const {
  return static_cast<size_t>(std::count_if(conns_.begin(), conns_.end(), [](const Conn& c) { return c.busy; }));
}

Conn* Transport::idle(std::string& error) {
  error.clear();
  std::erase_if(conns_, [](const Conn& c) { return c.fd < 0; });
  for (auto& c : conns_)
    if (!c.busy) return &c;
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
  conns_.push_back(Conn{fd, false, false, 0, {}, {}});
  return &conns_.back();
}

bool Transport::send(Conn& c, const deliver::Job& job, int fd) {
  if (!deliver::send_packet(c.fd, deliver::encode_job(job), fd)) {
    close(c);
    return false;
  }
  c.busy = true;
  c.qid = job.qid;
  c.rcpts.clear();
  for (const auto& r : job.rcpts) c.rcpts.push_back(r.index);
  return true;
}

std::optional<std::vector<deliver::RcptResult>> Transport::receive(Conn& c) {
  std::string packet;
  int fd = -1;
  if (!deliver::recv_packet(c.fd, packet, &fd)) {
    close(c);
    return std::nullopt;
  }
  if (fd >= 0) ::close(fd);
  c.busy = false;
  auto r = deliver::decode_results(packet);
  if (!r) {
    close(c);
    return std::nullopt;
  }
  if (++c.jobs >= max_jobs_ || c.retire) close(c);
  return std::move(*r);
}

}  // namespace sluice::sched
