// The message as sluice-remote sends it: read from the queue file's
// descriptor, converted to 7 bits for a peer without 8BITMIME (RFC 6152),
// and framed for DATA (CRLF, dot-stuffing) or BDAT (CRLF only).
#pragma once
#include <string>
#include <string_view>

#include "common/status.hpp"

namespace sluice::remote {

// Bytes [OFFSET, OFFSET+LENGTH) of FD (LENGTH -1: to the end).
Result<std::string> read_message(int fd, long long offset, long long length);

bool has_8bit(std::string_view s);
// The header block (up to the first empty line).
std::string_view header_of(std::string_view msg);

// Quoted-printable (RFC 2045 6.7) of a body with LF line ends; lines of at
// most 76 characters.
std::string qp_encode(std::string_view body);

// As Postfix does for a peer without 8BITMIME: every MIME leaf with 8-bit
// content and a 7bit/8bit (or no) transfer encoding becomes
// quoted-printable. Fails with 5.6.3 when that cannot be done: 8-bit
// header fields, or 8-bit content labelled "binary".
Result<std::string> downgrade_8bit(std::string_view msg);

// LF -> CRLF, and for DATA a leading dot doubled (RFC 5321 4.5.2); ends
// with CRLF. Does not add the final ".".
std::string frame(std::string_view msg, bool dot_stuff);

}  // namespace sluice::remote
