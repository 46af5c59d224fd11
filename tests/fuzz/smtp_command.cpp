// Fuzzes sluice-smtpd's parsers of outside bytes: the command line, MAIL
// and RCPT with their parameters, BDAT, xtext, base64 and AUTH PLAIN, and
// the DATA/BDAT body decoder. Beyond "no crash" it checks their promises:
// an accepted address re-parses to itself; a decoded body never holds a CR
// and ends every line with LF; DATA never ends except at a CRLF.CRLF; the
// input split in two anywhere decodes the same as whole; a body cut by a
// smaller size limit is a prefix of the whole one.
// fuzz-sources: listen/smtpd/command.cpp listen/smtpd/body.cpp common/address.cpp common/deliver_proto.cpp common/text.cpp common/fd.cpp common/log.cpp
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "listen/smtpd/body.hpp"
#include "listen/smtpd/command.hpp"

using namespace sluice;
using namespace sluice::smtpd;

static void must(bool ok) {
  if (!ok) std::abort();
}

static void commands(std::string_view s) {
  Command c;
  if (!split_command(s, c)) must(!c.verb.empty());
  MailArgs m;
  if (!parse_mail(s, m) && !m.sender.null()) {
    auto again = addr::parse_mailbox(m.sender.str());
    must(again.ok() && *again == m.sender);
  }
  RcptArgs r;
  if (!parse_rcpt(s, r) && !r.postmaster) {
    auto again = addr::parse_mailbox(r.rcpt.str());
    must(again.ok() && *again == r.rcpt);
    must(r.orcpt.empty() || r.orcpt.find(';') != std::string::npos);
  }
  long long n;
  bool last;
  if (parse_bdat(s, n, last)) must(n >= 0);
  std::string out, user, pw;
  xtext_decode(s, out);
  if (base64_decode(s, out)) {
    must(base64_encode(out) == s);
    if (parse_plain(out, user, pw)) must(!user.empty());
  }
}

static std::string body(std::string_view s, BodyDecoder::Mode mode, size_t split, bool* done,
                        long long max = 1 << 16) {
  BodyDecoder d(mode, max);
  size_t used = d.feed(s.substr(0, split));
  if (!d.done() && d.fatal() == BodyDecoder::Fatal::none) used += d.feed(s.substr(split));
  if (mode == BodyDecoder::Mode::chunks) d.finish();
  *done = d.done();
  if (d.done()) must(used >= 3 && s.substr(used - 3, 3) == ".\r\n" && (used == 3 || s.substr(used - 5, 2) == "\r\n"));
  if (d.fatal() != BodyDecoder::Fatal::none) return "<fatal>";
  const std::string& msg = d.message();
  must(msg.find('\r') == std::string::npos);
  if (!msg.empty() && !d.too_big() && (d.done() || mode == BodyDecoder::Mode::chunks)) must(msg.back() == '\n');
  return msg + (d.done() ? "<done>" : "");
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  commands(s);
  for (auto mode : {BodyDecoder::Mode::data, BodyDecoder::Mode::chunks}) {
    bool d1, d2;
    std::string whole = body(s, mode, s.size(), &d1);
    std::string parts = body(s, mode, size ? data[0] % (size + 1) : 0, &d2);
    must(whole == parts && d1 == d2);
    if (whole == "<fatal>") continue;
    long long max = size ? data[size - 1] % 64 : 0;
    std::string cut = body(s, mode, s.size(), &d2, max);
    std::string full = whole.substr(0, whole.size() - (d1 ? 6 : 0));
    if (d2) cut.resize(cut.size() - 6);
    must(full.compare(0, cut.size(), cut) == 0);
  }
  return 0;
}
