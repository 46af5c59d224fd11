#include "delivery/sms/encode.hpp"

namespace sluice::sms {
namespace {

// GSM 03.38 default alphabet, indexed by septet.
constexpr char32_t kBasic[128] = {
    U'@',  U'£',  U'$',  U'¥',  U'è', U'é', U'ù', U'ì', U'ò', U'Ç', U'\n', U'Ø', U'ø', U'\r', U'Å', U'å',
    U'Δ',  U'_',  U'Φ',  U'Γ',  U'Λ', U'Ω', U'Π', U'Ψ', U'Σ', U'Θ', U'Ξ',  0,    U'Æ', U'æ',  U'ß', U'É',
    U' ',  U'!',  U'"',  U'#',  U'¤', U'%', U'&', U'\'', U'(', U')', U'*', U'+', U',', U'-',  U'.', U'/',
    U'0',  U'1',  U'2',  U'3',  U'4', U'5', U'6', U'7', U'8', U'9', U':',  U';', U'<', U'=',  U'>', U'?',
    U'¡',  U'A',  U'B',  U'C',  U'D', U'E', U'F', U'G', U'H', U'I', U'J',  U'K', U'L', U'M',  U'N', U'O',
    U'P',  U'Q',  U'R',  U'S',  U'T', U'U', U'V', U'W', U'X', U'Y', U'Z',  U'Ä', U'Ö', U'Ñ',  U'Ü', U'§',
    U'¿',  U'a',  U'b',  U'c',  U'd', U'e', U'f', U'g', U'h', U'i', U'j',  U'k', U'l', U'm',  U'n', U'o',
    U'p',  U'q',  U'r',  U's',  U't', U'u', U'v', U'w', U'x', U'y', U'z',  U'ä', U'ö', U'ñ',  U'ü', U'à',
};

// The extension table, reached through the escape septet 0x1B.
struct Ext {
  char32_t c;
  uint8_t septet;
};
constexpr Ext kExtension[] = {{U'\f', 0x0A}, {U'^', 0x14}, {U'{', 0x28}, {U'}', 0x29}, {U'\\', 0x2F},
                              {U'[', 0x3C},  {U'~', 0x3D}, {U']', 0x3E}, {U'|', 0x40}, {U'€', 0x65}};

}  // namespace

std::u32string utf8_decode(std::string_view s) {
  std::u32string out;
  size_t i = 0;
  while (i < s.size()) {
    unsigned char b = s[i];
    int n = b < 0x80 ? 0 : (b & 0xE0) == 0xC0 ? 1 : (b & 0xF0) == 0xE0 ? 2 : (b & 0xF8) == 0xF0 ? 3 : -1;
    char32_t c = n == 0 ? b : n == 1 ? (b & 0x1F) : n == 2 ? (b & 0x0F) : (b & 0x07);
    bool ok = n >= 0;
    for (int k = 1; ok && k <= n; k++) {
      if (i + k >= s.size() || (static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) ok = false;
      else c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not characters.
    if (ok && ((n == 1 && c < 0x80) || (n == 2 && c < 0x800) || (n == 3 && (c < 0x10000 || c > 0x10FFFF)) ||
               (c >= 0xD800 && c <= 0xDFFF)))
      ok = false;
    if (!ok) {
      out.push_back(0xFFFD);
      i++;
      continue;
    }
    out.push_back(c);
    i += n + 1;
  }
  return out;
}

std::string utf8_encode(std::u32string_view s) {
  std::string out;
  for (char32_t c : s) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

std::string gsm7_char(char32_t c) {
  // Septet 0x1B is the escape, never a character of its own; '@' is 0x00.
  for (int i = 0; i < 128; i++)
    if (i != 0x1B && kBasic[i] == c) return std::string(1, static_cast<char>(i));
  for (const auto& e : kExtension)
    if (e.c == c) return std::string{'\x1B', static_cast<char>(e.septet)};
  return "";
}

std::optional<std::string> gsm7_encode(std::u32string_view text) {
  std::string out;
  for (char32_t c : text) {
    std::string s = gsm7_char(c);
    if (s.empty()) return std::nullopt;
    out += s;
  }
  return out;
}

std::string ucs2_char(char32_t c) {
  auto unit = [](char32_t u) { return std::string{static_cast<char>(u >> 8), static_cast<char>(u & 0xFF)}; };
  if (c < 0x10000) return unit(c);
  char32_t v = c - 0x10000;
  return unit(0xD800 + (v >> 10)) + unit(0xDC00 + (v & 0x3FF));
}

std::string ucs2_encode(std::u32string_view text) {
  std::string out;
  for (char32_t c : text) out += ucs2_char(c);
  return out;
}

}  // namespace sluice::sms
