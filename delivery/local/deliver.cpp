#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "common/fd.hpp"
#include "common/log.hpp"
#include "common/notify_spool.hpp"
#include "delivery/local/forward.hpp"
#include "delivery/local/local.hpp"
#include "delivery/local/maildir.hpp"
#include "delivery/local/message.hpp"

namespace sluice::local {

struct Deliverer::Box {
  Destination dest;
  std::string root;    // the Maildir++ root
  std::string path;    // the delivered file in new/
  Status status = Status::temp("4.3.0", "not attempted");
};

struct Deliverer::Fwd {
  Destination dest;
  Status status = Status::temp("4.3.0", "not attempted");
};

namespace {

const char* status_word(const Status& s) { return s.is_ok() ? "sent" : s.is_temp() ? "deferred" : "bounced"; }

Status file_error(const std::string& what, const std::string& path) {
  int e = errno;
  std::string enh = (e == EDQUOT || e == ENOSPC) ? "4.3.1" : "4.3.0";
  return Status::temp(enh, what + " " + path + ": " + strerror(e));
}

// The added header lines use the message's own line ending: queued mail
// has LF, a standalone message piped in from a file may have CRLF.
std::string eol_of(const std::string& msg) {
  size_t nl = msg.find('\n');
  return nl != std::string::npos && nl > 0 && msg[nl - 1] == '\r' ? "\r\n" : "\n";
}

// An envelope address inside a header: no control bytes, so a hostile
// sender can never add a header line of its own.
std::string header_safe(const std::string& s) {
  std::string out;
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) out += c;
  return out;
}

// The worst of several outcomes: a temporary one wins (the retry delivers
// again), then a permanent one, else success.
Status combine(const std::vector<std::pair<std::string, Status>>& parts) {
  const std::pair<std::string, Status>* temp = nullptr;
  const std::pair<std::string, Status>* perm = nullptr;
  for (const auto& p : parts) {
    if (p.second.is_temp() && !temp) temp = &p;
    if (p.second.is_perm() && !perm) perm = &p;
  }
  const auto* worst = temp ? temp : perm;
  if (parts.size() == 1) return parts[0].second;
  if (!worst) return Status::ok("delivered to " + std::to_string(parts.size()) + " targets");
  Status s = worst->second;
  s.text = worst->first + ": " + s.text;
  return s;
}

}  // namespace

Result<Options> Options::from_config(const Config& cfg) {
  Options o;
  o.mail_dir = cfg.path("local.mail_dir");
  o.host = cfg.hostname();
  o.notify_spool = cfg.path("queue.dir") + "/notify";
  o.inject = default_inject_path();
  o.config_file = cfg.file();
  o.delimiter = cfg.str("local.recipient_delimiter");
  o.default_quota = cfg.bytes("local.default_quota");
  std::string q = cfg.str("local.quota_exceeded");
  if (q != "defer" && q != "bounce")
    return Status::perm("5.3.5", "local.quota_exceeded must be \"defer\" or \"bounce\", not \"" + q + "\"");
  o.quota_bounce = q == "bounce";
  return o;
}

Result<std::string> Deliverer::maildir_of(const std::string& address) const {
  return maildir_path(opt_.mail_dir, address);
}

// Every destination of a job once, however many recipients reach it.
struct Deliverer::Plan {
  std::vector<Resolution> res;  // per recipient, in job order
  std::vector<Box> boxes;
  std::vector<Fwd> fwds;
  std::map<std::string, size_t> box_at, fwd_at;
};

// The one file a job's mailboxes share, written but not yet durable.
struct Deliverer::Staged {
  UniqueFd fd;
  bool unnamed = false;  // O_TMPFILE, linked through /proc/self/fd
  std::string tmp;       // the named file in tmp/ otherwise
  std::string name;      // its base name in every new/
  long long size = 0;
  const std::string* msg = nullptr;  // for a copy on another filesystem
  std::string prefix;
  std::vector<Box*> boxes;  // the mailboxes it goes into
};

