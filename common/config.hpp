// The one TOML configuration file (etc/sluice.toml of an instance).
//
// Every key is declared in config_schema.cpp with its type, default and a
// line of help; a key not declared there is an error naming file and line.
// Programs read effective values by dotted name: cfg.seconds("queue.retry_first").
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace sluice {

enum class KeyType {
  string,       // any string
  path,         // string; relative paths resolve against the instance root
  integer,      // 64-bit, >= 0
  boolean,
  duration,     // "90s", "5m", "1h", "5d", "1h30m" or an integer of seconds
  size,         // "10M", "512K", "1G" or an integer of bytes
  string_list,  // array of strings
  string_map,   // a table whose keys are free and whose values are strings
};

struct KeyDef {
  const char* name;      // dotted: "smtpd.greet_pause"
  KeyType type;
  const char* def;       // default in config syntax; lists as "a,b"; maps empty
  const char* help;
};

// All declared keys (config_schema.cpp).
const std::vector<KeyDef>& config_schema();

class Config {
 public:
  // Parses and validates FILE. The error's text is "FILE:LINE: message".
  static Result<Config> load(const std::string& file);
  // Defaults only, rooted at ROOT (tests, `sluice init`).
  static Config defaults(const std::string& root);

  std::string str(std::string_view key) const;
  std::string path(std::string_view key) const;  // absolute, resolved against root()
  long long integer(std::string_view key) const;
  bool boolean(std::string_view key) const;
  long long seconds(std::string_view key) const;
  long long bytes(std::string_view key) const;
  std::vector<std::string> list(std::string_view key) const;
  std::map<std::string, std::string> map(std::string_view key) const;
  bool is_set(std::string_view key) const;  // given in the file, not defaulted

  const std::string& root() const { return root_; }
  const std::string& file() const { return file_; }
  // The effective host name: `hostname`, else the system's.
  std::string hostname() const;

  struct Effective {
    std::string key, value, def;
    bool from_file;
    int line;
  };
  std::vector<Effective> effective() const;

 private:
  std::string root_, file_;
  std::map<std::string, std::string, std::less<>> raw_;           // canonical text form
  std::map<std::string, int, std::less<>> lines_;
  std::map<std::string, std::vector<std::string>, std::less<>> lists_;
  std::map<std::string, std::map<std::string, std::string>, std::less<>> maps_;
  const KeyDef& def(std::string_view key) const;
  void set_defaults();
};

// Where the configuration is: -c FILE, else $SLUICE_CONFIG, else
// /etc/sluice/sluice.toml. CLI_ARG may be null.
std::string find_config_path(const char* cli_arg);

// Parsers shared with the CLI. Return false on a malformed value.
bool parse_duration(std::string_view s, long long& seconds);
bool parse_size(std::string_view s, long long& bytes);

}  // namespace sluice
