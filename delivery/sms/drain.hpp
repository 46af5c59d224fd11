// The spool drainer: each pass reads QUEUE_DIR/notify/new/, applies each
// request's rule, quiet hours, daily cap and age limit, hands what may go
// now to the transport in one batch, and removes a request only when the
// transport says the far end accepted it (or it is final: expired, not
// wanted, over the cap, refused for good; each with a log line). A crash
// at any point leaves the file in new/ to be sent again: at-least-once.
#pragma once
#include <ctime>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "common/config.hpp"
#include "common/notify_spool.hpp"
#include "delivery/sms/state.hpp"
#include "delivery/sms/transport.hpp"

namespace sluice::sms {

struct DrainOptions {
  std::string spool;           // QUEUE_DIR/notify
  int max_parts = 1;
  long long max_age = 86400;   // seconds
  long long retry_first = 10;
  long long retry_max = 600;
  size_t batch = 100;          // requests per transport call (SMPP: the window)

  static Result<DrainOptions> from_config(const Config& cfg);
};

using Clock = std::function<time_t()>;

class Drainer {
 public:
  Drainer(DrainOptions o, Transport& t, Clock clock);
  // One pass over the spool; returns how many requests still wait.
  size_t pass();

 private:
  struct Retry {
    time_t next = 0;
    long long delay = 0;
  };
  struct Picked {
    notify::Request req;
    std::string who;  // daily-cap key, "" when the request has no cap
  };
  DrainOptions o_;
  Transport& t_;
  Clock clock_;
  DailyCounts counts_;
  std::map<std::string, Retry> retry_;  // by spool file
  std::set<std::string> quiet_logged_;
  bool spool_ok_ = true;  // logged once when it turns unreadable

  // Decides one request: false when it stays (waits) or was removed.
  bool pick(const notify::Request& r, time_t now, std::map<std::string, int>& in_batch, std::string& who,
            size_t& waiting);
  void finish(const Picked& p, const Message& m, const Status& s, time_t now);
  void remove(const notify::Request& r);
};

}  // namespace sluice::sms
