// Fuzzes the three address parsers. Beyond "no crash", it checks the
// round-trip promise of address.hpp: an accepted mailbox prints (str()) to
// text that parses back to the same Address, in both UTF-8 modes, and an
// accepted header address (when qualified) is a valid SMTP mailbox.
// fuzz-sources: common/address.cpp
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/address.hpp"

using namespace sluice;

static void must(bool ok) {
  if (!ok) std::abort();
}

static void round_trip(const addr::Address& a, bool utf8) {
  auto again = addr::parse_mailbox(a.str(), utf8);
  must(again.ok());
  must(*again == a);
  auto path = addr::parse_path("<" + a.str() + ">", utf8, false);
  must(path.ok() && *path == a);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  for (bool utf8 : {false, true}) {
    auto m = addr::parse_mailbox(s, utf8);
    if (m.ok()) {
      must(!m->null());
      must(utf8 || !m->needs_smtputf8());
      round_trip(*m, utf8);
    } else {
      must(m.error().is_perm() && !m.error().text.empty());
    }
    auto p = addr::parse_path(s, utf8, true);
    if (p.ok() && !p->null()) round_trip(*p, utf8);
    std::size_t n = addr::path_length(s);
    must(n == std::string_view::npos || (n >= 2 && n <= s.size()));
  }
  auto h = addr::parse_header_addresses(s);
  if (h.ok()) {
    for (const auto& a : *h) {
      if (a.domain.empty()) continue;  // unqualified, for sendmail -t to qualify
      round_trip(a, true);
    }
  }
  return 0;
}
