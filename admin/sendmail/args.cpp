// sendmail's option syntax as Postfix's sendmail accepts it: options end at
// the first non-option argument or "--"; single-letter flags may be
// grouped (-ti); an option's value may be attached (-fme@x) or follow.
#include <cctype>

#include "admin/sendmail/sendmail.hpp"

namespace sluice::sendmail {
namespace {

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  return s;
}

// -N never | success,delay,failure (any subset) -> envelope NOTIFY form.
bool notify_form(const std::string& v, std::string& out) {
  std::string u = upper(v), res;
  for (auto& c : u)
    if (c == ' ') c = ',';
  if (u == "NEVER") {
    out = u;
    return true;
  }
  size_t i = 0;
  while (i <= u.size()) {
    size_t j = u.find(',', i);
    if (j == std::string::npos) j = u.size();
    std::string w = u.substr(i, j - i);
    if (!w.empty()) {
      if (w != "SUCCESS" && w != "DELAY" && w != "FAILURE") return false;
      res += (res.empty() ? "" : ",") + w;
    }
    i = j + 1;
  }
  out = res;
  return !res.empty();
}

// Applies -X VALUE for the options that take one. "" or a usage error.
std::string set_value(char opt, const std::string& v, Options& o) {
  switch (opt) {
    case 'f':
    case 'r':
      o.sender = v;
      o.sender_given = true;
      return "";
    case 'F': o.full_name = v; return "";
    case 'C': o.config = v; return "";
    case 'N':
      return notify_form(v, o.notify) ? "" : "-N takes never or a list of success, delay, failure";
    case 'R':
      o.ret = upper(v);
      return (o.ret == "FULL" || o.ret == "HDRS") ? "" : "-R takes full or hdrs";
    case 'V': o.envid = v; return "";
    default: return "";  // -B -h -L -O -X -e -p: accepted and ignored, as Postfix does
  }
}

// -bX modes.
std::string set_mode(const std::string& m, Options& o) {
  if (m == "m") o.mode = Mode::deliver;
  else if (m == "p") o.mode = Mode::print_queue;
  else if (m == "i") o.mode = Mode::rebuild_aliases;
  else if (m == "s") return "-bs (SMTP on standard input) is not supported; use the submission port";
  else return "-b" + m + " is not supported";
  return "";
}

}  // namespace

std::string parse_args(const std::vector<std::string>& argv, bool as_mailq, Options& o) {
  if (as_mailq) o.mode = Mode::print_queue;
  const std::string with_value = "BCFNORVXLfhrep";
  const std::string flags = "tivnGUImcx";
  size_t i = 0;
  for (; i < argv.size(); i++) {
    const std::string& a = argv[i];
    if (a == "--") {
      i++;
      break;
    }
    if (a.size() < 2 || a[0] != '-') break;
    for (size_t k = 1; k < a.size(); k++) {
      char c = a[k];
      if (flags.find(c) != std::string::npos) {
        if (c == 't') o.extract = true;
        if (c == 'i') o.ignore_dots = true;
        continue;  // -v -n -G -U -I -m -c -x: tolerated
      }
      std::string rest = a.substr(k + 1);
      if (c == 'o') {  // -oX options: only -oi matters; -oem, -odb ... are ignored
        if (rest == "i") o.ignore_dots = true;
        break;
      }
      if (c == 'b') {
        if (std::string e = set_mode(rest, o); !e.empty()) return e;
        break;
      }
      if (c == 'q') {  // -q, -q30m: process the queue now
        o.mode = Mode::flush;
        break;
      }
      if (c == 'A') break;  // -Am / -Ac (Sendmail 8.12 submit modes)
      if (with_value.find(c) == std::string::npos) return std::string("unknown option -") + c;
      if (rest.empty()) {
        if (i + 1 >= argv.size()) return std::string("option -") + c + " needs a value";
        rest = argv[++i];
      }
      if (std::string e = set_value(c, rest, o); !e.empty()) return e;
      break;
    }
  }
  for (; i < argv.size(); i++) o.rcpts.push_back(argv[i]);
  return "";
}

int exit_for_inject(int st) {
  if (st == 0) return kExOk;
  if (st == 11) return kExDataErr;                       // address too long
  if (st == 31) return kExUnavailable;                   // permanent refusal
  if ((st >= 51 && st <= 56) || (st >= 71 && st <= 75) || st == 81) return kExTempFail;
  if (st == 91) return kExSoftware;                      // our envelope was wrong: a bug
  return kExTempFail;  // unknown: never claim the mail is gone for good
}

}  // namespace sluice::sendmail
