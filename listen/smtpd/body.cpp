#include "listen/smtpd/body.hpp"

#include <algorithm>

namespace sluice::smtpd {

const char* fatal_name(BodyDecoder::Fatal f) {
  switch (f) {
    case BodyDecoder::Fatal::bare_lf: return "bare_lf";
    case BodyDecoder::Fatal::bare_cr: return "bare_cr";
    case BodyDecoder::Fatal::none: break;
  }
  return "none";
}

void BodyDecoder::end_line() {
  // A line holding only the dot ends the data; ".." and ".x" lose the dot.
  if (mode_ == Mode::data && dot_ && line_len_ == 0) {
    done_ = true;
    return;
  }
  emit('\n');
  line_start_ = true;
  dot_ = false;
  line_len_ = 0;
}

void BodyDecoder::byte(char c) {
  size_++;
  if (cr_) {
    cr_ = false;
    if (c != '\n') {
      fatal_ = Fatal::bare_cr;
      return;
    }
    end_line();
    return;
  }
  if (c == '\r') {
    cr_ = true;
    return;
  }
  if (c == '\n') {
    fatal_ = Fatal::bare_lf;
    return;
  }
  if (mode_ == Mode::data && line_start_ && c == '.') {
    line_start_ = false;
    dot_ = true;  // stuffing, or the end marker when CRLF follows
    return;
  }
  line_start_ = false;
  if (c == '\0') nul_ = true;
  if (++line_len_ > kMaxBodyLine) long_line_ = true;
  emit(c);
}

// Most octets sit in the middle of a line and change no state but the
// counts: they are taken as a run, and byte() sees only line starts, CR,
// LF and NUL.
void BodyDecoder::run(std::string_view r) {
  long long room = max_ - size_;
  if (room > 0) out_.append(r.substr(0, static_cast<size_t>(std::min<long long>(room, static_cast<long long>(r.size())))));
  size_ += static_cast<long long>(r.size());
  line_len_ += r.size();
  if (line_len_ > kMaxBodyLine) long_line_ = true;
}

size_t BodyDecoder::feed(std::string_view in) {
  size_t i = 0;
  while (i < in.size() && !done_ && fatal_ == Fatal::none) {
    if (!cr_ && !line_start_) {
      size_t j = i;
      while (j < in.size() && in[j] != '\r' && in[j] != '\n' && in[j] != '\0') j++;
      if (j > i) {
        run(in.substr(i, j - i));
        i = j;
        continue;
      }
    }
    byte(in[i++]);
  }
  // The ".CRLF" counts for nothing in the message size.
  return i;
}

void BodyDecoder::finish() {
  if (cr_) {
    fatal_ = Fatal::bare_cr;
    return;
  }
  if (!line_start_) emit('\n');
  line_start_ = true;
}

}  // namespace sluice::smtpd
