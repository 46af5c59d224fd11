// The SMTP command line and its parameters (RFC 5321 4.1, with the
// ESMTP parameters of SIZE, 8BITMIME, DSN, SMTPUTF8 and AUTH). Pure
// functions over bytes from the network: no I/O, fuzzed by
// tests/fuzz/smtp_command.cpp.
//
// A refusal is a Reply (code, enhanced status, text), never an exception,
// so the session sends it as it is.
#pragma once
#include "common/deliver_proto.hpp"
#include <optional>
#include <string>
#include <string_view>

#include "common/address.hpp"

namespace sluice::smtpd {

struct Reply {
  int code = 250;
  std::string enhanced;  // "" for replies without one (220, 221 greeting-type lines keep it too)
  std::string text;
  std::string line() const;  // "550 5.1.1 text" without CRLF
};

// Longest command line accepted, CRLF excluded. RFC 5321 4.5.3.1.4 says
// 512 with CRLF, raised by every extension that adds parameters; DSN's
// ORCPT and SMTPUTF8 addresses need more, so 2048 like Postfix.
inline constexpr size_t kMaxCommandLine = 2048;

struct Command {
  std::string verb;  // upper case ASCII; "" when the line has no verb
  std::string arg;   // the rest, after one space; may be empty
};

// Splits LINE (no CRLF) into verb and argument. A line with a NUL byte or
// any other control character than tab gives an error reply (500 5.5.2).
std::optional<Reply> split_command(std::string_view line, Command& out);

struct MailArgs {
  addr::Address sender;     // null() for <>
  long long size = -1;      // SIZE=, -1 when absent
  std::string body;         // "", "7BIT" or "8BITMIME"
  std::string ret;          // "", "FULL" or "HDRS"
  std::string envid;        // decoded xtext, "" when absent
  bool smtputf8 = false;
};

struct RcptArgs {
  addr::Address rcpt;
  bool postmaster = false;  // "<Postmaster>" without a domain (RFC 5321 4.1.1.3)
  std::string notify;       // "", "NEVER" or a list of SUCCESS,FAILURE,DELAY
  std::string orcpt;        // "" or "rfc822;addr" (xtext decoded)
};

// ARG is what follows the verb: "FROM:<a@b> SIZE=10" / "TO:<c@d> NOTIFY=NEVER".
// A space after the colon is tolerated (many clients send one).
std::optional<Reply> parse_mail(std::string_view arg, MailArgs& out);
std::optional<Reply> parse_rcpt(std::string_view arg, RcptArgs& out);

// RFC 3461 4: xtext ("+XX" upper-case hex escapes for '+', '=' and bytes
// outside 33..126), as the deliver protocol decodes it. False when malformed.
using deliver::xtext_decode;

// BDAT's argument "SIZE [LAST]". False on bad syntax.
bool parse_bdat(std::string_view arg, long long& size, bool& last);

// Base64 for AUTH (RFC 4954): false on malformed input.
bool base64_decode(std::string_view in, std::string& out);
std::string base64_encode(std::string_view in);

// AUTH PLAIN's decoded response "authzid\0authcid\0passwd" (RFC 4616).
// False when malformed, or when authzid names someone else.
bool parse_plain(std::string_view decoded, std::string& user, std::string& password);

}  // namespace sluice::smtpd
