// `sluice domain|user|alias ...`: the table administration commands. The
// table backend validates and applies each change in one transaction, so a
// refused change leaves the tables as they were.
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "admin/cli/cli.hpp"
#include "common/address.hpp"
#include "common/password.hpp"
#include "common/tables.hpp"

namespace sluice::cli {
namespace {

const char* kDomainUsage = "usage: sluice domain add DOMAIN | del DOMAIN | list\n";
const char* kUserUsage =
    "usage: sluice user add ADDR [--password PW | --password-stdin]\n"
    "       sluice user del ADDR | passwd ADDR [--password PW | --password-stdin]\n"
    "       sluice user list [DOMAIN] | quota ADDR BYTES|SIZE|default\n"
    "       sluice user sms ADDR [--phone +E164] [--on|--off] [--match WORDS] [--quiet HH:MM-HH:MM]\n"
    "                            [--daily-cap N]\n";
const char* kAliasUsage = "usage: sluice alias add ALIAS TARGET... | del ALIAS [TARGET] | list\n";

std::unique_ptr<tables::Tables> open(const std::string& config_arg) {
  Config cfg;
  if (!load_config(config_arg, cfg)) return nullptr;
  auto t = tables::open_tables(cfg, false);
  if (!t) {
    fail("tables: " + t.error().text);
    return nullptr;
  }
  return std::move(*t);
}

int done(const Status& st, const std::string& what) {
  if (!st.is_ok()) return fail(st.text);
  if (!what.empty()) std::printf("%s\n", what.c_str());
  return kExitOk;
}

// Reads a line from the terminal without echo.
bool ask(const char* prompt, std::string& out) {
  FILE* tty = std::fopen("/dev/tty", "r+");
  if (!tty) return false;
  std::fputs(prompt, tty);
  std::fflush(tty);
  termios old {};
  bool have = tcgetattr(fileno(tty), &old) == 0;
  if (have) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
  }
  char buf[1024];
  bool ok = std::fgets(buf, sizeof buf, tty) != nullptr;
  if (have) tcsetattr(fileno(tty), TCSAFLUSH, &old);
  std::fputs("\n", tty);
  std::fclose(tty);
  if (!ok) return false;
  out = buf;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return true;
}

// The password of `user add` / `user passwd`. NONE_OK: without any source
// (no option, stdin not a terminal) the result is "no password" (add).
// Returns 0 and sets HASH ("" for none), or an exit status.
int password_hash(const Opts& o, bool none_ok, std::string& hash) {
  std::string pw;
  bool have = false;
  if (o.has("--password") && o.has("--password-stdin")) return fail("give --password or --password-stdin, not both");
  if (o.has("--password")) {
    pw = o.get("--password");
    have = true;
  } else if (o.has("--password-stdin")) {
    if (!std::getline(std::cin, pw)) return fail("--password-stdin: no line on standard input");
    if (!pw.empty() && pw.back() == '\r') pw.pop_back();
    have = true;
  } else if (isatty(0)) {
    std::string again;
    if (!ask("Password: ", pw) || !ask("Again: ", again)) return fail("cannot read the password from the terminal");
    if (pw != again) return fail("the passwords differ; nothing changed");
    have = true;
  }
  hash.clear();
  if (!have) return none_ok ? 0 : fail("no password given: use --password-stdin or --password PW");
  if (pw.empty()) return fail("empty password refused");
  hash = password::hash(pw);
  if (hash.empty()) return fail("cannot hash the password (libxcrypt failed)");
  return 0;
}

int user_add_or_passwd(bool add, const Args& args, const std::string& config_arg) {
  Opts o;
  std::string err;
  if (!parse_opts(args, {{"--password", true}, {"--password-stdin", false}}, o, err)) {
    fail(err);
    return usage(kUserUsage);
  }
  if (o.positional.size() != 1) return usage(kUserUsage);
  auto t = open(config_arg);
  if (!t) return kExitFail;
  std::string hash;
  if (int rc = password_hash(o, add, hash)) return rc;
  const std::string& a = o.positional[0];
  if (add)
    return done(t->add_user(tables::User{a, hash, -1}),
                "user " + addr::lower_ascii(a) + " added" + (hash.empty() ? " (no password: cannot log in)" : ""));
  return done(t->set_password(a, hash), "password of " + addr::lower_ascii(a) + " changed");
}

std::string quota_text(long long q) {
  return q < 0 ? "default" : q == 0 ? "none" : std::to_string(q);
}

int user_list(const Args& args, tables::Tables& t) {
  if (args.size() > 1) return usage(kUserUsage);
  auto users = t.list_users(args.empty() ? "" : args[0]);
  if (!users) return fail(users.error().text);
  for (const auto& u : *users)
    std::printf("%s quota=%s password=%s\n", u.address.c_str(), quota_text(u.quota_bytes).c_str(),
                u.password_hash.empty() ? "no" : "yes");
  return kExitOk;
}

int user_sms(const Args& args, tables::Tables& t) {
  Opts o;
  std::string err;
  if (!parse_opts(args,
                  {{"--phone", true}, {"--on", false}, {"--off", false}, {"--match", true}, {"--quiet", true},
                   {"--daily-cap", true}},
                  o, err) ||
      o.positional.size() != 1) {
    if (!err.empty()) fail(err);
    return usage(kUserUsage);
  }
  if (o.has("--on") && o.has("--off")) return fail("give --on or --off, not both");
  const std::string& a = o.positional[0];
  auto user = t.find_user(a);
  if (!user) return fail(user.error().text);
  if (!*user) return fail("no such user: " + a);
  auto cur = t.sms_settings(a);
  if (!cur) return fail(cur.error().text);
  // Unchanged settings are kept, so `--off` alone keeps the phone and rules.
  tables::SmsSettings s = cur->value_or(tables::SmsSettings{});
  if (o.has("--phone")) s.phone = o.get("--phone");
  if (!s.phone.empty() && !valid_e164(s.phone))
    return fail("phone number must be E.164, '+' and 7 to 15 digits (+8613800138000): " + s.phone);
  if (o.has("--on")) s.on = true;
  if (o.has("--off")) s.on = false;
  if (o.has("--match")) s.match = split_words(o.get("--match"));
  if (o.has("--quiet")) s.quiet = o.get("--quiet");
  if (!s.quiet.empty() && !valid_quiet(s.quiet)) return fail("quiet hours must be HH:MM-HH:MM: " + s.quiet);
  if (o.has("--daily-cap")) {
    long long n = 0;
    if (!parse_size(o.get("--daily-cap"), n) || o.get("--daily-cap").find_first_not_of("0123456789") != std::string::npos ||
        n > 100000)
      return fail("--daily-cap must be a number of messages (0: no cap): " + o.get("--daily-cap"));
    s.daily_cap = static_cast<int>(n);
  }
  if (s.on && s.phone.empty()) return fail("SMS cannot be on without a phone number (--phone +E164)");
  std::string summary = "sms of " + addr::lower_ascii(a) + ": " + (s.on ? "on" : "off") + " phone=" + s.phone;
  return done(t.set_sms(a, s), summary);
}

}  // namespace

