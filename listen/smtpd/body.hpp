// The message body as it arrives after DATA or in BDAT chunks, decoded
// strictly (RFC 5321 2.3.8, 4.5.2, 4.5.3.1.6): lines end in CRLF only;
// a bare LF or a bare CR is refused and is never an end of data (the SMTP
// smuggling attacks of 2023); dot-stuffing is undone; NUL bytes and lines
// over 998 octets are noted. The message is kept with LF line endings, the
// queue's form. Pure code over bytes, unit-tested and fuzzed.
#pragma once
#include <string>
#include <string_view>

namespace sluice::smtpd {

inline constexpr size_t kMaxBodyLine = 998;  // RFC 5322 2.1.1, CRLF excluded

class BodyDecoder {
 public:
  enum class Mode { data, chunks };
  enum class Fatal { none, bare_lf, bare_cr };

  // MAX_SIZE: octets (as sent, CRLF counted) kept; beyond it the body is
  // still read to its end but dropped, and too_big() says so.
  BodyDecoder(Mode mode, long long max_size) : mode_(mode), max_(max_size) {}

  // Consumes bytes of IN. In data mode it stops right after the ".CRLF"
  // that ends the data (the rest belongs to the next commands) and on a
  // fatal error; returns the number of bytes consumed.
  size_t feed(std::string_view in);
  // Chunks mode, after the LAST chunk: a CR still pending is a bare CR; a
  // last line without CRLF is ended.
  void finish();

  bool done() const { return done_; }        // data mode: ".CRLF" seen
  Fatal fatal() const { return fatal_; }
  bool too_big() const { return size_ > max_; }
  bool nul() const { return nul_; }
  bool long_line() const { return long_line_; }
  long long size() const { return size_; }  // octets received, CRLF counted
  std::string& message() { return out_; }

 private:
  void byte(char c);
  void run(std::string_view r);
  void end_line();
  void emit(char c) {
    if (size_ <= max_) out_ += c;
  }

  Mode mode_;
  long long max_;
  std::string out_;
  long long size_ = 0;
  size_t line_len_ = 0;     // octets of the current line so far, stuffing dot excluded
  bool line_start_ = true;  // no byte of the current line seen yet
  bool dot_ = false;        // data mode: the line began with a '.' not yet known to be stuffing
  bool cr_ = false;         // the previous byte was a CR
  bool done_ = false, nul_ = false, long_line_ = false;
  Fatal fatal_ = Fatal::none;
};

const char* fatal_name(BodyDecoder::Fatal f);

}  // namespace sluice::smtpd
