// The `sluice` admin CLI: one function per command group, and the small
// parsers they share (kept pure so tests/unit/cli_*_test.cpp can call them).
//
// Conventions of every command: an error prints one line "sluice: what is
// wrong" on stderr, changes nothing and exits 1; bad usage prints the usage
// on stderr and exits 64 (EX_USAGE); `status` exits 3 when not running.
#pragma once
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "common/status.hpp"
#include "queue/store/queue.hpp"

namespace sluice::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFail = 1;
inline constexpr int kExitNotRunning = 3;  // LSB "program is not running"
inline constexpr int kExitUsage = 64;      // EX_USAGE

using Args = std::vector<std::string>;

// --- argument parsing ---------------------------------------------------------
// Options named in SPEC ("--phone" -> takes a value, "--on" -> flag) may
// appear anywhere among ARGS; "--" ends them; "--name=value" is accepted.
struct Opts {
  std::map<std::string, std::string> values;
  std::set<std::string> flags;
  std::vector<std::string> positional;
  bool has(const std::string& o) const { return flags.count(o) || values.count(o); }
  std::string get(const std::string& o) const {
    auto it = values.find(o);
    return it == values.end() ? std::string() : it->second;
  }
};
// False with ERROR set on an unknown option or a missing value.
bool parse_opts(const Args& args, const std::map<std::string, bool>& spec, Opts& out, std::string& error);

bool valid_e164(std::string_view phone);       // "+" then 7..15 digits, no leading 0
bool valid_quiet(std::string_view quiet);      // "HH:MM-HH:MM", 00:00..23:59
std::vector<std::string> split_words(std::string_view s);  // on commas and blanks
// "0", "1000000", "10M", "default" (-1: local.default_quota). False if malformed.
bool parse_quota(std::string_view s, long long& bytes);

// --- queue listing (queue/store/listing.cpp, shared with mailq) ---------------------
using queue::iso_time;
using queue::queue_line;
using queue::queue_state;

// --- the instance's etc/sluice.toml -----------------------------------------------
// The commented configuration `sluice init` writes; every key it sets is in
// config_schema.cpp (the unit tests load it back).
std::string config_template(const std::string& hostname);

// --- command groups: ARGS excludes the group name; CONFIG_ARG is -c or "". ---------
int cmd_init(const Args& args);
int cmd_setup(const Args& args, const std::string& config_arg);
int cmd_status(const Args& args, const std::string& config_arg);
int cmd_domain(const Args& args, const std::string& config_arg);
int cmd_user(const Args& args, const std::string& config_arg);
int cmd_alias(const Args& args, const std::string& config_arg);
int cmd_queue(const Args& args, const std::string& config_arg);
int cmd_config(const Args& args, const std::string& config_arg);
int cmd_sms(const Args& args, const std::string& config_arg);

// Entry point: sluice [-c FILE] COMMAND ARGS...
int run(int argc, char** argv);

// --- helpers shared by the command files ---------------------------------------
int fail(const std::string& text);   // prints "sluice: TEXT", returns kExitFail
int usage(const char* text);         // prints TEXT on stderr, returns kExitUsage
// Loads the configuration (-c, $SLUICE_CONFIG, /etc/sluice/sluice.toml);
// on error prints "sluice: FILE:LINE: message" and returns false.
bool load_config(const std::string& config_arg, Config& out);

// Writes a self-signed certificate and its key (EC P-256, SHA-256, 10
// years, CN = HOSTNAME, SAN = HOSTNAME and DOMAIN). Key file mode 0600.
Status make_self_signed(const std::string& cert_path, const std::string& key_path, const std::string& hostname,
                        const std::string& domain);

}  // namespace sluice::cli
