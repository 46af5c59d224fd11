// The text of a notice, and the user's rule that decides whether there is
// one. Headers arrive raw in the request (RFC 2047 encoded words, maybe
// raw 8-bit); GMime decodes them to UTF-8, through iconv, so UTF-8, GB2312,
// GBK, GB18030, Big5 and ISO-8859-x words all come out as the sender wrote.
#pragma once
#include <string>

#include "common/notify_spool.hpp"

namespace sluice::sms {

struct Sender {
  std::string name;  // decoded display name, "" when none
  std::string addr;  // addr-spec, "" when the header has none
};

// RFC 2047 decoding of an unstructured header value (Subject).
std::string decode_text(const std::string& raw);
// The first mailbox of a From: value, its display name decoded.
Sender parse_from(const std::string& raw);

// "From: name <addr> Subj: subject" from the request's headers, or the
// request's own text when it carries one (`sluice sms send`). Control
// characters become spaces and runs of white space one space.
std::string compose(const notify::Request& r);

// The user's rule: no words means every mail; else the decoded sender
// (name or address) or subject contains one of them, case-insensitively
// (ASCII letters; other scripts compare exactly). A request with its own
// text always matches.
bool rule_matches(const notify::Request& r);

}  // namespace sluice::sms
