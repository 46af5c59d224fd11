// The queue: layout, file format, commit protocol (docs/queue.md).
//
// One file per message holds the message and its envelope ("single copy").
// The message comes first, so sluice-inject streams fd 0 straight into the
// file before it has read the envelope from fd 1:
//
//   sluice-queue 1 LLLLLLLLLLLL\n       header; L = message length, 12 digits
//   <message bytes, LF line endings>
//   ctl NNNNNNNNNNNN TTTTT F REASON\n   next attempt (unix time), tries, flags, and
//                                      the last deferral reason (150 bytes, padded):
//                                      rewritten in place, fixed width
//   arrival UNIXTIME\n
//   sender XTEXT\n                      empty for the null sender <>
//   param KEY XTEXT\n                   ret, envid, smtputf8, auth, client, double_bounce ...
//   rcpt S NOTIFY ORCPT XTEXT\n         S: one state byte, rewritten in place
//   end\n                               a file without it is corrupt
//   <anything>                          room a recycled file keeps: never read
//
// Layout under queue.dir:
//   msg/0 .. msg/f/QID     committed messages, spread over 16 directories
//                          (parallel writers in one directory cost 3-4x)
//   msg/X/QID.tmp          staging; never seen by sluice-sched
//   hold/QID               held by `sluice queue hold`
//   corrupt/QID            files that do not parse, for a human
//   free/NAME              finished files kept for reuse (never a message)
//   notify/                SMS requests (common/notify_spool.hpp)
//   flush                  created by `sluice queue flush`: retry everything now
#pragma once
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"
#include "common/status.hpp"

namespace sluice::queue {

// Recipient states (the S byte).
enum class RcptState : char {
  pending = '-',
  delivered = 'D',  // delivered, or accepted by the next hop
  failed = 'F',     // permanent failure or expiry, and its bounce is committed (or none was due)
};

// Message flags (the F byte of the ctl line).
inline constexpr char kFlagNone = '-';
inline constexpr char kFlagDelayWarned = 'W';

struct Rcpt {
  std::string address;
  std::string notify;  // "" not given, "NEVER", or a subset of "SUCCESS,FAILURE,DELAY"
  std::string orcpt;   // "" or "rfc822;addr"
  RcptState state = RcptState::pending;
  long long state_offset = 0;  // file offset of the S byte (set when read)
};

struct Envelope {
  std::string sender;  // "" is the null sender
  // Message-level ESMTP and origin parameters: "ret" (FULL|HDRS), "envid",
  // "smtputf8" ("1"), "auth" (authenticated user), "client" (address),
  // "helo", "uid" (local submitter), "double_bounce" ("1": a notice to
  // postmaster about an undeliverable bounce; never reported again).
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<Rcpt> rcpts;

  std::string param(std::string_view key) const;  // "" when absent
};

// A parsed queue file.
struct Entry {
  std::string qid;
  std::string path;
  long long msg_offset = 0, msg_length = 0;
  long long next_try = 0;  // unix time; 0: now
  int tries = 0;
  char flags = kFlagNone;
  std::string reason;      // why the last attempt left recipients pending ("" before any)
  long long ctl_offset = 0;
  long long arrival = 0;
  Envelope env;
};

// --- envelopes from fd 1 (qmail-queue) --------------------------------------
// `F<sender>\0T<rcpt>\0...\0` with sluice's extra records:
//   after F:  R<FULL|HDRS>  E<envid>  U (SMTPUTF8)  A<auth user>  C<client>  H<helo>  P<key>=<value>
//   after a T: N<notify>  O<orcpt>
// A plain qmail-queue envelope is valid unchanged. Errors carry the exit
// code to use: 91 (format), 11 (address too long).
struct EnvelopeError {
  int exit_code = 91;
  std::string text;
};
bool parse_envelope(std::string_view data, Envelope& out, EnvelopeError& err);
std::string encode_envelope(const Envelope& e);  // the fd 1 form, for sendmail and tests

// --- queue file format ---------------------------------------------------------
std::string header(long long msg_length);                         // the first line
std::string encode_trailer(const Envelope& e, long long arrival);  // ctl .. end
inline constexpr size_t kHeaderSize = 28;                          // strlen(header(x))
Result<long long> parse_header(std::string_view head);             // the message length
// Parses a whole file's content (tests, fuzzing). Offsets in the result are
// file offsets.
Result<Entry> parse_file(std::string_view content);
Result<Entry> read_entry(const std::string& path);  // reads only header + trailer
Result<Entry> read_entry_fd(int fd, const std::string& path);

// --- layout -------------------------------------------------------------------
std::string msg_dir(const std::string& qdir, std::string_view qid);  // qdir/msg/X
std::string msg_path(const std::string& qdir, std::string_view qid);
// QDIR/hold/QID: a held message (sluice queue hold, a milter's quarantine).
std::string hold_path(const std::string& qdir, std::string_view qid);
// Makes every directory of the layout (modes for a setgid sluice-inject).
Status create_layout(const std::string& qdir);
// A new unique queue id: 13 hex digits of microseconds, 3 of pid and counter.
std::string new_qid();
bool valid_qid(std::string_view qid);

// --- commit (sluice-inject, and sluice-sched for bounces) ------------------------
// Writes MESSAGE (read from MSG_FD until EOF when MSG is null) with ENVELOPE
// durably: staging file, written in place or fsynced, rename, fsync dir. On
// success QID_OUT holds the id. Failure statuses carry the qmail-queue exit
// code in `exit_code`.
struct CommitError {
  int exit_code = 0;  // 53 disk full / write error, 54 cannot read message, 55/56 ...
  Status status;
};
// The block size of QDIR's file system where a recycled queue file is
// written in place (docs/queue.md, "Writing in place"); 0 where it is not.
long long in_place_block(const std::string& qdir);
class Staging {
 public:
  // Opens the staging file. MIN_FREE: refuse (53) below this many free bytes.
  static Result<Staging> open(const std::string& qdir, long long min_free);
  Staging(Staging&&) noexcept;
  Staging& operator=(Staging&&) = delete;
  ~Staging();  // unlinks a new staging file unless commit() succeeded; a claimed free one stays free

