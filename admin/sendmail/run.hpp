// sendmail's entry point after main(): parses ARGV (without argv[0]) and
// runs the mode. AS_MAILQ: called as mailq. Returns the exit status.
#pragma once
#include <string>
#include <vector>

namespace sluice::sendmail {
int run(const std::vector<std::string>& argv, bool as_mailq);
}
