#include "listen/smtpd/admission.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <utility>

namespace sluice::smtpd {

namespace {
constexpr uint64_t k12 = 0xfff, k16 = 0xffff, k24 = 0xffffff;

uint64_t load(const uint64_t& v) {
  return std::atomic_ref<uint64_t>(const_cast<uint64_t&>(v)).load(std::memory_order_relaxed);
}
void store(uint64_t& v, uint64_t x) { std::atomic_ref<uint64_t>(v).store(x, std::memory_order_relaxed); }
int64_t load(const int64_t& v) {
  return std::atomic_ref<int64_t>(const_cast<int64_t&>(v)).load(std::memory_order_relaxed);
}
void store(int64_t& v, int64_t x) { std::atomic_ref<int64_t>(v).store(x, std::memory_order_relaxed); }

// Rate words: [tag:24][minute:16][prev:12][cur:12]; counts saturate.
uint64_t rate_word(uint32_t tag, uint64_t minute, uint64_t prev, uint64_t cur) {
  return (uint64_t{tag & k24} << 40) | ((minute & k16) << 24) | (std::min(prev, k12) << 12) | std::min(cur, k12);
}
uint32_t rate_tag(uint64_t w) { return static_cast<uint32_t>(w >> 40); }

// A rate word's counts seen from MINUTE: {previous minute, this minute}.
std::pair<uint64_t, uint64_t> rate_counts(uint64_t w, uint64_t minute) {
  uint64_t m = (w >> 24) & k16, prev = (w >> 12) & k12, cur = w & k12;
  if (m == (minute & k16)) return {prev, cur};
  if (m == ((minute - 1) & k16)) return {cur, 0};
  return {0, 0};
}

// The minute of LOCAL's counts moved to MINUTE.
void roll(uint64_t& at, uint64_t& prev, uint64_t& cur, uint64_t minute) {
  if (at == minute) return;
  prev = at + 1 == minute ? cur : 0;
  cur = 0;
  at = minute;
}

template <class F>
void each_region(const shared::Mapping& map, F f) {
  uint64_t used = map.in_use();
  while (used) {
    int k = __builtin_ctzll(used);
    used &= used - 1;
    f(k);
  }
}
}  // namespace

Admission::Admission(shared::Mapping map, int mine) : map_(std::move(map)), mine_(mine), seed_(map_.seed()) {}

Admission Admission::alone() {
  auto m = shared::Mapping::private_one();
  // Without even an anonymous mapping the process cannot run anyway.
  if (!m) std::abort();
  return Admission(std::move(*m), 0);
}

Admission::Key Admission::key(const std::string& ip) const {
  // FNV-1a from the seed, then the splitmix64 finaliser to spread it;
  // a second round gives the rest of the bits.
  auto mix = [](uint64_t h) {
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
  };
  uint64_t h = 0xcbf29ce484222325ULL ^ seed_;
  for (unsigned char c : ip) h = (h ^ c) * 0x100000001b3ULL;
  uint64_t a = mix(h), b = mix(a ^ seed_);
  Key k;
  k.tag = static_cast<uint32_t>(b >> 32) | 1;  // never 0
  k.session_bucket[0] = static_cast<int>(a % kSessionBuckets);
  k.session_bucket[1] = static_cast<int>((a >> 20) % kSessionBuckets);
  k.rate_bucket[0] = static_cast<int>((a >> 40) % kRateBuckets);
  k.rate_bucket[1] = static_cast<int>(b % kRateBuckets);
  // Two different buckets, or a reader would count one slot twice.
  if (k.session_bucket[1] == k.session_bucket[0]) k.session_bucket[1] = (k.session_bucket[0] + 1) % kSessionBuckets;
  if (k.rate_bucket[1] == k.rate_bucket[0]) k.rate_bucket[1] = (k.rate_bucket[0] + 1) % kRateBuckets;
  return k;
}

namespace {
// Finds WHO's slot in the two buckets, or else a free one in the bucket
// with more free slots (two choices keep the fullest bucket short); null
// when all 8 are taken. MINE and FREE tell a slot's owner and freedom.
template <class Mine, class Free>
uint64_t* find_slot(uint64_t (&b0)[kSlots], uint64_t (&b1)[kSlots], Mine mine, Free is_free) {
  uint64_t* first_free[2] = {nullptr, nullptr};
  int free_count[2] = {0, 0};
  uint64_t (*buckets[2])[kSlots] = {&b0, &b1};
  for (int i = 0; i < 2; i++)
    for (uint64_t& slot : *buckets[i]) {
      uint64_t w = load(slot);
      if (is_free(w)) {
        if (!first_free[i]) first_free[i] = &slot;
        free_count[i]++;
      } else if (mine(w)) {
        return &slot;
      }
    }
  return free_count[1] > free_count[0] ? first_free[1] : first_free[0];
}
}  // namespace

void Admission::publish_sessions(const Key& k, uint64_t count) {
  uint64_t* slot = find_slot(
      own().sessions[k.session_bucket[0]], own().sessions[k.session_bucket[1]],
      [&](uint64_t w) { return (w >> 32) == k.tag; }, [](uint64_t w) { return (w & 0xffffffff) == 0; });
  if (!slot) return;  // all taken: this client's count stays private
  if (count == 0 && (load(*slot) >> 32) != k.tag) return;
  store(*slot, count ? (uint64_t{k.tag} << 32) | count : 0);
}

void Admission::publish_rate(const Key& k, const Local& l) {
  uint32_t tag = k.tag & k24;
  uint64_t* slot = find_slot(
      own().rate[k.rate_bucket[0]], own().rate[k.rate_bucket[1]], [&](uint64_t w) { return rate_tag(w) == tag; },
      [&](uint64_t w) {
        auto [prev, cur] = rate_counts(w, l.minute);
        return prev == 0 && cur == 0;
      });
  if (slot) store(*slot, rate_word(tag, l.minute, l.prev, l.cur));
}

long long Admission::others_sessions(const Key& k) const {
  long long n = 0;
  each_region(map_, [&](int r) {
    if (r == mine_) return;
    for (int b : k.session_bucket)
      for (const uint64_t& slot : at(r).sessions[b]) {
        uint64_t w = load(slot);
        if ((w & 0xffffffff) != 0 && (w >> 32) == k.tag) n += static_cast<long long>(w & 0xffffffff);
      }
  });
  return n;
}

double Admission::rate_estimate(const Key& k, const Local& l, long long now) const {
  uint64_t prev = l.prev, cur = l.cur;
  uint32_t tag = k.tag & k24;
  each_region(map_, [&](int r) {
    if (r == mine_) return;
    for (int b : k.rate_bucket)
      for (const uint64_t& slot : at(r).rate[b]) {
        uint64_t w = load(slot);
        if (rate_tag(w) != tag) continue;
        auto [p, c] = rate_counts(w, l.minute);
        prev += p;
        cur += c;
      }
  });
  double weight = static_cast<double>(60 - now % 60) / 60.0;  // share of the last minute still in the window
  return static_cast<double>(prev) * weight + static_cast<double>(cur);
}

long long Admission::total() const {
  long long n = 0;
  each_region(map_, [&](int r) { n += load(at(r).total); });
  return n;
}

long long Admission::sessions_of(const std::string& ip) const {
  auto it = local_.find(ip);
  return others_sessions(key(ip)) + (it == local_.end() ? 0 : static_cast<long long>(it->second.sessions));
}

void Admission::prune(uint64_t minute) {
  // Bounded private memory: clients with no session and no recent
  // connection are forgotten (their published slots are already free).
  std::erase_if(local_, [&](const auto& kv) { return kv.second.sessions == 0 && kv.second.minute + 1 < minute; });
}

const char* Admission::admit(const std::string& ip, long long now, const Gates& g) {
  uint64_t minute = static_cast<uint64_t>(now / 60);
  if (local_.size() > 20000) prune(minute);
  Key k = key(ip);
  Local& l = local_[ip];
  const char* refused = nullptr;
  if (g.rate > 0) {
    roll(l.minute, l.prev, l.cur, minute);
    l.cur++;
    publish_rate(k, l);
    // The attempt itself is counted: the rate-th connection passes.
    if (rate_estimate(k, l, now) > static_cast<double>(g.rate)) refused = "rate";
  }
  if (!refused && g.sessions > 0 && total() >= g.sessions) refused = "sessions";
  if (!refused && g.sessions_per_ip > 0 &&
      static_cast<long long>(l.sessions) + others_sessions(k) >= g.sessions_per_ip)
    refused = "sessions_per_ip";
  if (refused) {
    if (l.sessions == 0 && l.cur == 0) local_.erase(ip);
    return refused;
  }
  publish_sessions(k, ++l.sessions);
  store(own().total, load(own().total) + 1);
  return nullptr;
}

void Admission::release(const std::string& ip) {
  auto it = local_.find(ip);
  if (it == local_.end() || it->second.sessions == 0) return;
  publish_sessions(key(ip), --it->second.sessions);
  store(own().total, load(own().total) - 1);
}

}  // namespace sluice::smtpd
