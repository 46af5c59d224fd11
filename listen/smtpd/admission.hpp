// The session gates every worker must agree on: sessions in total, sessions
// per client IP, and connections per client IP per minute (limits.*).
//
// Each worker keeps exact counts of its own clients in private memory and
// publishes them in its region of the shared memory file sluice-start
// gives the smtpd pool (common/shared_regions.hpp); it reads every region
// in use, so the limits hold for the pool as a whole, and a worker that
// dies takes its counts with it. Two workers admitting the same client at
// the same instant may both pass: a limit can be exceeded by at most
// workers - 1 sessions.
//
// A published count is one 64-bit word, a tag from a keyed hash of the IP
// beside the count, stored in one of 8 slots (two buckets of 4, chosen by
// the same hash), so a reader never sees half an entry and two clients are
// never summed together unless tag and buckets all collide. The hash key
// is random per start, so collisions cannot be planned. When all 8 slots
// of a client are taken (a flood of distinct clients), its count stays
// private to its worker: the gate is then per worker for that client,
// never stricter than configured.
//
// The connection rate is a sliding window: the previous minute's count,
// weighted by how much of it is still within the last 60 seconds, plus
// this minute's. Counts saturate at 4095 a minute, so limits.connection_rate
// is at most 4000.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>

#include "common/shared_regions.hpp"
#include "listen/smtpd/gates.hpp"

namespace sluice::smtpd {

inline constexpr int kSessionBuckets = 8192;
inline constexpr int kRateBuckets = 16384;
inline constexpr int kSlots = 4;

// One worker's region.
struct Counters {
  int64_t total;
  uint64_t sessions[kSessionBuckets][kSlots];  // [tag:32][count:32], count 0: free
  uint64_t rate[kRateBuckets][kSlots];         // [tag:24][minute:16][previous minute:12][this minute:12]
};
static_assert(sizeof(Counters) <= shared::kRegionBytes);

class Admission {
 public:
  // Publishes in region MINE of MAP; reads every region MAP says is in use.
  Admission(shared::Mapping map, int mine);
  // A private mapping: this process counts alone (no sluice-start).
  static Admission alone();

  // Counts a session it lets in and returns nullptr, or returns the name
  // of the gate that refuses it. Every attempt counts towards the rate,
  // refused ones too, so hammering does not help.
  const char* admit(const std::string& ip, long long now, const Gates& g);
  void release(const std::string& ip);

  // What the pool counts now (for tests and logs).
  long long total() const;
  long long sessions_of(const std::string& ip) const;

 private:
  struct Key {
    uint32_t tag;
    int session_bucket[2];
    int rate_bucket[2];
  };
  struct Local {
    uint64_t sessions = 0;
    uint64_t minute = 0, prev = 0, cur = 0;
  };
  shared::Mapping map_;
  int mine_;
  uint64_t seed_;
  std::unordered_map<std::string, Local> local_;

  Counters& own() const { return *static_cast<Counters*>(map_.region(mine_)); }
  const Counters& at(int k) const { return *static_cast<const Counters*>(map_.region(k)); }
  Key key(const std::string& ip) const;
  void publish_sessions(const Key& k, uint64_t count);
  void publish_rate(const Key& k, const Local& l);
  long long others_sessions(const Key& k) const;
  double rate_estimate(const Key& k, const Local& l, long long now) const;
  void prune(uint64_t minute);
};

}  // namespace sluice::smtpd
