// Pure helpers of the CLI: option parsing, value checks, the queue line
// format shared with mailq, and the configuration file `sluice init` writes.
#include <ctime>

#include "admin/cli/cli.hpp"

namespace sluice::cli {

bool parse_opts(const Args& args, const std::map<std::string, bool>& spec, Opts& out, std::string& error) {
  bool opts_done = false;
  for (size_t i = 0; i < args.size(); i++) {
    const std::string& a = args[i];
    if (opts_done || a.size() < 2 || a[0] != '-' || a == "-") {
      out.positional.push_back(a);
      continue;
    }
    if (a == "--") {
      opts_done = true;
      continue;
    }
    std::string name = a, value;
    bool inline_value = false;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      inline_value = true;
    }
    auto it = spec.find(name);
    if (it == spec.end()) {
      error = "unknown option " + name;
      return false;
    }
    if (!it->second) {
      if (inline_value) {
        error = "option " + name + " takes no value";
        return false;
      }
      out.flags.insert(name);
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        error = "option " + name + " needs a value";
        return false;
      }
      value = args[++i];
    }
    out.values[name] = value;
  }
  return true;
}

bool valid_e164(std::string_view p) {
  // ITU-T E.164: at most 15 digits; country codes never start with 0. Fewer
  // than 7 digits is no reachable mobile number anywhere.
  if (p.size() < 8 || p.size() > 16 || p[0] != '+' || p[1] < '1' || p[1] > '9') return false;
  for (size_t i = 1; i < p.size(); i++)
    if (p[i] < '0' || p[i] > '9') return false;
  return true;
}

static bool valid_hhmm(std::string_view s) {
  if (s.size() != 5 || s[2] != ':') return false;
  for (size_t i : {0, 1, 3, 4})
    if (s[i] < '0' || s[i] > '9') return false;
  int h = (s[0] - '0') * 10 + (s[1] - '0');
  int m = (s[3] - '0') * 10 + (s[4] - '0');
  return h < 24 && m < 60;
}

bool valid_quiet(std::string_view q) {
  return q.size() == 11 && q[5] == '-' && valid_hhmm(q.substr(0, 5)) && valid_hhmm(q.substr(6));
}

std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',' || c == ' ' || c == '\t' || c == '\n') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

bool parse_quota(std::string_view s, long long& bytes) {
  if (s == "default") {
    bytes = -1;
    return true;
  }
  if (s == "none") {
    bytes = 0;
    return true;
  }
  return parse_size(s, bytes);
}


}  // namespace sluice::cli
