// Text encodings of an SMS: the GSM 03.38 7-bit default alphabet (with its
// escape table) and UCS-2, as SMPP carries them in short_message.
//
// GSM text goes out unpacked, one septet per octet (data_coding 0, the SMSC
// default alphabet): that is how SMPP 3.4 carries it; the SMSC packs it for
// the air interface. UCS-2 is UTF-16BE (data_coding 8); a character beyond
// the BMP becomes a surrogate pair, which phones display.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::sms {

constexpr uint8_t kDataCodingDefault = 0;  // SMSC default alphabet: GSM 03.38
constexpr uint8_t kDataCodingUcs2 = 8;

// UTF-8 to code points; an invalid sequence becomes U+FFFD.
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);

// The septets of C (one, or two with the 0x1B escape), or "" when C has no
// GSM 03.38 form.
std::string gsm7_char(char32_t c);
// The whole text in septets, or nullopt when a character has no GSM form.
std::optional<std::string> gsm7_encode(std::u32string_view text);
// UTF-16BE octets of C (2, or 4 for a surrogate pair).
std::string ucs2_char(char32_t c);
std::string ucs2_encode(std::u32string_view text);

}  // namespace sluice::sms
