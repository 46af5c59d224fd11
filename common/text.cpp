#include "common/text.hpp"

namespace sluice {

std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find('\n', i);
    if (j == std::string_view::npos) j = s.size();
    out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool parse_decimal(std::string_view s, long long& v) {
  if (s.empty() || s.size() > 18) return false;
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  return true;
}

bool parse_signed_decimal(std::string_view s, long long& v) {
  bool neg = !s.empty() && s[0] == '-';
  if (!parse_decimal(s.substr(neg ? 1 : 0), v)) return false;
  if (neg) v = -v;
  return true;
}

}  // namespace sluice