// One job of a round, from its reading to its answer.
struct Deliverer::Work {
  std::string msg;
  Status unread = Status::ok();  // why the message could not be read
  Plan plan;
  Staged staged;
};

std::vector<deliver::RcptResult> Deliverer::deliver(const deliver::Job& job, int fd) {
  return std::move(deliver_round({job}, {fd})[0]);
}

// A round in three steps: every job is read, resolved and its file written
// (stage); the files are made durable and linked together, with one fsync
// per new/ directory for the whole round (publish); then each job forwards,
// logs and answers. A job's answer still means what it meant alone: its
// file is synced, linked and its new/ synced before the answer is sent.
std::vector<std::vector<deliver::RcptResult>> Deliverer::deliver_round(const std::vector<deliver::Job>& jobs,
                                                                     const std::vector<int>& fds) {
  std::vector<std::vector<deliver::RcptResult>> out(jobs.size());
  // Sized once: staged files point into the plans.
  std::vector<Work> works(jobs.size());
  // Maildir root -> bytes earlier jobs of this round are about to add
  // there. A root listed here was also found complete in this round, and is
  // not looked at again (three stats a delivery).
  std::map<std::string, long long> promised;
  // One read of the tables for the whole round (resolution, quotas, SMS).
  tables::Snapshot snap(tables_);
  std::vector<Staged*> staged;
  for (size_t k = 0; k < jobs.size(); k++) {
    Work& w = works[k];
    const deliver::Job& job = jobs[k];
    auto msg = read_message(fds[k], job.offset, job.length);
    if (!msg) {
      w.unread = msg.error();
      continue;
    }
    w.msg = std::move(*msg);
    for (const auto& r : job.rcpts) {
      w.plan.res.push_back(resolver_.resolve(r.address));
      for (const auto& d : w.plan.res.back().dests) {
        if (d.kind == Destination::Kind::mailbox) {
          if (w.plan.box_at.emplace(d.address, w.plan.boxes.size()).second) w.plan.boxes.push_back({d, "", "", {}});
        } else if (w.plan.fwd_at.emplace(d.address, w.plan.fwds.size()).second) {
          w.plan.fwds.push_back({d, {}});
        }
      }
    }
    stage_mailboxes(job, w.msg, w.plan.boxes, w.staged, promised);
    if (!w.staged.boxes.empty()) staged.push_back(&w.staged);
  }
  publish(staged);
  for (size_t k = 0; k < jobs.size(); k++) {
    Work& w = works[k];
    const deliver::Job& job = jobs[k];
    if (!w.unread.is_ok()) {
      for (const auto& r : job.rcpts) {
        log::warn({{"qid", job.qid}, {"rcpt", r.address}, {"status", "deferred"}, {"dsn", w.unread.enhanced},
                   {"text", w.unread.text}});
        out[k].push_back({r.index, w.unread, "", ""});
      }
      continue;
    }
    deliver_forwards(job, w.msg, w.plan.fwds);
    for (size_t i = 0; i < job.rcpts.size(); i++)
      out[k].push_back({job.rcpts[i].index, result_for(job, job.rcpts[i], w.plan.res[i], w.plan, jobs.size()), "", ""});
    for (const auto& b : w.plan.boxes)
      if (b.status.is_ok()) notify_sms(job, w.msg, b.dest.address);
  }
  return out;
}

