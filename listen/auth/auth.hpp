// sluice-auth's work: the answers to the listeners' questions, and the
// per-IP failure counts that drive temporary bans across every listener
// process (they all ask here).
//
// Line protocol on RUN_DIR/auth.sock (one request line, one answer line;
// a connection may carry several):
//   rcpt ADDRESS [SIZE]       -> local | remote | unknown ENH TEXT | full ENH TEXT | temp TEXT
//   login IP USER PASSWORD    -> ok | fail | ban | temp TEXT
//   sendas USER ADDRESS       -> yes | no | temp TEXT
// PASSWORD is the rest of the line (it may hold spaces, never CR, LF, NUL).
// "remote": the domain is not ours (the listener decides about relaying).
// "full": every mailbox ADDRESS reaches is over its quota for a message of
// SIZE bytes (0: unknown); ENH is 4.2.2 or 5.2.2. Asked of sluice-quota
// (RUN_DIR/quota.sock), which runs as the mailboxes' owner, and only for
// recipients with a quota; when it cannot answer the recipient is "local"
// and sluice-local enforces the quota at delivery.
// "sendas": may the authenticated USER use ADDRESS as the envelope
// sender? Yes for USER itself (and USER+tag), and for an alias that has
// USER among its targets.
// "ban": IP has failed auth.max_failures times within auth.ban_time; it is
// answered without checking the password until the ban ends.
#pragma once
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/tables.hpp"

namespace sluice::auth {

class Bans {
 public:
  Bans(long long max_failures, long long ban_seconds) : max_(max_failures), window_(ban_seconds) {}
  bool banned(const std::string& ip, long long now);
  // Counts a failure; true when IP is banned from now on.
  bool failure(const std::string& ip, long long now);

 private:
  struct Entry {
    long long count = 0;
    long long first = 0;         // time of the first failure counted
    long long banned_until = 0;
  };
  void expire(long long now);  // bounds the map: drops entries that no longer matter
  std::mutex mu_;
  std::unordered_map<std::string, Entry> ips_;
  long long max_, window_;
};

struct Settings {
  std::string delimiter;   // local.recipient_delimiter
  long long default_quota = 0;
  std::string quota_socket;  // RUN_DIR/quota.sock; empty: no quota check
};

// Answers one request line with TABLES (one connection's handle).
std::string answer(std::string_view line, tables::Tables& tables, Bans& bans, const Settings& s, long long now);

}  // namespace sluice::auth
