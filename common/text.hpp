// Small text helpers several programs share.
#pragma once
#include <string_view>
#include <vector>

namespace sluice {

// The lines of S split at LF (the LF dropped; a last line without LF kept,
// none after a final LF). The views point into S.
std::vector<std::string_view> split_lines(std::string_view s);

}  // namespace sluice