// Logs one line per destination of recipient R and combines their outcomes.
Status Deliverer::result_for(const deliver::Job& job, const deliver::Recipient& r, const Resolution& rs,
                             const Plan& plan, size_t round) const {
  std::vector<std::pair<std::string, Status>> parts;
  if (!rs.status.is_ok()) {
    log::emit(rs.status.is_temp() ? log::Level::warn : log::Level::info,
              {{"qid", job.qid}, {"rcpt", r.address}, {"status", status_word(rs.status)},
               {"dsn", rs.status.enhanced}, {"text", rs.status.text}});
    parts.emplace_back(r.address, rs.status);
  }
  for (const auto& d : rs.dests) {
    bool box = d.kind == Destination::Kind::mailbox;
    const Box* b = box ? &plan.boxes[plan.box_at.at(d.address)] : nullptr;
    const Status& st = box ? b->status : plan.fwds[plan.fwd_at.at(d.address)].status;
    // mailbox= the file delivered, maildir= where it failed, forward= the outside target.
    std::string_view where_key = !box ? "forward" : b->path.empty() ? "maildir" : "mailbox";
    const std::string& where = !box ? d.address : b->path.empty() ? b->root : b->path;
    std::string batch = std::to_string(round);
    log::emit(st.is_ok() ? log::Level::info : log::Level::warn,
              {{"qid", job.qid}, {"rcpt", r.address}, {"to", d.address}, {"status", status_word(st)},
               {"dsn", st.enhanced}, {"text", st.text}, {where_key, where}, {"batch", batch}});
    parts.emplace_back(d.address, st);
  }
  for (const auto& [target, st] : rs.failed) {
    log::warn({{"qid", job.qid}, {"rcpt", r.address}, {"to", target}, {"status", status_word(st)},
               {"dsn", st.enhanced}, {"text", st.text}});
    parts.emplace_back(target, st);
  }
  return combine(parts);
}

void Deliverer::deliver_forwards(const deliver::Job& job, const std::string& msg, std::vector<Fwd>& fwds) {
  for (auto& f : fwds) {
    if (has_delivered_to(msg, f.dest.via)) {
      f.status = Status::perm("5.4.6", "mail loop: already forwarded by " + f.dest.via);
      continue;
    }
    ForwardRequest fr{opt_.inject, opt_.config_file, job.sender, f.dest.address, job.params, opt_.forward_timeout};
    f.status = forward(fr, "Delivered-To: " + header_safe(f.dest.via) + eol_of(msg), msg);
  }
}

void Deliverer::stage_mailboxes(const deliver::Job& job, const std::string& msg, std::vector<Box>& boxes,
                                Staged& staged, std::map<std::string, long long>& promised) {
  std::vector<Box*> ready;
  for (auto& b : boxes) {
    auto root = maildir_of(b.dest.address);
    if (!root) {
      b.status = root.error();
      continue;
    }
    b.root = *root;
    if (has_delivered_to(msg, b.dest.address)) {
      b.status = Status::perm("5.4.6", "mail loop: already delivered to " + b.dest.address);
      continue;
    }
    b.status = promised.count(b.root) ? Status::ok() : ensure_maildir(b.root);
    if (!b.status.is_ok()) continue;
    promised.try_emplace(b.root, 0);
    ready.push_back(&b);
  }
  // One shared copy: Delivered-To only when it names the one mailbox that
  // gets it (docs/sluice-local.md, "Single copy").
  std::string eol = eol_of(msg);
  std::string prefix = "Return-Path: <" + header_safe(job.sender) + ">" + eol;
  if (ready.size() == 1) prefix += "Delivered-To: " + header_safe(ready[0]->dest.address) + eol;
  long long size = static_cast<long long>(prefix.size() + msg.size());
  std::vector<Box*> fits;
  for (Box* b : ready) {
    if (b->dest.quota <= 0) {
      fits.push_back(b);
      continue;
    }
    auto usage = quota_usage(b->root, quota_definition(b->dest.quota));
    if (!usage) {
      b->status = usage.error();
    } else if (long long used = usage->bytes + promised[b->root]; used + size > b->dest.quota) {
      // Counted with what earlier jobs of this round put there: not yet linked, already promised.
      std::string text = "mailbox " + b->dest.address + " is over quota (" + std::to_string(used) + " + " +
                         std::to_string(size) + " > " + std::to_string(b->dest.quota) + " bytes)";
      b->status = opt_.quota_bounce ? Status::perm("5.2.2", text) : Status::temp("4.2.2", text);
    } else {
      fits.push_back(b);
    }
  }
  Status st = stage_shared(msg, prefix, fits, staged);
  if (!st.is_ok())
    for (Box* b : fits) b->status = st;
  else
    for (Box* b : fits) promised[b->root] += size;
}

