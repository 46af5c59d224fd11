#include "common/config.hpp"

#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <toml++/toml.h>

namespace sluice {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); i++) out += (i ? "," : "") + v[i];
  return out;
}

std::vector<std::string> split_default(std::string_view s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t i = 0;
  for (;;) {
    size_t j = s.find(',', i);
    out.emplace_back(s.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

const char* type_name(KeyType t) {
  switch (t) {
    case KeyType::string: return "a string";
    case KeyType::path: return "a path string";
    case KeyType::integer: return "a non-negative integer";
    case KeyType::boolean: return "true or false";
    case KeyType::duration: return "a duration like \"30s\", \"5m\", \"1h\", \"5d\"";
    case KeyType::size: return "a size like \"512K\", \"10M\", \"1G\"";
    case KeyType::string_list: return "an array of strings";
    case KeyType::string_map: return "a table of strings";
  }
  return "?";
}

const KeyDef* find_def(std::string_view key) {
  for (const auto& d : config_schema())
    if (key == d.name) return &d;
  return nullptr;
}

bool is_section_prefix(std::string_view prefix) {
  for (const auto& d : config_schema()) {
    std::string_view n = d.name;
    if (n.size() > prefix.size() && n.substr(0, prefix.size()) == prefix && n[prefix.size()] == '.')
      return true;
  }
  return false;
}

struct LoadError : std::runtime_error {
  int line;
  LoadError(int l, const std::string& m) : std::runtime_error(m), line(l) {}
};

}  // namespace

bool parse_duration(std::string_view s, long long& out) {
  if (s.empty()) return false;
  long long total = 0;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] < '0' || s[i] > '9') return false;
    long long n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      n = n * 10 + (s[i] - '0');
      if (n > 100000000000LL) return false;
      i++;
    }
    long long mult = 1;
    if (i < s.size()) {
      switch (s[i]) {
        case 's': mult = 1; break;
        case 'm': mult = 60; break;
        case 'h': mult = 3600; break;
        case 'd': mult = 86400; break;
        case 'w': mult = 604800; break;
        default: return false;
      }
      i++;
    } else if (total != 0) {
      return false;  // "1h30" is ambiguous
    }
    total += n * mult;
  }
  out = total;
  return true;
}

bool parse_size(std::string_view s, long long& out) {
  if (s.empty()) return false;
  long long n = 0;
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    n = n * 10 + (s[i] - '0');
    if (n > (1LL << 50)) return false;
    i++;
  }
  if (i == 0) return false;
  std::string_view unit = s.substr(i);
  long long mult = 1;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "K" || unit == "k" || unit == "KB") mult = 1024;
  else if (unit == "M" || unit == "MB") mult = 1024 * 1024;
  else if (unit == "G" || unit == "GB") mult = 1024LL * 1024 * 1024;
  else return false;
  out = n * mult;
  return true;
}

const KeyDef& Config::def(std::string_view key) const {
  const KeyDef* d = find_def(key);
  if (!d) throw std::logic_error("config key not in schema: " + std::string(key));
  return *d;
}

void Config::set_defaults() {
  for (const auto& d : config_schema()) {
    if (d.type == KeyType::string_list) lists_[d.name] = split_default(d.def);
    else if (d.type == KeyType::string_map) maps_[d.name] = {};
    else raw_[d.name] = d.def;
  }
}

Config Config::defaults(const std::string& root) {
  Config c;
  c.root_ = root;
  c.set_defaults();
  return c;
}

