// queue/notify/: durable SMS notification requests, written by sluice-local
// (or `sluice sms send`) and drained by sluice-sms. One file per request,
// made by write-to-tmp, fsync, rename into notify/new/, fsync dir, so a
// request is either whole or absent. sluice-sms removes a file only after
// the SMS centre or gateway accepted it.
//
// File: key=value lines, values xtext-encoded (RFC 3461):
//   to=+8613800138000   (E.164)
//   rcpt=user@domain    (the mailbox the mail arrived in; "" for manual)
//   from=...            (raw From: header value, RFC 2047 words undecoded)
//   subject=...         (raw Subject: header value, undecoded)
//   text=...            (UTF-8, already composed: `sluice sms send`)
//   qid=...             (the mail's queue id, or "manual")
//   created=UNIXTIME
//   match=WORD          (repeated; the user's rule: none means all mail)
//   quiet=HH:MM-HH:MM   (the user's quiet hours, local time; may be absent)
//   daily_cap=N         (at most N SMS a day for rcpt; absent or 0: none)
// The rule travels in the request because sluice-sms never reads the
// tables; files written before these keys existed parse with an empty rule.
// A request carries either text, or from/subject that sluice-sms decodes,
// matches against the user's rule and composes; sluice-sms also applies
// quiet hours and the daily cap, so those hold however the request came.
#pragma once
#include <string>
#include <vector>

#include "common/status.hpp"

namespace sluice::notify {

struct Request {
  std::string to;
  std::string rcpt;
  std::string from;
  std::string subject;
  std::string text;
  std::string qid;
  long long created = 0;
  std::vector<std::string> match;
  std::string quiet;
  int daily_cap = 0;
  std::string file;  // set by list(): absolute path of the spool file
};

// SPOOL is the queue's notify directory (QUEUE_DIR/notify). Creates
// SPOOL/tmp and SPOOL/new as needed.
Status enqueue(const std::string& spool, Request r);
// Requests waiting in SPOOL/new, oldest first. Unreadable files are skipped
// with a log line, never deleted.
std::vector<Request> list(const std::string& spool);
Result<Request> parse(const std::string& content);
std::string serialize(const Request& r);

}  // namespace sluice::notify