namespace {

// An unnamed file in DIR (O_TMPFILE), or -1 where the filesystem or the
// kernel has none, or /proc (through which kernels before 6.10 link it)
// is missing.
int open_unnamed(const std::string& dir) {
  static const bool proc = ::access("/proc/self/fd", X_OK) == 0;
  if (!proc) return -1;
  return ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
}

// Gives the unnamed file FD the name DST. linkat(AT_EMPTY_PATH) names it
// straight from the descriptor; without CAP_DAC_READ_SEARCH a kernel allows
// that only since 6.10, and only to the credentials that opened the file
// (ours), and refuses it with ENOENT before. The old way walks
// /proc/self/fd/N, a lookup through procfs of four components that cost
// about a third of the link (profile, 20 SMTP clients). Which one works is
// learned at the first link and kept.
int link_unnamed(int fd, const std::string& dst) {
  static bool by_fd = true;
  if (by_fd) {
    if (::linkat(fd, "", AT_FDCWD, dst.c_str(), AT_EMPTY_PATH) == 0) return 0;
    if (errno != ENOENT && errno != EPERM) return -1;
  }
  std::string self = "/proc/self/fd/" + std::to_string(fd);
  int rc = ::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, dst.c_str(), AT_SYMLINK_FOLLOW);
  // A missing new/ fails both ways: only a success here shows that the
  // descriptor's way is refused.
  if (rc == 0) by_fd = false;
  return rc;
}

// A then B in one writev; a short write is finished plainly.
bool write_two(int fd, std::string_view a, std::string_view b) {
  struct iovec iov[2] = {{const_cast<char*>(a.data()), a.size()}, {const_cast<char*>(b.data()), b.size()}};
  ssize_t n = ::writev(fd, iov, 2);
  if (n < 0 && errno != EINTR) return false;
  size_t done = n < 0 ? 0 : static_cast<size_t>(n);
  if (done < a.size()) return write_all(fd, a.substr(done)) && write_all(fd, b);
  return write_all(fd, b.substr(done - a.size()));
}

}  // namespace

// Writes PREFIX + MSG once, for publish() to make durable and link into
// every mailbox's new/. The file is made as an unnamed file in the first
// mailbox's tmp/ (O_TMPFILE), so nothing ever names it in tmp/: no entry to
// add and remove there, and no sync of tmp/ (ext4 without a journal syncs
// the parent of a new file on its first fsync). Where O_TMPFILE is missing
// the file is named in tmp/ and renamed. On success STAGED holds the file
// and BOXES; on failure nothing is left behind.
Status Deliverer::stage_shared(const std::string& msg, const std::string& prefix, std::vector<Box*>& boxes,
                               Staged& staged) {
  if (boxes.empty()) return Status::ok();
  long long size = static_cast<long long>(prefix.size() + msg.size());
  std::string name = unique_name(opt_.host, size);
  std::string tmpdir = boxes[0]->root + "/tmp";
  UniqueFd f(open_unnamed(tmpdir));
  bool unnamed = bool(f);
  std::string tmp = unnamed ? tmpdir : tmpdir + "/" + name;
  if (!unnamed) f.reset(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!f) return file_error("cannot create", tmp);
  if (!write_two(f.get(), prefix, msg)) {
    Status st = file_error("cannot write", tmp);
    if (!unnamed) ::unlink(tmp.c_str());
    return st;
  }
  staged.fd = std::move(f);
  staged.unnamed = unnamed;
  staged.tmp = tmp;
  staged.name = name;
  staged.size = size;
  staged.msg = &msg;
  staged.prefix = prefix;
  staged.boxes = boxes;
  return Status::ok();
}

