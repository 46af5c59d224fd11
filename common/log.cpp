#include "common/log.hpp"

#include <unistd.h>

#include <cstdio>
#include <string>

namespace sluice::log {
namespace {
std::string g_program = "sluice";
Level g_min = Level::info;

bool needs_quote(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) return true;
  return false;
}
}  // namespace

void init(std::string_view program) {
  g_program = std::string(program);
  if (const char* l = getenv("SLUICE_LOG_LEVEL"); l && std::string_view(l) == "debug")
    g_min = Level::debug;
}

void set_min_level(Level l) { g_min = l; }

std::string quote(std::string_view v) {
  if (!needs_quote(v)) return std::string(v);
  std::string out = "\"";
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < ' ' || c == 0x7f) {
      char buf[5];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

void emit(Level l, std::initializer_list<Field> fields) {
  if (l < g_min) return;
  std::string line = "prog=" + g_program;
  if (l == Level::warn) line += " level=warn";
  if (l == Level::error) line += " level=error";
  if (l == Level::debug) line += " level=debug";
  for (const auto& [k, v] : fields) {
    line += ' ';
    line += k;
    line += '=';
    line += quote(v);
  }
  line += '\n';
  // One write(2) per line keeps lines whole when several processes share
  // the same stderr pipe (lines under PIPE_BUF are atomic).
  ssize_t off = 0, n = static_cast<ssize_t>(line.size());
  while (off < n) {
    ssize_t w = ::write(2, line.data() + off, n - off);
    if (w <= 0) break;
    off += w;
  }
}

}  // namespace sluice::log
