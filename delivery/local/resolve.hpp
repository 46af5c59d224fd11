// Where a recipient's mail goes: the table lookups of sluice-local.
//
// Order for an address in a local domain (docs/tables.md):
//   1. user ADDRESS                    -> its mailbox
//   2. alias ADDRESS                   -> each target, expanded again
//   3. with the recipient delimiter, user+tag@d: steps 1-2 for user@d
//   4. catch-all alias "@d"            -> each target, expanded again
//   5. otherwise                       -> 5.1.1 unknown user
// A target in a domain that is not local is an outside address: the mail
// is forwarded there. Expansion stops at kMaxDepth levels and
// kMaxDestinations results; an address met twice is expanded once, so
// alias cycles end and a mailbox reached twice gets one copy.
#pragma once
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "common/tables.hpp"

namespace sluice::local {

inline constexpr int kMaxDepth = 20;
inline constexpr size_t kMaxDestinations = 1000;

struct Destination {
  enum class Kind { mailbox, forward };
  Kind kind = Kind::mailbox;
  std::string address;   // lowercased mailbox address, or the outside target
  std::string via;       // the alias (or recipient) that led here; "" when direct
  long long quota = 0;   // mailbox: limit in bytes, 0 none
};

struct Resolution {
  // Not ok: nothing can be delivered for this recipient (tables error,
  // unknown user, not a local domain, bad address).
  Status status;
  std::vector<Destination> dests;
  // Alias targets that failed while others resolved: "target: reason".
  std::vector<std::pair<std::string, Status>> failed;
};

class Resolver {
 public:
  // DELIMITER: the recipient delimiter ("" for none). DEFAULT_QUOTA: the
  // quota of users whose quota_bytes is -1.
  Resolver(tables::Tables& t, std::string delimiter, long long default_quota)
      : tables_(t), delimiter_(std::move(delimiter)), default_quota_(default_quota) {}

  Resolution resolve(std::string_view rcpt);

 private:
  struct Walk {
    Resolution res;
    std::set<std::string> seen;
    bool tables_failed = false;
  };
  // Expands ADDRESS (canonical, lowercased) into W's destinations.
  void expand(const std::string& address, const std::string& via, int depth, Walk& w);
  // Steps 1-2 for ADDRESS: true when it is a user or an alias.
  bool lookup(const std::string& address, const std::string& via, int depth, Walk& w);
  void expand_targets(const std::vector<std::string>& targets, const std::string& via, int depth, Walk& w);
  void fail(Walk& w, const std::string& address, int depth, Status st);
  void tables_error(Walk& w, const Status& st);

  tables::Tables& tables_;
  std::string delimiter_;
  long long default_quota_;
};

// "local@domain" split at the last '@'; false when there is none.
bool split_address(std::string_view a, std::string& local, std::string& domain);

}  // namespace sluice::local
