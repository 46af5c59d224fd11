// The etc/sluice.toml that `sluice init` writes: the keys an operator
// changes first, each with a comment, development ports (DESIGN.md
// "Instance and the two commands"). `sluice config check` shows the rest.
#include <string_view>

#include "admin/cli/cli.hpp"

namespace sluice::cli {
namespace {

bool in_schema(std::string_view key) {
  for (const auto& d : config_schema())
    if (key == d.name) return true;
  return false;
}

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string config_template(const std::string& hostname) {
  std::string t =
      "# sluice instance configuration. Every key and its default:\n"
      "#   sluice config check\n"
      "# Relative paths are relative to the instance directory (the parent of etc/).\n"
      "\n"
      "# This host's name in the SMTP greeting, Received lines and bounces.\n"
      "hostname = " + toml_string(hostname) + "\n"
      "\n"
      "[smtpd]\n"
      "# Development ports; production uses 25, 587 and 465 (started as root).\n"
      "listen = [\"127.0.0.1:2525\"]\n"
      "submission_listen = [\"127.0.0.1:2587\"]\n"
      "submissions_listen = [\"127.0.0.1:2465\"]\n"
      "# Clients in these networks may relay without AUTH.\n"
      "trusted_networks = [\"127.0.0.0/8\", \"::1/128\"]\n"
      "# Milters asked at every SMTP stage, e.g. OpenDKIM: [\"inet:8891@127.0.0.1\"].\n"
      "milters = []\n";
  // POP3 keys belong to sluice-pop3d; write them only once its schema has them.
  if (in_schema("pop3.listen") && in_schema("pop3.pop3s_listen"))
    t += "\n"
         "[pop3]\n"
         "listen = [\"127.0.0.1:2110\"]\n"
         "pop3s_listen = [\"127.0.0.1:2995\"]\n";
  t += "\n"
       "[queue]\n"
       "dir = \"queue\"\n"
       "# After a temporary failure: first retry, doubling up to retry_max,\n"
       "# bounce after lifetime.\n"
       "retry_first = \"5m\"\n"
       "retry_max = \"1h\"\n"
       "lifetime = \"5d\"\n"
       "local_concurrency = 20\n"
       "remote_concurrency = 20\n"
       "\n"
       "[local]\n"
       "# Maildir++ store: mail/DOMAIN/LOCALPART/ (Dovecot can read it).\n"
       "mail_dir = \"mail\"\n"
       "# Quota of users without their own (0: none); over quota: defer or bounce.\n"
       "default_quota = \"0\"\n"
       "quota_exceeded = \"defer\"\n"
       "\n"
       "[limits]\n"
       "message_size = \"50M\"\n"
       "recipients = 1000\n"
       "\n"
       "[tls]\n"
       "cert = \"etc/tls/cert.pem\"\n"
       "key = \"etc/tls/key.pem\"\n"
       "\n"
       "[tables]\n"
       "backend = \"sqlite\"\n"
       "sqlite = \"db/sluice.db\"\n"
       "\n"
       "# Static routes, like qmail's smtproutes: \"domain\" = \"host:port\",\n"
       "# \".domain\" for its subdomains, \"*\" for a smarthost.\n"
       "# [routes]\n"
       "# \"example.org\" = \"mx.example.org:25\"\n";
  return t;
}

}  // namespace sluice::cli
