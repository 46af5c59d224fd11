#include "delivery/sms/split.hpp"

#include "delivery/sms/encode.hpp"

namespace sluice::sms {
namespace {

constexpr size_t kGsmSingle = 160, kGsmPart = 153, kUcsSingle = 140, kUcsPart = 134;

// Each character's octets, so cuts fall between characters.
std::vector<std::string> units(const std::u32string& text, bool gsm) {
  std::vector<std::string> out;
  out.reserve(text.size());
  for (char32_t c : text) out.push_back(gsm ? gsm7_char(c) : ucs2_char(c));
  return out;
}

size_t total_size(const std::vector<std::string>& u) {
  size_t n = 0;
  for (const auto& s : u) n += s.size();
  return n;
}

// Packs U into parts of at most LIMIT octets; stops after MAX parts and
// reports whether everything fitted.
bool pack(const std::vector<std::string>& u, size_t limit, int max, std::vector<std::string>& parts) {
  parts.assign(1, "");
  for (const auto& s : u) {
    if (parts.back().size() + s.size() > limit) {
      if (static_cast<int>(parts.size()) == max) return false;
      parts.emplace_back();
    }
    parts.back() += s;
  }
  return true;
}

}  // namespace

Encoded split(const std::string& text, int max_parts) {
  if (max_parts < 1) max_parts = 1;
  std::u32string t = utf8_decode(text);
  Encoded e;
  bool gsm = gsm7_encode(t).has_value();
  e.data_coding = gsm ? kDataCodingDefault : kDataCodingUcs2;
  size_t single = gsm ? kGsmSingle : kUcsSingle, part = gsm ? kGsmPart : kUcsPart;
  std::vector<std::string> u = units(t, gsm);
  e.text = text;
  if (total_size(u) <= single) {
    e.parts.emplace_back();
    for (const auto& s : u) e.parts.back() += s;
    return e;
  }
  size_t limit = max_parts == 1 ? single : part;
  if (pack(u, limit, max_parts, e.parts)) return e;
  // Too long: drop characters from the end until the text and "..." fit.
  const std::u32string kDots = U"...";
  std::vector<std::string> dots = units(kDots, gsm);
  e.trimmed = true;
  size_t room = limit * max_parts, size = total_size(u);
  while (!u.empty() && size > room) {
    size -= u.back().size();
    u.pop_back();
  }
  while (!u.empty()) {
    u.pop_back();
    std::vector<std::string> v = u;
    v.insert(v.end(), dots.begin(), dots.end());
    if (pack(v, limit, max_parts, e.parts)) break;
  }
  e.text = utf8_encode(t.substr(0, u.size()) + kDots);
  return e;
}

std::string with_udh(const std::string& payload, uint8_t ref, int total, int seq) {
  std::string h = {'\x05', '\x00', '\x03', static_cast<char>(ref), static_cast<char>(total),
                   static_cast<char>(seq)};
  return h + payload;
}

}  // namespace sluice::sms
