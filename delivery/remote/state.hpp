// What the members of the sluice-remote pool share, as files in
// remote.state_dir (made 0700 by the first member; it must be writable by
// accounts.remote):
//   down/DEST     a destination none of whose addresses answered; its mtime
//                 is when, its content why. Skipped for remote.down_time, so
//                 a thousand messages for it do not each wait for time-outs.
//   slot/DEST.N   N < remote.destination_concurrency; a member holds an
//                 flock on one for each connection it has open to DEST.
// When the directory cannot be made, marks live in each process only (said
// once in the log) and there is no per-destination limit.
#pragma once
#include <map>
#include <optional>
#include <string>

#include "common/fd.hpp"

namespace sluice::remote {

class State {
 public:
  State(std::string dir, long long down_time_s);
  bool shared() const { return shared_; }

  // The reason DEST was marked down, while the mark lasts.
  std::optional<std::string> down(const std::string& dest);
  void mark_down(const std::string& dest, const std::string& why);
  void clear_down(const std::string& dest);

  // A connection slot for DEST out of MAX, waiting up to WAIT_MS for one.
  // An invalid fd when none came free (or, unshared, a valid dummy).
  UniqueFd acquire_slot(const std::string& dest, long long max, long long wait_ms);

  static std::string file_name(const std::string& dest);

 private:
  std::string dir_;
  long long down_time_;
  bool shared_ = false;
  std::map<std::string, std::pair<long long, std::string>> mem_;
};

}  // namespace sluice::remote