// Makes the staged files of a round durable and visible: their writeback
// starts together, each is fsynced, then each is linked into its
// mailboxes' new/, and each new/ is fsynced once for every link the round
// made in it. Readers still see a message only once it is whole and
// durable, as Maildir asks.
// A mailbox on another filesystem (EXDEV) gets its own copy. Each box's
// outcome is in its status.
void Deliverer::publish(std::vector<Staged*>& round) {
  // Several files: start all their writes before waiting on the first, so
  // the disk gets them in one go and each fsync finds its data on the way.
  if (round.size() > 1)
    for (Staged* s : round) ::sync_file_range(s->fd.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
  struct Link {
    Box* box;
    std::string dst;
    long long size;
  };
  std::vector<Link> links;
  // Every fsync before the first link: a link changes the file's inode, and
  // new inodes share inode table blocks, so fsync and link in turn would
  // write the same block again for each file of the round.
  std::vector<Staged*> durable;
  for (Staged* s : round) {
    if (::fsync(s->fd.get()) == 0) {
      durable.push_back(s);
      continue;
    }
    Status st = file_error("cannot write", s->tmp);
    for (Box* b : s->boxes) b->status = st;
    if (!s->unnamed) ::unlink(s->tmp.c_str());
  }
  for (Staged* s : durable) {
    bool tmp_gone = s->unnamed;
    for (size_t i = 0; i < s->boxes.size(); i++) {
      Box* b = s->boxes[i];
      std::string dst = b->root + "/new/" + s->name;
      // A named file: the last mailbox takes it by rename (one directory
      // operation instead of link + unlink); the others get hard links first.
      bool last = i + 1 == s->boxes.size();
      int rc = s->unnamed ? link_unnamed(s->fd.get(), dst)
               : last     ? ::renameat2(AT_FDCWD, s->tmp.c_str(), AT_FDCWD, dst.c_str(), RENAME_NOREPLACE)
                          : ::link(s->tmp.c_str(), dst.c_str());
      if (rc == 0 && last) tmp_gone = true;
      if (rc == 0) {
        links.push_back({b, dst, s->size});
      } else if (errno == EXDEV && i > 0) {
        std::vector<Box*> own{b};
        Staged copy;
        Status st = stage_shared(*s->msg, s->prefix, own, copy);
        if (st.is_ok()) {
          std::vector<Staged*> one{&copy};
          publish(one);
        } else {
          b->status = st;
        }
      } else {
        b->status = file_error("cannot link into", dst);
      }
    }
    if (!tmp_gone) ::unlink(s->tmp.c_str());
  }
  std::map<std::string, Status> synced;  // each new/ once, and how its fsync went
  for (const Link& l : links) {
    std::string dir = l.box->root + "/new";
    auto it = synced.find(dir);
    if (it == synced.end())
      it = synced.emplace(dir, fsync_dir(dir) ? Status::ok() : file_error("cannot sync", dir)).first;
    if (!it->second.is_ok()) {
      l.box->status = it->second;
      ::unlink(l.dst.c_str());
      continue;
    }
    l.box->path = l.dst;
    l.box->status = Status::ok("delivered to " + l.box->dest.address);
    quota_add(l.box->root, l.size, 1);
  }
}

void Deliverer::notify_sms(const deliver::Job& job, const std::string& msg, const std::string& address) {
  auto s = tables_.sms_settings(address);
  if (!s) {
    log::warn({{"qid", job.qid}, {"rcpt", address}, {"event", "sms_lookup_failed"}, {"error", s.error().text}});
    return;
  }
  if (!*s || !(*s)->on || (*s)->phone.empty()) return;
  notify::Request r;
  r.to = (*s)->phone;
  r.rcpt = address;
  r.from = header_value(msg, "From");
  r.subject = header_value(msg, "Subject");
  r.qid = job.qid;
  r.match = (*s)->match;
  r.quiet = (*s)->quiet;
  r.daily_cap = (*s)->daily_cap;
  Status st = notify::enqueue(opt_.notify_spool, r);
  if (!st.is_ok())
    log::warn({{"qid", job.qid}, {"rcpt", address}, {"event", "sms_enqueue_failed"}, {"error", st.text}});
  else
    log::info({{"qid", job.qid}, {"rcpt", address}, {"event", "sms_queued"}, {"phone", r.to}});
}

}  // namespace sluice::local
