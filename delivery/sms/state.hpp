// The per-user limits sluice-sms enforces from the rule in each request:
// quiet hours (no SMS between HH:MM and HH:MM local time; the request
// waits in the spool) and the daily cap (at most N SMS a local calendar
// day; more are dropped with a log line). The day's counts live in
// SPOOL/state/, one small file per user, replaced atomically, so a
// restart keeps them.
#pragma once
#include <ctime>
#include <string>

namespace sluice::sms {

// "HH:MM-HH:MM" into minutes since midnight; false when malformed.
bool parse_quiet(const std::string& q, int& start, int& end);
// Whether LOCAL falls in Q (start inclusive, end exclusive; a window whose
// end is before its start wraps midnight). A malformed or empty Q: never.
bool in_quiet(const std::string& q, const struct tm& local);

class DailyCounts {
 public:
  explicit DailyCounts(std::string dir) : dir_(std::move(dir)) {}
  // SMS counted for WHO on DAY ("2026-11-22").
  int count(const std::string& who, const std::string& day) const;
  // Adds one; false when the state file cannot be written.
  bool add(const std::string& who, const std::string& day);

 private:
  std::string dir_;
  std::string file_of(const std::string& who) const;
};

// The local calendar day of T, "YYYY-MM-DD".
std::string local_day(time_t t);

}  // namespace sluice::sms
