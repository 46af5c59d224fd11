// GSM 03.38 7-bit and UCS-2 encoders, and the splitter with its UDH.
#include <catch2/catch.hpp>

#include "delivery/sms/encode.hpp"
#include "delivery/sms/split.hpp"

using namespace sluice::sms;

TEST_CASE("sms encode: GSM 03.38 basic and extension characters") {
  auto e = gsm7_encode(utf8_decode("@£$¥èé Hello_ΔΩ\n"));
  REQUIRE(e);
  CHECK(*e == std::string("\x00\x01\x02\x03\x04\x05 Hello\x11\x10\x15\n", 16));
  // The extension table costs two septets: escape 0x1B, then the code.
  auto x = gsm7_encode(utf8_decode("{}[]~\\|^€"));
  REQUIRE(x);
  CHECK(*x == "\x1B\x28\x1B\x29\x1B\x3C\x1B\x3E\x1B\x3D\x1B\x2F\x1B\x40\x1B\x14\x1B\x65");
  CHECK(gsm7_char(U'ä') == "\x7B");
  CHECK(gsm7_char(U'à') == "\x7F");
  // Not in the GSM alphabet: Chinese, Cyrillic, a backtick, an emoji.
  CHECK_FALSE(gsm7_encode(utf8_decode("会议")));
  CHECK_FALSE(gsm7_encode(utf8_decode("Привет")));
  CHECK_FALSE(gsm7_encode(utf8_decode("`")));
  CHECK(gsm7_char(U'\x1B').empty());  // the escape is never a character
}

TEST_CASE("sms encode: UCS-2 is UTF-16BE, surrogate pairs beyond the BMP") {
  CHECK(ucs2_encode(utf8_decode("Привет")) == "\x04\x1f\x04\x40\x04\x38\x04\x32\x04\x35\x04\x42");
  CHECK(ucs2_encode(utf8_decode("会议")) == "\x4f\x1a\x8b\xae");
  CHECK(ucs2_encode(utf8_decode("😀")) == std::string("\xd8\x3d\xde\x00", 4));
  CHECK(ucs2_encode(utf8_decode("A")) == std::string("\x00\x41", 2));
}

TEST_CASE("sms encode: UTF-8 decoding replaces invalid sequences") {
  CHECK(utf8_decode("a\xff" "b") == U"a\uFFFDb");
  CHECK(utf8_decode("\xc0\x80") == U"\uFFFD\uFFFD");      // overlong NUL
  CHECK(utf8_decode("\xed\xa0\x80").size() == 3);          // a surrogate is no character
  CHECK(utf8_decode("\xe4\xbd") == U"\uFFFD\uFFFD");       // cut short
  CHECK(utf8_encode(utf8_decode("Zoë 会 😀")) == "Zoë 会 😀");
}

TEST_CASE("sms split: one SMS holds 160 GSM septets or 70 UCS-2 characters") {
  Encoded a = split(std::string(160, 'a'), 1);
  CHECK(a.data_coding == kDataCodingDefault);
  REQUIRE(a.parts.size() == 1);
  CHECK(a.parts[0].size() == 160);
  CHECK_FALSE(a.trimmed);
  std::string zh;
  for (int i = 0; i < 70; i++) zh += "会";
  Encoded u = split(zh, 1);
  CHECK(u.data_coding == kDataCodingUcs2);
  REQUIRE(u.parts.size() == 1);
  CHECK(u.parts[0].size() == 140);
}

TEST_CASE("sms split: long texts become parts of 153 septets or 67 UCS-2 units") {
  Encoded g = split(std::string(400, 'x'), 5);
  REQUIRE(g.parts.size() == 3);
  CHECK(g.parts[0].size() == 153);
  CHECK(g.parts[1].size() == 153);
  CHECK(g.parts[2].size() == 94);
  std::string all;
  for (const auto& p : g.parts) all += p;
  CHECK(all == std::string(400, 'x'));
  std::string zh;
  for (int i = 0; i < 100; i++) zh += "测";
  Encoded u = split(zh, 5);
  REQUIRE(u.parts.size() == 2);
  CHECK(u.parts[0].size() == 134);
  CHECK(u.parts[1].size() == 66);
}

TEST_CASE("sms split: a part never ends inside an escape or a surrogate pair") {
  // 152 'a' then '€' (2 septets): the escape cannot end part 1.
  Encoded g = split(std::string(152, 'a') + "€" + std::string(20, 'b'), 3);
  REQUIRE(g.parts.size() == 2);
  CHECK(g.parts[0].size() == 152);
  CHECK(g.parts[1].substr(0, 2) == "\x1B\x65");
  // 66 units then an emoji (2 units): the pair moves to part 2 whole.
  std::string t;
  for (int i = 0; i < 66; i++) t += "测";
  t += "😀";
  for (int i = 0; i < 10; i++) t += "测";
  Encoded u = split(t, 3);
  REQUIRE(u.parts.size() == 2);
  CHECK(u.parts[0].size() == 132);
  CHECK(u.parts[1].substr(0, 4) == std::string("\xd8\x3d\xde\x00", 4));
}

TEST_CASE("sms split: a text too long for the operator's limit is cut with ...") {
  Encoded one = split(std::string(300, 'y'), 1);
  REQUIRE(one.parts.size() == 1);
  CHECK(one.trimmed);
  CHECK(one.parts[0] == std::string(157, 'y') + "...");
  CHECK(one.text == std::string(157, 'y') + "...");
  Encoded two = split(std::string(1000, 'y'), 2);
  REQUIRE(two.parts.size() == 2);
  CHECK(two.trimmed);
  CHECK(two.parts[1].size() == 153);
  CHECK(two.parts[1].substr(150) == "...");
  std::string zh;
  for (int i = 0; i < 80; i++) zh += "测";
  Encoded u = split(zh, 1);
  CHECK(u.trimmed);
  CHECK(u.parts[0].size() == 140);
  CHECK(u.parts[0].substr(134) == std::string("\0.\0.\0.", 6));
}

TEST_CASE("sms split: the concatenation UDH") {
  CHECK(with_udh("hi", 7, 2, 1) == std::string("\x05\x00\x03\x07\x02\x01hi", 8));
}
