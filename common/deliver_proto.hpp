// The scheduler <-> deliverer interface (DESIGN.md "Scheduler and
// deliverers"). sluice-sched keeps a pool of deliverer processes, each on
// one end of a SOCK_SEQPACKET socketpair; a job is one packet, with the open
// queue file passed alongside by SCM_RIGHTS, so a deliverer needs no access
// to the queue directory. The answer is one packet: a line per recipient.
// The scheduler may send further jobs before the first is answered; the
// answers come back one per job, in the order the jobs were sent.
//
// Job packet (text; every variable field xtext-encoded, RFC 3461):
//   job QID OFFSET LENGTH\n        message bytes are [OFFSET, OFFSET+LENGTH) of the fd
//   sender XTEXT\n                 "" (empty xtext) is the null sender <>
//   param KEY XTEXT\n              ret, envid, smtputf8, auth, client ... (optional)
//   rcpt INDEX NOTIFY ORCPT XTEXT\n  NOTIFY "-" or e.g. SUCCESS,DELAY; ORCPT "-" or xtext
//   end\n
// Result packet:
//   result INDEX DIGIT ENHANCED REMOTE_MTA XTEXT [ACTION]\n   (REMOTE_MTA "-" when none)
//   end\n
// ACTION (optional, so packets of older deliverers still decode) refines a
// success for the DSN code (RFC 3461 section 5.2.2): "relayed" (the next hop
// does not speak DSN: a success report, if asked, says Action: relayed) or
// "notify_passed" (the next hop got NOTIFY and reports itself: none from us).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace sluice::deliver {

struct Recipient {
  size_t index = 0;        // position in the queue file, echoed in the result
  std::string address;
  std::string notify;      // "" (not given), "NEVER", or a subset of SUCCESS,FAILURE,DELAY
  std::string orcpt;       // "" or "rfc822;addr" as given
};

struct Job {
  std::string qid;
  long long offset = 0;
  long long length = -1;   // -1: to end of file
  std::string sender;
  std::map<std::string, std::string> params;
  std::vector<Recipient> rcpts;
};

struct RcptResult {
  size_t index = 0;
  Status status;
  std::string remote_mta;  // "dns; mx.example.org" part without "dns; ", or ""
  std::string action;      // "", "relayed" or "notify_passed" (see above)
};

std::string xtext_encode(std::string_view s);
bool xtext_decode(std::string_view s, std::string& out);

std::string encode_job(const Job& j);
Result<Job> decode_job(std::string_view packet);
std::string encode_results(const std::vector<RcptResult>& r);
Result<std::vector<RcptResult>> decode_results(std::string_view packet);

// Largest packet either side sends; the scheduler splits jobs to fit.
constexpr size_t kMaxPacket = 1 << 20;

// One packet on a SOCK_SEQPACKET socket, with an optional fd.
bool send_packet(int sock, std::string_view data, int fd = -1);
// Returns false on EOF or error (with FLAGS MSG_DONTWAIT, also when no
// packet is waiting: errno EAGAIN). *fd receives a passed descriptor or -1.
bool recv_packet(int sock, std::string& data, int* fd, int flags = 0);

// A deliverer's two faces. The handler delivers JOB reading the message
// from FD and returns one result per recipient.
using Handler = std::function<std::vector<RcptResult>(const Job& job, int fd)>;

// Pool member: serve jobs on SOCK until it closes or MAX_JOBS were done
// (a bound on leaks, as Postfix's max_use). Returns an exit status.
int serve(int sock, const Handler& h, long max_jobs = 10000);

// A deliverer that delivers several jobs as one round (sluice-local shares
// its disk syncs among them): JOBS[k] with its message on FDS[k]; one result
// vector per job, in order.
using RoundHandler =
    std::function<std::vector<std::vector<RcptResult>>(const std::vector<Job>& jobs, const std::vector<int>& fds)>;

// As serve, but every job already waiting in SOCK when one arrives (the
// scheduler may send several without waiting) goes into the same round, up
// to MAX_ROUND jobs and, after the first, MAX_BYTES of messages (a round
// holds all its messages in memory). The answers go back one packet per
// job, in order.
int serve_rounds(int sock, const RoundHandler& h, size_t max_round, long long max_bytes, long max_jobs = 10000);

// Run from a shell: `PROG --sender A --rcpt B [--rcpt C] [--qid Q] < msg`.
// Prints "result INDEX DIGIT ENHANCED REMOTE_MTA TEXT" per recipient (text
// decoded) and exits 0 when all are 2, 100 when any is 5, 111 otherwise
// (qmail-local's convention).
int run_standalone(int argc, char** argv, const Handler& h);

}  // namespace sluice::deliver
