// Fuzzes what sluice-smtpd reads from a milter (a milter may be remote,
// buggy or someone else's) and the message edits it asks for: packets cut
// from a byte stream, answers, edits, and header edits applied to a parsed
// message. Beyond "no crash" it checks the promise that matters: whatever
// a milter asks, the edited message parses back into the same header
// fields (no edit can smuggle in a field or move the body).
// fuzz-sources: listen/smtpd/milter_proto.cpp
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "listen/smtpd/milter_proto.hpp"

using namespace sluice::smtpd::milter;

static void must(bool ok) {
  if (!ok) std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // The first line is a message to edit, the rest a milter's byte stream.
  size_t cut = in.find('\0');
  std::string message(in.substr(0, cut == std::string_view::npos ? 0 : cut));
  std::string stream(in.substr(cut == std::string_view::npos ? 0 : cut + 1));
  Parsed p = parse_message(message);
  must(join_message(p) == message || !p.blank_line || message.find('\r') != std::string::npos ||
       join_message(p).size() <= message.size() + 1);
  for (int i = 0; i < 64; i++) {
    Packet pk;
    bool bad = false;
    if (!take_packet(stream, pk, bad)) break;
    if (auto a = parse_answer(pk)) {
      if (a->verdict == Verdict::reply) must(a->code >= 400 && a->code < 600);
      continue;
    }
    auto e = parse_edit(pk);
    if (!e) continue;
    if (e->kind == Edit::Kind::add_header || e->kind == Edit::Kind::insert_header ||
        e->kind == Edit::Kind::change_header) {
      size_t before = p.fields.size();
      if (apply_header_edit(p, *e)) must(p.fields.size() + 1 >= before && p.fields.size() <= before + 1);
    }
  }
  // The edited header reads back as the same fields.
  std::string joined = join_message(p);
  Parsed again = parse_message(joined);
  if (p.blank_line) {
    must(again.fields.size() == p.fields.size());
    for (size_t i = 0; i < p.fields.size(); i++)
      must(again.fields[i].name == p.fields[i].name && again.fields[i].value == p.fields[i].value);
    must(again.body == p.body);
  }
  must(to_lf(to_crlf(joined)) == joined || joined.find('\r') != std::string::npos);
  return 0;
}
