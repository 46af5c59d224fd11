#include "common/deliver_proto.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <utility>

#include "common/log.hpp"
#include "common/text.hpp"

namespace sluice::deliver {
namespace {

std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(' ', i);
    if (j == std::string_view::npos) j = s.size();
    out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

Status bad(const std::string& why) { return Status::temp("4.3.0", "deliver protocol: " + why); }

}  // namespace

std::string xtext_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (c >= 33 && c <= 126 && c != '+' && c != '=') {
      out += static_cast<char>(c);
    } else {
      out += '+';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool xtext_decode(std::string_view s, std::string& out) {
  out.clear();
  for (size_t i = 0; i < s.size(); i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '+') {
      if (i + 2 >= s.size()) return false;
      auto hv = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;  // RFC 3461 section 4: upper-case hex only
      };
      int a = hv(s[i + 1]), b = hv(s[i + 2]);
      if (a < 0 || b < 0) return false;
      out += static_cast<char>(a * 16 + b);
      i += 2;
    } else if (c < 33 || c > 126 || c == '=') {
      return false;
    } else {
      out += static_cast<char>(c);
    }
  }
  return true;
}

std::string encode_job(const Job& j) {
  std::string p = "job " + xtext_encode(j.qid) + " " + std::to_string(j.offset) + " " +
                  std::to_string(j.length) + "\n";
  p += "sender " + xtext_encode(j.sender) + "\n";
  for (const auto& [k, v] : j.params) p += "param " + xtext_encode(k) + " " + xtext_encode(v) + "\n";
  for (const auto& r : j.rcpts) {
    p += "rcpt " + std::to_string(r.index) + " " + (r.notify.empty() ? "-" : xtext_encode(r.notify)) + " " +
         (r.orcpt.empty() ? "-" : xtext_encode(r.orcpt)) + " " + xtext_encode(r.address) + "\n";
  }
  p += "end\n";
  return p;
}

Result<Job> decode_job(std::string_view packet) {
  Job j;
  bool have_job = false, have_end = false;
  for (auto line : split_lines(packet)) {
    if (have_end) return bad("data after end");
    auto w = split_words(line);
    if (w[0] == "job" && w.size() == 4 && !have_job) {
      if (!xtext_decode(w[1], j.qid) || !parse_signed_decimal(w[2], j.offset) || !parse_signed_decimal(w[3], j.length) || j.offset < 0)
        return bad("bad job line");
      have_job = true;
    } else if (w[0] == "sender" && w.size() == 2) {
      if (!xtext_decode(w[1], j.sender)) return bad("bad sender");
    } else if (w[0] == "param" && w.size() == 3) {
      std::string k, v;
      if (!xtext_decode(w[1], k) || !xtext_decode(w[2], v)) return bad("bad param");
      j.params[k] = v;
    } else if (w[0] == "rcpt" && w.size() == 5) {
      Recipient r;
      long long idx;
      if (!parse_signed_decimal(w[1], idx) || idx < 0) return bad("bad rcpt index");
      r.index = static_cast<size_t>(idx);
      if (w[2] != "-" && !xtext_decode(w[2], r.notify)) return bad("bad notify");
      if (w[3] != "-" && !xtext_decode(w[3], r.orcpt)) return bad("bad orcpt");
      if (!xtext_decode(w[4], r.address)) return bad("bad rcpt");
      j.rcpts.push_back(std::move(r));
    } else if (line == "end") {
      have_end = true;
    } else {
      return bad("unknown line");
    }
  }
  if (!have_job || !have_end) return bad("incomplete job");
  return j;
}

std::string encode_results(const std::vector<RcptResult>& rs) {
  std::string p;
  for (const auto& r : rs) {
    p += "result " + std::to_string(r.index) + " " + r.status.digit() + " " + xtext_encode(r.status.enhanced) +
         " " + (r.remote_mta.empty() ? "-" : xtext_encode(r.remote_mta)) + " " + xtext_encode(r.status.text) +
         (r.action.empty() ? "" : " " + xtext_encode(r.action)) + "\n";
  }
  p += "end\n";
  return p;
}

Result<std::vector<RcptResult>> decode_results(std::string_view packet) {
  std::vector<RcptResult> out;
  bool have_end = false;
  for (auto line : split_lines(packet)) {
    if (have_end) return bad("data after end");
    if (line == "end") {
      have_end = true;
      continue;
    }
    auto w = split_words(line);
    if (w[0] != "result" || (w.size() != 6 && w.size() != 7)) return bad("bad result line");
    RcptResult r;
    long long idx;
    if (!parse_signed_decimal(w[1], idx) || idx < 0 || w[2].size() != 1) return bad("bad result index");
    r.index = static_cast<size_t>(idx);
    std::string enh, text;
    if (!xtext_decode(w[3], enh) || !xtext_decode(w[5], text)) return bad("bad result text");
    if (w[4] != "-" && !xtext_decode(w[4], r.remote_mta)) return bad("bad remote mta");
    if (w.size() == 7 && !xtext_decode(w[6], r.action)) return bad("bad result action");
    switch (w[2][0]) {
      case '2': r.status = Status::ok(text, enh); break;
      case '4': r.status = Status::temp(enh, text); break;
      case '5': r.status = Status::perm(enh, text); break;
      default: return bad("bad result digit");
    }
    out.push_back(std::move(r));
  }
  if (!have_end) return bad("incomplete result");
  return out;
}

