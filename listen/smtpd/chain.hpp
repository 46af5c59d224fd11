// The post-DATA filter chain (DESIGN.md "Filters"): the configured argv
// with sluice-inject appended, started once per message with the message
// on fd 0, the envelope on fd 1 and a pipe on fd 2 for its reply line.
// The event loop never blocks on it: the pipes are asynchronous and the
// child's exit is awaited through a pidfd. A chain that dies or runs past
// its deadline gives a temporary refusal, never "accept unfiltered".
#pragma once
#include <asio.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "listen/smtpd/conn.hpp"

namespace sluice::smtpd {

// ARGV[0] without a slash is looked for beside this executable first
// (bin/sluice-filter-*), then in PATH.
std::vector<std::string> chain_argv(const std::vector<std::string>& filters, const std::string& exe_dir);

// The reply line in what the chain wrote on fd 2: the last line that is
// "4.x.x text", "5.x.x text" or "550 5.x.x text"; "" when none. The other
// lines (log lines of the chain's programs) go to OTHER.
std::string reply_line_of(const std::string& stderr_text, std::string* other);

// Runs ARGV; the result is sluice-inject's exit status and reply line, or
// 75 with a 4.x.x text when the chain could not run, was killed, or was
// still running after TIMEOUT (its whole process group is then killed).
asio::awaitable<InjectResult> run_chain(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                                        const std::string& envelope, const std::string& message);

}  // namespace sluice::smtpd
