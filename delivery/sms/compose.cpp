#include "delivery/sms/compose.hpp"

#include <gmime/gmime.h>

#include <mutex>

namespace sluice::sms {
namespace {

void gmime_once() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

std::string take(char* s) {
  std::string out = s ? s : "";
  g_free(s);
  return out;
}

// One line, no control characters, single spaces: an SMS has no room for
// folding whitespace, and a header must not smuggle line breaks.
std::string tidy(const std::string& s) {
  std::string out;
  bool space = false;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7F || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(c);
  }
  return out;
}

std::string lower_ascii(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

}  // namespace

std::string decode_text(const std::string& raw) {
  gmime_once();
  return tidy(take(g_mime_utils_header_decode_text(nullptr, raw.c_str())));
}

Sender parse_from(const std::string& raw) {
  gmime_once();
  Sender s;
  InternetAddressList* list = internet_address_list_parse(nullptr, raw.c_str());
  if (list && internet_address_list_length(list) > 0) {
    InternetAddress* a = internet_address_list_get_address(list, 0);
    if (const char* n = internet_address_get_name(a)) s.name = tidy(n);
    if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
      if (const char* m = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a))) s.addr = tidy(m);
    } else if (INTERNET_ADDRESS_IS_GROUP(a) && s.name.empty()) {
      s.name = tidy(internet_address_get_name(a) ? internet_address_get_name(a) : "");
    }
  }
  if (list) g_object_unref(list);
  // Not an address list at all: show what there is, decoded.
  if (s.name.empty() && s.addr.empty()) s.name = decode_text(raw);
  return s;
}

std::string compose(const notify::Request& r) {
  if (!r.text.empty()) return tidy(r.text);
  Sender from = parse_from(r.from);
  std::string who = from.name;
  if (!from.addr.empty()) who += who.empty() ? from.addr : " <" + from.addr + ">";
  return "From: " + who + " Subj: " + decode_text(r.subject);
}

bool rule_matches(const notify::Request& r) {
  if (!r.text.empty() || r.match.empty()) return true;
  Sender from = parse_from(r.from);
  std::string hay = lower_ascii(from.name + "\n" + from.addr + "\n" + decode_text(r.subject));
  for (const auto& w : r.match)
    if (!w.empty() && hay.find(lower_ascii(w)) != std::string::npos) return true;
  return false;
}

}  // namespace sluice::sms
