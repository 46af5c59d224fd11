// The milter protocol, version 6, as Sendmail's libmilter and Postfix
// speak it: packets (a 4-byte length in network order, a command byte,
// data), the option negotiation, and the edits a milter asks for at the
// end of a message, applied to a message with LF line endings.
//
// Pure data and functions: the connection is milter.hpp's. A milter's
// answers are hostile input (a milter may be remote, buggy or someone
// else's): every decoder checks lengths and terminators and says no.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::smtpd::milter {

inline constexpr uint32_t kVersion = 6;
inline constexpr size_t kMaxPacket = 1 << 20;  // a reply, a header or a body chunk
inline constexpr size_t kBodyChunk = 65535;    // MILTER_CHUNK_SIZE

// Actions the client allows (SMFIF_*).
enum : uint32_t {
  kAddHeaders = 0x01,
  kChangeBody = 0x02,
  kAddRcpt = 0x04,
  kDelRcpt = 0x08,
  kChangeHeaders = 0x10,
  kQuarantine = 0x20,
  kChangeFrom = 0x40,
  kAddRcptPar = 0x80,
  kSetSymList = 0x100,
  kAllActions = 0x1ff,
};

// Protocol steps a milter may skip or not answer (SMFIP_*).
enum : uint32_t {
  kNoConnect = 0x01,
  kNoHelo = 0x02,
  kNoMail = 0x04,
  kNoRcpt = 0x08,
  kNoBody = 0x10,
  kNoHeaders = 0x20,
  kNoEoh = 0x40,
  kNrHeader = 0x80,
  kNoUnknown = 0x100,
  kNoData = 0x200,
  kSkip = 0x400,
  kRcptRej = 0x800,
  kNrConnect = 0x1000,
  kNrHelo = 0x2000,
  kNrMail = 0x4000,
  kNrRcpt = 0x8000,
  kNrData = 0x10000,
  kNrUnknown = 0x20000,
  kNrEoh = 0x40000,
  kNrBody = 0x80000,
  kHdrLeadSpace = 0x100000,
  // What this client can do: every skip and no-reply flag, but not
  // RCPT_REJ or HDR_LEADSPC (the milter then sees headers as Postfix
  // sends them by default).
  kClientSteps = 0x1fffff & ~(kRcptRej | kHdrLeadSpace),
};

struct Packet {
  char cmd = 0;
  std::string data;
};

// "LEN CMD DATA" for one packet.
std::string encode(char cmd, std::string_view data);
// Takes one whole packet off the front of BUF, if there is one. Returns
// false (and leaves BUF) when more bytes are needed; sets BAD on a length
// of 0 or over kMaxPacket.
bool take_packet(std::string& buf, Packet& out, bool& bad);

// Command data.
std::string optneg(uint32_t actions, uint32_t steps);
std::string connect_data(std::string_view hostname, std::string_view ip, uint16_t port);
// Strings each followed by NUL ("<a@b>", "SIZE=10", ...).
std::string strings(const std::vector<std::string>& v);
// SMFIC_MACRO: the command byte the macros are for, then NAME\0VALUE\0...
std::string macros(char for_cmd, const std::vector<std::pair<std::string, std::string>>& m);

struct Negotiated {
  uint32_t version = 0, actions = 0, steps = 0;
};
std::optional<Negotiated> parse_optneg(std::string_view data);

// A milter's verdict on a step.
enum class Verdict { next, accept, reject, tempfail, discard, reply, skip };
struct Answer {
  Verdict verdict = Verdict::next;
  int code = 0;            // Verdict::reply: the SMTP code
  std::string enhanced;    // and its enhanced status, when given
  std::string text;        // and its text (first line)
};
// The answer in packet P, or nullopt when P is not an answer (an edit,
// progress, or garbage). A 'y' reply must be a 4xx or 5xx code.
std::optional<Answer> parse_answer(const Packet& p);

// The edits of end of message.
struct Edit {
  enum class Kind { add_header, insert_header, change_header, add_rcpt, del_rcpt, change_from, replace_body,
                    quarantine };
  Kind kind;
  uint32_t index = 0;  // insert: position; change: the Nth header of that name (1-based)
  std::string name, value;
  std::string args;    // add_rcpt with parameters, change_from: ESMTP parameters
};
// The edit in P, or nullopt when P is not a well-formed edit.
std::optional<Edit> parse_edit(const Packet& p);

// A message's header fields in order, and where its body starts.
struct Header {
  std::string name;
  std::string value;  // as on the wire after "name:", continuation lines kept (LF)
};
struct Parsed {
  std::vector<Header> fields;
  bool blank_line = true;  // the header ended with an empty line (else the body begins at once)
  std::string body;        // after it (LF line endings)
};
// Splits MESSAGE (LF line endings). Lines before the blank line that are
// neither a field nor a continuation end the header: they and everything
// after are body, as a mail reader would see it.
Parsed parse_message(std::string_view message);
std::string join_message(const Parsed& p);
// The value as a milter gets it: the leading space dropped, folds as CRLF.
std::string wire_value(std::string_view value);
// LF line endings from a milter's text (CRLF, or bare LF).
std::string to_lf(std::string_view s);
// CRLF line endings for what a milter reads.
std::string to_crlf(std::string_view s);

// Applies a header edit to P. Returns false when the edit is malformed
// (a name with a colon or a control character, a value with a bare CR).
bool apply_header_edit(Parsed& p, const Edit& e);

}  // namespace sluice::smtpd::milter
