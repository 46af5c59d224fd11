// The message as sluice-local sees it: bytes read from the job's fd, and
// the few header fields it needs (Delivered-To for loops, From and Subject
// for SMS notices). Only the header section is looked at; the body is
// never parsed.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace sluice::local {

// Reads [OFFSET, OFFSET+LENGTH) of FD (LENGTH -1: to end of file) with
// pread; a pipe or terminal (standalone mode, fd 0) is simply read to EOF.
// A short file (fewer bytes than LENGTH) is an error: the queue file was
// cut, and delivering a truncated message would be worse than retrying.
Result<std::string> read_message(int fd, long long offset, long long length);

// Values of every header field NAME (case-insensitive) in the header
// section of MSG, unfolded (the line breaks before continuation
// whitespace removed) and with leading/trailing whitespace trimmed.
std::vector<std::string> header_values(std::string_view msg, std::string_view name);

// The first value of NAME, or "" when absent.
std::string header_value(std::string_view msg, std::string_view name);

// True when MSG has a Delivered-To field naming ADDRESS (ASCII
// case-insensitive, angle brackets and whitespace ignored).
bool has_delivered_to(std::string_view msg, std::string_view address);

}  // namespace sluice::local
