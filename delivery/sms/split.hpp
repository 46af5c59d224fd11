// The splitter: a text becomes one SMS, or concatenated parts that each
// carry a user data header (UDH, 3GPP TS 23.040 9.2.3.24.1: IEI 0x00, an
// 8-bit reference, the part count and the part number), so the phone
// reassembles them. GSM 7-bit when every character has a GSM 03.38 form,
// else UCS-2. Limits, in short_message octets as SMPP carries them
// (unpacked septets for GSM):
//   one SMS:  160 septets (GSM), 140 octets = 70 UCS-2 units
//   a part:   153 septets, 134 octets = 67 units (6 octets of UDH)
// A part never ends inside an escape sequence or a surrogate pair.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sluice::sms {

struct Encoded {
  uint8_t data_coding = 0;
  std::vector<std::string> parts;  // payloads without UDH
  bool trimmed = false;            // the text was cut to fit MAX_PARTS
  std::string text;                // UTF-8 of what the parts hold (for gateways that split themselves)
};

// Encodes TEXT (UTF-8) in at most MAX_PARTS parts (>= 1); a longer text is
// cut at a character and ends with "...".
Encoded split(const std::string& text, int max_parts);

// The 6-octet concatenation UDH followed by PAYLOAD.
std::string with_udh(const std::string& payload, uint8_t ref, int total, int seq);

}  // namespace sluice::sms
