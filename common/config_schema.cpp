// Every configuration key, its type, default and meaning. `sluice config
// check` prints this table with the effective values. A section per program;
// add a key here before reading it.
#include "common/config.hpp"

namespace sluice {

const std::vector<KeyDef>& config_schema() {
  using T = KeyType;
  static const std::vector<KeyDef> schema = {
      // --- instance -------------------------------------------------------
      {"hostname", T::string, "", "this host's name in HELO, Received, bounces (default: the system's)"},
      {"log.level", T::string, "info", "debug, info, warn or error"},
      {"accounts.smtpd", T::string, "sluice-smtpd", "account of sluice-smtpd"},
      {"accounts.auth", T::string, "sluice-auth", "account of sluice-auth"},
      {"accounts.queue", T::string, "sluice-q", "account and group owning the queue"},
      {"accounts.mbox", T::string, "sluice-mbox", "account owning the mailboxes"},
      {"accounts.remote", T::string, "sluice-remote", "account of sluice-remote"},
      {"accounts.sms", T::string, "sluice-sms", "account of sluice-sms"},
      {"run_dir", T::path, "run", "pid file, sockets, trigger"},

      // --- sluice-start -----------------------------------------------------
      {"start.ready_timeout", T::duration, "30s", "a program not ready this long after its start stops the instance"},
      {"start.stop_timeout", T::duration, "10s", "on SIGTERM, wait this long before SIGKILL of the programs left"},

      // --- queue and scheduler -------------------------------------------
      {"queue.dir", T::path, "queue", "the queue directory"},
      {"queue.retry_first", T::duration, "5m", "first retry after a temporary failure"},
      {"queue.retry_max", T::duration, "1h", "retries double up to this interval"},
      {"queue.lifetime", T::duration, "5d", "give up and bounce after this long"},
      {"queue.bounce_lifetime", T::duration, "5d", "lifetime of a bounce message"},
      {"queue.delay_warning", T::duration, "4h", "send a delay DSN (NOTIFY=DELAY) after this long"},
      {"queue.local_concurrency", T::integer, "20", "parallel local deliveries (sluice-local pool size)"},
      {"queue.remote_concurrency", T::integer, "20", "parallel remote deliveries (sluice-remote pool size)"},
      {"queue.scan_interval", T::duration, "5m", "safety rescan of the queue directory"},
      {"queue.postmaster", T::string, "", "where failed bounces go (default postmaster@first local domain)"},
      {"queue.min_free", T::size, "0", "refuse injection (exit 53) when the queue filesystem has less free"},

      // --- tables -----------------------------------------------------------
      {"tables.backend", T::string, "sqlite", "sqlite or ldap"},
      {"tables.sqlite", T::path, "db/sluice.db", "SQLite database of domains, users, aliases"},
      {"tables.ldap.uri", T::string, "", "ldap://host:port"},
      {"tables.ldap.base", T::string, "", "search base"},
      {"tables.ldap.bind_dn", T::string, "", "service account DN"},
      {"tables.ldap.bind_password", T::string, "", "service account password"},
      {"tables.ldap.user_filter", T::string, "(mail=%s)", "filter finding a user by address"},

      // --- local delivery ---------------------------------------------------
      {"local.mail_dir", T::path, "mail", "Maildir++ store: MAIL_DIR/DOMAIN/LOCALPART/"},
      {"local.quota_exceeded", T::string, "defer", "over quota: defer (4.2.2) or bounce (5.2.2)"},
      {"local.default_quota", T::size, "0", "quota of users without one (0: none)"},
      {"local.recipient_delimiter", T::string, "+", "user+tag@d delivers to user@d (\"\" turns it off)"},
      {"local.max_use", T::integer, "100", "jobs a pool member serves before exiting (sluice-start restarts it)"},

      // --- smtpd ------------------------------------------------------------
      {"smtpd.listen", T::string_list, "127.0.0.1:2525", "MX port listeners, host:port"},
      {"smtpd.submission_listen", T::string_list, "127.0.0.1:2587", "submission (STARTTLS, AUTH) listeners"},
      {"smtpd.submissions_listen", T::string_list, "127.0.0.1:2465", "submissions (implicit TLS) listeners"},
      {"smtpd.workers", T::integer, "2", "worker processes"},
      {"smtpd.trusted_networks", T::string_list, "127.0.0.0/8,::1/128", "networks that may relay"},
      {"smtpd.filters", T::string_list, "", "post-DATA filter chain argv; sluice-inject is appended"},
      {"smtpd.greet_pause", T::duration, "1s", "MX port: wait before the greeting, refuse early talkers"},
      {"smtpd.vrfy", T::boolean, "false", "answer VRFY"},

      // --- limits -----------------------------------------------------------
      {"limits.message_size", T::size, "50M", "largest message accepted (SIZE)"},
      {"limits.recipients", T::integer, "1000", "recipients per message"},

      // --- TLS --------------------------------------------------------------
      {"tls.cert", T::path, "etc/tls/cert.pem", "certificate chain (PEM)"},
      {"tls.key", T::path, "etc/tls/key.pem", "private key (PEM)"},
      {"tls.sni", T::string_map, "", "per-domain certificates: \"domain\" = \"cert.pem,key.pem\""},

      // --- remote delivery --------------------------------------------------
      {"routes", T::string_map, "", "static routes: \"domain\" = \"host:port\", \".domain\" for subdomains, \"*\" smarthost"},
      {"dns.servers", T::string_list, "", "resolver override, host:port (default: the system's)"},
      {"remote.mx_port", T::integer, "25", "port of remote MX hosts"},

      // --- SMS --------------------------------------------------------------
      {"sms.transport", T::string, "smpp", "smpp or http"},
  };
  return schema;
}

}  // namespace sluice