int cmd_domain(const Args& args, const std::string& config_arg) {
  if (args.empty()) return usage(kDomainUsage);
  const std::string& sub = args[0];
  if (!(sub == "list" ? args.size() == 1 : (sub == "add" || sub == "del") && args.size() == 2))
    return usage(kDomainUsage);
  auto t = open(config_arg);
  if (!t) return kExitFail;
  if (sub == "add") return done(t->add_domain(args[1]), "domain " + addr::lower_ascii(args[1]) + " added");
  if (sub == "del") return done(t->del_domain(args[1]), "domain " + addr::lower_ascii(args[1]) + " deleted");
  auto d = t->list_domains();
  if (!d) return fail(d.error().text);
  for (const auto& x : *d) std::printf("%s\n", x.c_str());
  return kExitOk;
}

int cmd_user(const Args& args, const std::string& config_arg) {
  if (args.empty()) return usage(kUserUsage);
  const std::string& sub = args[0];
  Args rest(args.begin() + 1, args.end());
  if (sub == "add" || sub == "passwd") return user_add_or_passwd(sub == "add", rest, config_arg);
  if (sub != "del" && sub != "list" && sub != "quota" && sub != "sms") return usage(kUserUsage);
  if ((sub == "del" && rest.size() != 1) || (sub == "quota" && rest.size() != 2)) return usage(kUserUsage);
  long long q = 0;
  if (sub == "quota" && !parse_quota(rest[1], q))
    return fail("quota must be a byte count, a size like 500M, 0 (none) or default: " + rest[1]);
  auto t = open(config_arg);
  if (!t) return kExitFail;
  if (sub == "del") return done(t->del_user(rest[0]), "user " + addr::lower_ascii(rest[0]) + " deleted");
  if (sub == "list") return user_list(rest, *t);
  if (sub == "quota") return done(t->set_quota(rest[0], q), "quota of " + addr::lower_ascii(rest[0]) + ": " + quota_text(q));
  return user_sms(rest, *t);
}

int cmd_alias(const Args& args, const std::string& config_arg) {
  if (args.empty()) return usage(kAliasUsage);
  const std::string& sub = args[0];
  if (!((sub == "add" && args.size() >= 3) || (sub == "del" && (args.size() == 2 || args.size() == 3)) ||
        (sub == "list" && args.size() == 1)))
    return usage(kAliasUsage);
  auto t = open(config_arg);
  if (!t) return kExitFail;
  if (sub == "add") {
    std::vector<std::string> targets(args.begin() + 2, args.end());
    return done(t->add_alias(args[1], targets), "alias " + addr::lower_ascii(args[1]) + " added");
  }
  if (sub == "del")
    return done(t->del_alias(args[1], args.size() == 3 ? args[2] : ""), "alias " + addr::lower_ascii(args[1]) + " changed");
  auto l = t->list_aliases();
  if (!l) return fail(l.error().text);
  for (const auto& [alias, targets] : *l) {
    std::string line = alias + ":";
    for (size_t i = 0; i < targets.size(); i++) line += (i ? ", " : " ") + targets[i];
    std::printf("%s\n", line.c_str());
  }
  return kExitOk;
}

}  // namespace sluice::cli
