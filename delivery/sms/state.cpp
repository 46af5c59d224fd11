#include "delivery/sms/state.hpp"

#include <cstdio>
#include <cstdlib>

#include "common/fd.hpp"

namespace sluice::sms {

bool parse_quiet(const std::string& q, int& start, int& end) {
  int h1, m1, h2, m2;
  char tail;
  if (std::sscanf(q.c_str(), "%2d:%2d-%2d:%2d%c", &h1, &m1, &h2, &m2, &tail) != 4) return false;
  if (h1 < 0 || h1 > 23 || h2 < 0 || h2 > 23 || m1 < 0 || m1 > 59 || m2 < 0 || m2 > 59) return false;
  start = h1 * 60 + m1;
  end = h2 * 60 + m2;
  return true;
}

bool in_quiet(const std::string& q, const struct tm& local) {
  int start, end;
  if (q.empty() || !parse_quiet(q, start, end) || start == end) return false;
  int now = local.tm_hour * 60 + local.tm_min;
  return start < end ? now >= start && now < end : now >= start || now < end;
}

std::string local_day(time_t t) {
  struct tm tm;
  localtime_r(&t, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  return buf;
}

// Addresses become file names through hex, so no address can name a path.
std::string DailyCounts::file_of(const std::string& who) const {
  static const char* hex = "0123456789abcdef";
  std::string name = "cap.";
  for (unsigned char c : who) {
    name += hex[c >> 4];
    name += hex[c & 15];
  }
  return dir_ + "/" + name;
}

int DailyCounts::count(const std::string& who, const std::string& day) const {
  std::string content;
  if (!read_file(file_of(who), content)) return 0;
  auto sp = content.find(' ');
  if (sp == std::string::npos || content.substr(0, sp) != day) return 0;
  return std::atoi(content.c_str() + sp + 1);
}

bool DailyCounts::add(const std::string& who, const std::string& day) {
  if (!make_dirs(dir_, 0770)) return false;
  int n = count(who, day) + 1;
  return write_file_atomic(file_of(who), day + " " + std::to_string(n) + "\n", 0660);
}

}  // namespace sluice::sms