bool send_packet(int sock, std::string_view data, int fd) {
  struct msghdr msg {};
  struct iovec iov {const_cast<char*>(data.data()), data.size()};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    memset(ctrl, 0, sizeof ctrl);
    msg.msg_control = ctrl;
    msg.msg_controllen = sizeof ctrl;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  for (;;) {
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    return n == static_cast<ssize_t>(data.size());
  }
}

bool recv_packet(int sock, std::string& data, int* fd, int flags) {
  if (fd) *fd = -1;
  // Received into a buffer kept per thread and never cleared: resizing
  // DATA to the largest packet zeroed a megabyte for every job and result.
  thread_local std::unique_ptr<char[]> buf(new char[kMaxPacket]);
  struct msghdr msg {};
  struct iovec iov {buf.get(), kMaxPacket};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char ctrl[CMSG_SPACE(sizeof(int) * 4)];
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  ssize_t n;
  // A peer that closed with packets of ours unread makes the first read
  // fail with ECONNRESET, ahead of the packets it had sent before: those
  // (a deliverer's answers for jobs it did) are still read, after it.
  bool reset = false;
  do n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
  while (n < 0 && (errno == EINTR || (errno == ECONNRESET && !std::exchange(reset, true))));
  if (n <= 0) {
    data.clear();
    return false;
  }
  data.assign(buf.get(), static_cast<size_t>(n));
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int got;
        memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (fd && *fd < 0) *fd = got;
        else ::close(got);  // never leak a descriptor a peer pushed on us
      }
    }
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    if (fd && *fd >= 0) ::close(*fd);
    if (fd) *fd = -1;
    data.clear();
    return false;
  }
  return true;
}

int serve(int sock, const Handler& h, long max_jobs) {
  RoundHandler one = [&h](const std::vector<Job>& jobs, const std::vector<int>& fds) {
    return std::vector<std::vector<RcptResult>>{h(jobs[0], fds[0])};
  };
  return serve_rounds(sock, one, 1, 0, max_jobs);
}

int serve_rounds(int sock, const RoundHandler& h, size_t max_round, long long max_bytes, long max_jobs) {
  std::string packet;
  for (long done = 0; done < max_jobs;) {
    std::vector<Job> jobs;
    std::vector<int> fds;
    bool more = true;  // the connection goes on after this round
    int rc = 0;
    long long bytes = 0;
    while (jobs.size() < max_round && done + static_cast<long>(jobs.size()) < max_jobs &&
           (jobs.empty() || bytes < max_bytes)) {
      int fd = -1;
      errno = 0;
      // Only the first job is waited for; the rest of the round is what
      // the scheduler has already sent.
      if (!recv_packet(sock, packet, &fd, jobs.empty() ? 0 : MSG_DONTWAIT)) {
        more = errno == EAGAIN || errno == EWOULDBLOCK;
        break;
      }
      auto job = decode_job(packet);
      if (!job) {
        log::error({{"event", "bad_job"}, {"error", job.error().text}});
        if (fd >= 0) ::close(fd);
        // The jobs read before it are still delivered and answered.
        more = false;
        rc = 81;
        break;
      }
      // A length of -1 (to the end of the file) counts as large: it ends the round.
      bytes += job->length >= 0 ? job->length : max_bytes;
      jobs.push_back(std::move(*job));
      fds.push_back(fd);
    }
    if (jobs.empty()) return rc;
    auto results = h(jobs, fds);
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
    for (const auto& r : results)
      if (!send_packet(sock, encode_results(r))) return 0;
    done += static_cast<long>(jobs.size());
    if (!more) return rc;
  }
  return 0;
}

int run_standalone(int argc, char** argv, const Handler& h) {
  Job job;
  job.qid = "standalone";
  job.length = -1;
  bool have_sender = false;
  for (int i = 1; i < argc; i++) {
    std::string_view a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--sender" && (v = next())) {
      job.sender = v;
      have_sender = true;
    } else if (a == "--rcpt" && (v = next())) {
      Recipient r;
      r.index = job.rcpts.size();
      r.address = v;
      job.rcpts.push_back(std::move(r));
    } else if (a == "--qid" && (v = next())) {
      job.qid = v;
    } else if (a == "--notify" && (v = next()) && !job.rcpts.empty()) {
      job.rcpts.back().notify = v;
    } else if (a == "-c" && (v = next())) {
      // handled by the caller's config loading
    } else {
      fprintf(stderr, "usage: %s [-c FILE] --sender ADDR --rcpt ADDR [--rcpt ADDR...] [--qid ID] < message\n",
              argv[0]);
      return 64;
    }
  }
  if (!have_sender || job.rcpts.empty()) {
    fprintf(stderr, "usage: %s [-c FILE] --sender ADDR --rcpt ADDR [--rcpt ADDR...] < message\n", argv[0]);
    return 64;
  }
  auto results = h(job, 0);
  int rc = 0;
  for (const auto& r : results) {
    printf("result %zu %c %s %s %s\n", r.index, r.status.digit(), r.status.enhanced.c_str(),
           r.remote_mta.empty() ? "-" : r.remote_mta.c_str(), r.status.text.c_str());
    if (r.status.is_perm()) rc = 100;
    else if (r.status.is_temp() && rc == 0) rc = 111;
  }
  fflush(stdout);
  return rc;
}

}  // namespace sluice::deliver
