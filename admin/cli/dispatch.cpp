// Command table of `sluice`, global options, and the helpers every command
// shares (config loading, error and usage lines).
#include <cstdio>
#include <cstring>

#include "admin/cli/cli.hpp"
#include "common/log.hpp"

namespace sluice::cli {
namespace {

const char* kUsage =
    "usage: sluice [-c FILE] COMMAND ...\n"
    "  init DIR --domain D [--hostname H]    make an instance in DIR\n"
    "  setup                                 (root) accounts, groups, ownership\n"
    "  status                                exit 0 when the instance runs\n"
    "  domain add|del D, domain list\n"
    "  user add ADDR [--password PW | --password-stdin]\n"
    "  user del ADDR, user passwd ADDR [--password PW | --password-stdin]\n"
    "  user list [DOMAIN], user quota ADDR BYTES|SIZE|default\n"
    "  user sms ADDR --phone +E164 --on|--off [--match WORDS] [--quiet HH:MM-HH:MM] [--daily-cap N]\n"
    "  alias add ALIAS TARGET..., alias del ALIAS [TARGET], alias list\n"
    "  queue list | show QID | delete QID...|ALL | hold QID... | release QID... | flush\n"
    "  config check                          validate; print every effective value\n"
    "  sms send --to +E164 --text TEXT       queue an SMS\n"
    "The configuration: -c FILE, else $SLUICE_CONFIG, else /etc/sluice/sluice.toml.\n";

}  // namespace

int fail(const std::string& text) {
  std::fprintf(stderr, "sluice: %s\n", text.c_str());
  return kExitFail;
}

int usage(const char* text) {
  std::fputs(text, stderr);
  return kExitUsage;
}

bool load_config(const std::string& config_arg, Config& out) {
  std::string path = find_config_path(config_arg.empty() ? nullptr : config_arg.c_str());
  auto c = Config::load(path);
  if (!c) {
    std::fprintf(stderr, "sluice: %s\n", c.error().text.c_str());
    return false;
  }
  out = std::move(*c);
  return true;
}

int run(int argc, char** argv) {
  Args a(argv + 1, argv + argc);
  std::string config_arg;
  size_t i = 0;
  while (i < a.size() && a[i].size() > 1 && a[i][0] == '-') {
    if (a[i] == "-c" && i + 1 < a.size()) {
      config_arg = a[i + 1];
      i += 2;
    } else if (a[i] == "-h" || a[i] == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else {
      return usage(kUsage);
    }
  }
  if (i >= a.size()) return usage(kUsage);
  std::string cmd = a[i];
  Args rest(a.begin() + static_cast<long>(i) + 1, a.end());
  if (cmd == "help") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (cmd == "init") return cmd_init(rest);
  if (cmd == "setup") return cmd_setup(rest, config_arg);
  if (cmd == "status") return cmd_status(rest, config_arg);
  if (cmd == "domain") return cmd_domain(rest, config_arg);
  if (cmd == "user") return cmd_user(rest, config_arg);
  if (cmd == "alias") return cmd_alias(rest, config_arg);
  if (cmd == "queue") return cmd_queue(rest, config_arg);
  if (cmd == "config") return cmd_config(rest, config_arg);
  if (cmd == "sms") return cmd_sms(rest, config_arg);
  std::fprintf(stderr, "sluice: unknown command '%s'\n", cmd.c_str());
  return usage(kUsage);
}

}  // namespace sluice::cli