Result<Config> Config::load(const std::string& file) {
  Config c;
  c.file_ = file;
  {
    std::string dir = file.substr(0, file.find_last_of('/') == std::string::npos ? 0 : file.find_last_of('/'));
    if (dir.empty()) dir = ".";
    char* real = ::realpath(dir.c_str(), nullptr);
    std::string absdir = real ? real : dir;
    free(real);
    // An instance keeps its file in DIR/etc/, so DIR is the root.
    auto slash = absdir.find_last_of('/');
    c.root_ = (absdir.size() >= 4 && absdir.substr(absdir.size() - 4) == "/etc" && slash != std::string::npos)
                  ? (slash == 0 ? "/" : absdir.substr(0, slash))
                  : absdir;
  }
  c.set_defaults();
  toml::table tbl;
  try {
    tbl = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    return Status::perm("5.3.5", file + ":" + std::to_string(e.source().begin.line) + ": " +
                                     std::string(e.description()));
  } catch (const std::exception& e) {
    return Status::perm("5.3.5", file + ": " + e.what());
  }

  auto line_of = [](const toml::node& n) { return static_cast<int>(n.source().begin.line); };

  std::function<void(const toml::table&, const std::string&)> walk;
  walk = [&](const toml::table& t, const std::string& prefix) {
    for (auto&& [k, node] : t) {
      std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      int line = line_of(node);
      const KeyDef* d = find_def(key);
      if (!d) {
        if (node.is_table() && is_section_prefix(key)) {
          walk(*node.as_table(), key);
          continue;
        }
        throw LoadError(line, "unknown key '" + key + "'");
      }
      auto bad = [&]() { throw LoadError(line, "'" + key + "' must be " + type_name(d->type)); };
      c.lines_[key] = line;
      switch (d->type) {
        case KeyType::string:
        case KeyType::path:
          if (!node.is_string()) bad();
          c.raw_[key] = node.as_string()->get();
          break;
        case KeyType::integer:
          if (!node.is_integer() || node.as_integer()->get() < 0) bad();
          c.raw_[key] = std::to_string(node.as_integer()->get());
          break;
        case KeyType::boolean:
          if (!node.is_boolean()) bad();
          c.raw_[key] = node.as_boolean()->get() ? "true" : "false";
          break;
        case KeyType::duration:
        case KeyType::size: {
          std::string v;
          if (node.is_integer() && node.as_integer()->get() >= 0) v = std::to_string(node.as_integer()->get());
          else if (node.is_string()) v = node.as_string()->get();
          else bad();
          long long n;
          if (!(d->type == KeyType::duration ? parse_duration(v, n) : parse_size(v, n))) bad();
          c.raw_[key] = v;
          break;
        }
        case KeyType::string_list: {
          if (!node.is_array()) bad();
          std::vector<std::string> v;
          for (auto&& el : *node.as_array()) {
            if (!el.is_string()) bad();
            v.push_back(el.as_string()->get());
          }
          c.lists_[key] = std::move(v);
          break;
        }
        case KeyType::string_map: {
          if (!node.is_table()) bad();
          std::map<std::string, std::string> m;
          for (auto&& [mk, mv] : *node.as_table()) {
            if (!mv.is_string())
              throw LoadError(line_of(mv), "'" + key + "." + std::string(mk.str()) + "' must be a string");
            m[std::string(mk.str())] = mv.as_string()->get();
          }
          c.maps_[key] = std::move(m);
          break;
        }
      }
    }
  };
  try {
    walk(tbl, "");
  } catch (const LoadError& e) {
    return Status::perm("5.3.5", file + ":" + std::to_string(e.line) + ": " + e.what());
  }
  return c;
}

std::string Config::str(std::string_view key) const {
  def(key);
  auto it = raw_.find(key);
  return it == raw_.end() ? std::string() : it->second;
}

std::string Config::path(std::string_view key) const {
  std::string v = str(key);
  if (v.empty() || v[0] == '/') return v;
  return root_ == "/" ? "/" + v : root_ + "/" + v;
}

long long Config::integer(std::string_view key) const { return std::stoll(str(key)); }
bool Config::boolean(std::string_view key) const { return str(key) == "true"; }

long long Config::seconds(std::string_view key) const {
  long long n = 0;
  parse_duration(str(key), n);
  return n;
}

long long Config::bytes(std::string_view key) const {
  long long n = 0;
  parse_size(str(key), n);
  return n;
}

std::vector<std::string> Config::list(std::string_view key) const {
  def(key);
  auto it = lists_.find(key);
  return it == lists_.end() ? std::vector<std::string>{} : it->second;
}

std::map<std::string, std::string> Config::map(std::string_view key) const {
  def(key);
  auto it = maps_.find(key);
  return it == maps_.end() ? std::map<std::string, std::string>{} : it->second;
}

bool Config::is_set(std::string_view key) const { return lines_.find(key) != lines_.end(); }

std::string Config::hostname() const {
  std::string h = str("hostname");
  if (!h.empty()) return h;
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
  return buf;
}

std::vector<Config::Effective> Config::effective() const {
  std::vector<Effective> out;
  for (const auto& d : config_schema()) {
    Effective e{d.name, "", d.def, is_set(d.name), 0};
    if (auto it = lines_.find(std::string_view(d.name)); it != lines_.end()) e.line = it->second;
    if (d.type == KeyType::string_list) {
      e.value = join(list(d.name));
    } else if (d.type == KeyType::string_map) {
      std::string s;
      for (const auto& [k, v] : map(d.name)) s += (s.empty() ? "" : ",") + k + "=" + v;
      e.value = s;
    } else if (d.type == KeyType::path) {
      e.value = path(d.name);
    } else {
      e.value = str(d.name);
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::string find_config_path(const char* cli_arg) {
  if (cli_arg && *cli_arg) return cli_arg;
  if (const char* e = std::getenv("SLUICE_CONFIG"); e && *e) return e;
  return "/etc/sluice/sluice.toml";
}

}  // namespace sluice