  // Appends message bytes (gathered up to 64 KiB before a write). False on
  // a write error (errno set); one may also show only at commit.
  bool write(std::string_view bytes);
  // Copies FD until EOF; 54 on a read error, 53 on a write error.
  int copy_from(int fd);
  // Writes the trailer, waits for the data (or fsyncs), renames, fsyncs the
  // directory. 0 or an exit code.
  int commit(const Envelope& env, long long arrival);

  const std::string& qid() const { return qid_; }
  long long length() const { return length_; }

 private:
  friend class PublishGroup;
  Staging() = default;
  bool flush();
  int place(char dir_char, bool quarantine);
  static constexpr size_t kBuffer = 64 << 10;
  std::string qdir_, qid_, tmp_, final_;
  int fd_ = -1;
  long long length_ = 0;
  std::string buf_;  // bytes not yet written; they start with the header until the first write
  bool head_written_ = false;
  bool committed_ = false;
  bool recycled_ = false;  // tmp_ is a claimed file in free/
  // A claimed file on a file system that overwrites in place: the bytes it
  // takes without growing (its size when its header was valid, else 0).
  // -1: the file is made durable by its own fdatasync (docs/queue.md).
  long long room_ = -1;
  long long block_ = 0;  // the file system's block: a growing file is cut at the next boundary
};
// Renames and directory fsyncs of the commits that reach that point at the
// same moment, done together (sluice-injectd's threads commit at once).
class PublishGroup {
 public:
  static PublishGroup& instance();
  int publish(Staging& s, bool quarantine);  // 0 or an exit code, as commit()

 private:
  struct Member {
    Staging* s = nullptr;
    bool quarantine = false;
    int result = -1;  // written by the group's runner
    int rc = -1;      // RESULT, once the group is done (under mu_)
    std::condition_variable wake;  // its group is done, or it is to run the next one
  };
  void run(const std::vector<Member*>& group);
  std::mutex mu_;
  std::vector<Member*> waiting_;
  bool running_ = false;
  std::map<std::string, UniqueFd> dir_fds_;  // kept open; only the running group uses them
};
// One call: MESSAGE with ENVELOPE into the queue; returns the qid or a
// Status whose text begins with the exit code ("53 ...").
Result<std::string> commit_message(const std::string& qdir, std::string_view message, const Envelope& env,
                                   long long min_free = 0);

// --- changes of a committed file (sluice-sched) ---------------------------------------
// Rewrites the S bytes of RCPTS and syncs once. False on I/O error.
bool mark_rcpts(int fd, const std::vector<const Rcpt*>& rcpts, RcptState s, bool sync = true);
bool write_ctl(int fd, const Entry& e);  // next_try, tries, flags; not synced

// --- listing and admin (`sluice queue`, mailq) ------------------------------------
struct Listed {
  Entry entry;
  bool held = false;
};
std::vector<Listed> list(const std::string& qdir);  // oldest first; corrupt files skipped with a log line
// One line per message for people: "QID ARRIVAL SIZE STATE TRIES SENDER
// RCPT... (REASON)", STATE active, deferred or held.
std::string queue_line(const Listed& l);
std::string queue_state(const Listed& l);
std::string iso_time(long long unix_time);  // "2024-05-01T12:00:00Z"
// Finds QID in msg/ or hold/; "" when absent.
std::string find(const std::string& qdir, std::string_view qid, bool* held = nullptr);
Status remove(const std::string& qdir, std::string_view qid);
Status hold(const std::string& qdir, std::string_view qid);
Status release(const std::string& qdir, std::string_view qid);
Status request_flush(const std::string& qdir);
// --- recycling (recycle.cpp) ---------------------------------------------------------
// Retires the finished file PATH (open as FD): renamed into free/ for reuse
// when this account owns it and free/ is not full, else unlinked.
void retire(const std::string& qdir, const std::string& path, int fd);
// Claims a free file for staging: opened for writing and locked (flock) in
// free/, its name in PATH; -1 when none is free. The claim lasts while the
// descriptor is open; the commit renames the file out of free/. ROOM is the
// file's size when it starts with a valid header, whose blocks are then all
// allocated and durable (docs/queue.md, "Writing in place"); else 0.
int take_free(const std::string& qdir, std::string& path, long long& room);

// Moves a file that does not parse to corrupt/ (never deletes it).
void quarantine(const std::string& qdir, const std::string& path);

}  // namespace sluice::queue
