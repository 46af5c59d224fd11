// Small text helpers several programs share.
#pragma once
#include <string_view>
#include <vector>

namespace sluice {

// The lines of S split at LF (the LF dropped; a last line without LF kept,
// none after a final LF). The views point into S.
std::vector<std::string_view> split_lines(std::string_view s);

// S as an unsigned decimal number: 1 to 18 digits, nothing else (so it
// always fits a long long). False, with V unspecified, otherwise.
bool parse_decimal(std::string_view s, long long& v);
// The same with an optional leading '-'.
bool parse_signed_decimal(std::string_view s, long long& v);

}  // namespace sluice
