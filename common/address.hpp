// RFC 5321 / RFC 5322 / RFC 6531 mail addresses.
//
// An Address holds the *semantic* local part (quotes and quoted-pairs
// removed: `"a b"@x` is local = `a b`) and the domain as written (a
// hostname, a U-label domain, or an address literal with its brackets:
// "[192.0.2.1]", "[IPv6:2001:db8::1]"). str() re-quotes the local part when
// it is not a valid dot-string, so parse_mailbox(a.str()) == a.
//
// Errors are Status::perm with enhanced code "5.1.3" (bad syntax) and a
// one-line text. Limits (RFC 5321 4.5.3.1): local part 64 octets, domain
// 255, path 256; exceeding one gives a text containing "too long". A caller
// checking a sender may change the code to "5.1.7" (bad sender mailbox
// syntax): `auto st = r.error(); st.enhanced = "5.1.7";`.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace sluice::addr {

struct Address {
  std::string local, domain;

  // The null reverse-path "<>".
  bool null() const { return local.empty() && domain.empty(); }
  // "local@domain", the local part quoted when needed; "" for null.
  std::string str() const;
  // True when the address holds non-ASCII bytes (needs SMTPUTF8).
  bool needs_smtputf8() const;
  bool operator==(const Address&) const = default;
};

// RFC 5321 Mailbox without angle brackets: "user@example.org".
// ALLOW_UTF8: accept RFC 6531 UTF-8 local parts and U-label domains
// (validated as well-formed UTF-8).
Result<Address> parse_mailbox(std::string_view s, bool allow_utf8 = true);

// RFC 5321 Path as in MAIL FROM / RCPT TO: "<user@example.org>", with an
// obsolete source route "<@a,@b:user@x>" accepted and ignored. "<>" gives
// the null Address when ALLOW_NULL, else an error. The domain-less
// "<Postmaster>" of RCPT TO (RFC 5321 4.1.1.3) is refused here like any
// address without a domain: sluice-smtpd maps it to postmaster@hostname.
Result<Address> parse_path(std::string_view s, bool allow_utf8, bool allow_null);

// RFC 5322 address-list (the value of From/To/Cc/Bcc, unfolded or folded):
// display names, comments, groups ("list: a@x, b@y;"), quoted strings,
// angle addresses. Empty groups contribute nothing. Used by `sendmail -t`.
// UTF-8 is accepted (RFC 6532).
Result<std::vector<Address>> parse_header_addresses(std::string_view value);

// Length of the "<...>" path at the start of S (through its closing '>',
// '>' inside a quoted local part skipped), or std::string_view::npos when
// S does not start with a complete path. For splitting "MAIL FROM:<a@b> SIZE=1".
std::size_t path_length(std::string_view s);

// ASCII lowercase; other bytes unchanged.
std::string lower_ascii(std::string_view s);

// Domain syntax alone (hostname with LDH labels, U-labels when ALLOW_UTF8,
// or an address literal in brackets). Error like parse_mailbox's.
Status check_domain(std::string_view d, bool allow_utf8 = true);

}  // namespace sluice::addr
