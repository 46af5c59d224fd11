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
      {"start.scheduling", T::string, "batch",
       "CPU scheduling of the programs: batch (SCHED_BATCH: a woken program does not preempt a running one) or normal"},

      // --- queue and scheduler -------------------------------------------
      {"queue.dir", T::path, "queue", "the queue directory"},
      {"queue.retry_first", T::duration, "5m", "first retry after a temporary failure"},
      {"queue.retry_max", T::duration, "1h", "retries double up to this interval"},
      {"queue.lifetime", T::duration, "5d", "give up and bounce after this long"},
      {"queue.bounce_lifetime", T::duration, "5d", "lifetime of a bounce message"},
      {"queue.delay_warning", T::duration, "4h", "send a delay DSN (NOTIFY=DELAY) after this long"},
      {"queue.local_concurrency", T::integer, "20", "parallel local deliveries (sluice-local pool size)"},
      {"queue.remote_concurrency", T::integer, "20", "parallel remote deliveries (sluice-remote pool size)"},
      {"queue.local_pipeline", T::integer, "16",
       "local jobs sent ahead on one connection while a member is busy; the member delivers them as one round"},
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
      {"local.max_use", T::integer, "1000", "jobs a pool member serves before exiting (sluice-start restarts it)"},

      // --- smtpd ------------------------------------------------------------
      {"smtpd.listen", T::string_list, "127.0.0.1:2525", "MX port listeners, host:port"},
      {"smtpd.submission_listen", T::string_list, "127.0.0.1:2587", "submission (STARTTLS, AUTH) listeners"},
      {"smtpd.submissions_listen", T::string_list, "127.0.0.1:2465", "submissions (implicit TLS) listeners"},
      {"smtpd.workers", T::integer, "2", "worker processes"},
      {"smtpd.trusted_networks", T::string_list, "127.0.0.0/8,::1/128", "networks that may relay"},
      {"smtpd.filters", T::string_list, "", "post-DATA filter chain argv; sluice-inject is appended"},
      {"smtpd.filter_timeout", T::duration, "5m", "a filter chain still running this long is killed: 451 4.3.0"},
      {"smtpd.greet_pause", T::duration, "1s", "MX port: wait before the greeting, refuse early talkers"},
      {"smtpd.received_auth", T::boolean, "false", "name the authenticated user in the Received line"},
      {"smtpd.reject_clients", T::string_list, "", "client networks refused at the greeting (554, then 503 to all but QUIT)"},
      {"smtpd.reject_senders", T::string_list, "", "envelope senders refused at MAIL"},
      {"smtpd.reject_sender_domains", T::string_list, "", "sender domains refused at MAIL; \".d\" also refuses subdomains"},
      {"smtpd.reject_helo", T::string_list, "", "HELO/EHLO names refused"},
      {"smtpd.reject_users", T::string_list, "", "authenticated users who may not send"},
      {"smtpd.replies", T::string_map, "", "gate = \"CODE X.Y.Z text\" or \"text\": the reply of a gate"},
      {"smtpd.vrfy", T::boolean, "false", "answer VRFY"},
      {"smtpd.milters", T::string_list, "", "milters asked at every SMTP stage: inet:HOST:PORT, inet:PORT@HOST, unix:/PATH"},
      {"smtpd.milter_default_action", T::string, "tempfail", "a milter that fails: tempfail (451/421) or accept (left out)"},
      {"smtpd.milter_command_timeout", T::duration, "30s", "a milter's time to connect and to answer a command"},
      {"smtpd.milter_content_timeout", T::duration, "5m", "a milter's time to answer for the message"},
      {"smtpd.timeout", T::duration, "5m", "a client silent this long is dropped (RFC 5321 4.5.3.2)"},
      {"smtpd.max_errors", T::integer, "20", "refused commands before the session is ended (421)"},
      {"smtpd.auth_failures", T::integer, "3", "failed AUTH per session before it is ended"},

      // --- sluice-auth --------------------------------------------------------
      {"auth.max_failures", T::integer, "10", "failed logins from one IP address before a temporary ban"},
      {"auth.ban_time", T::duration, "10m", "length of that ban; failures older than this are forgotten"},

      // --- limits -----------------------------------------------------------
      {"limits.message_size", T::size, "50M", "largest message accepted (SIZE)"},
      {"limits.messages_per_session", T::integer, "100", "messages per SMTP session, then 421"},
      {"limits.hops", T::integer, "50", "Received lines beyond this: 554 5.4.6 (mail loop)"},
      {"limits.sessions", T::integer, "10000", "concurrent sessions, all smtpd workers together, then 421"},
      {"limits.sessions_per_ip", T::integer, "50", "concurrent sessions per client IP, all workers together, then 421"},
      {"limits.connection_rate", T::integer, "0", "connections per client IP per minute, all workers together (0: no limit, at most 4000)"},
      {"limits.recipients", T::integer, "1000", "recipients per message"},

      // --- TLS --------------------------------------------------------------
      {"tls.cert", T::path, "etc/tls/cert.pem", "certificate chain (PEM)"},
      {"tls.key", T::path, "etc/tls/key.pem", "private key (PEM)"},
      {"tls.sni", T::string_map, "", "per-domain certificates: \"domain\" = \"cert.pem,key.pem\""},

      // --- remote delivery --------------------------------------------------
      {"routes", T::string_map, "", "static routes: \"domain\" = \"host:port\", \".domain\" for subdomains, \"*\" smarthost"},
      {"dns.servers", T::string_list, "", "resolver override, host:port (default: the system's)"},
      {"remote.mx_port", T::integer, "25", "port of remote MX hosts"},
      {"remote.helo_name", T::string, "", "name sent in EHLO/HELO (default: hostname)"},
      {"remote.tls", T::string, "may", "default TLS policy: none, may (opportunistic), encrypt, verify"},
      {"remote.tls_policy", T::string_map, "", "per destination (domain or route host): \"domain\" = \"verify\""},
      {"remote.tls_ca_file", T::path, "", "CAs for policy verify (default: the system store)"},
      {"remote.dns_timeout", T::duration, "30s", "give up a DNS lookup after this long (4.4.3)"},
      {"remote.connect_timeout", T::duration, "30s", "TCP connect, per address"},
      {"remote.greeting_timeout", T::duration, "5m", "220 greeting; also EHLO, STARTTLS, AUTH, RSET (RFC 5321 4.5.3.2)"},
      {"remote.mail_timeout", T::duration, "5m", "reply to MAIL"},
      {"remote.rcpt_timeout", T::duration, "5m", "reply to RCPT"},
      {"remote.data_init_timeout", T::duration, "2m", "354 reply to DATA"},
      {"remote.data_block_timeout", T::duration, "3m", "each write of the message body"},
      {"remote.data_done_timeout", T::duration, "10m", "reply after the final dot or BDAT LAST"},
      {"remote.cache_idle", T::duration, "5s", "keep an idle connection this long for the next message (0: never)"},
      {"remote.cache_max_use", T::integer, "100", "messages over one connection before it is closed"},
      {"remote.down_time", T::duration, "2m", "a destination no address of which answered is skipped this long"},
      {"remote.destination_concurrency", T::integer, "10", "connections at once to one destination, all pool members"},
      {"remote.state_dir", T::path, "run/remote", "down marks and concurrency slots shared by the pool"},

      // --- SMS --------------------------------------------------------------
      {"sms.transport", T::string, "smpp", "smpp or http"},
      {"sms.source_addr", T::string, "", "sender shown on the phone (digits: TON 1; letters: TON 5)"},
      {"sms.max_parts", T::integer, "1", "longest notice in concatenated parts (1: one SMS, trimmed)"},
      {"sms.max_age", T::duration, "1d", "drop a request (logged) that could not be sent for this long"},
      {"sms.scan_interval", T::duration, "1s", "how often the notify spool is looked at"},
      {"sms.retry_first", T::duration, "10s", "first retry of a request after a temporary failure"},
      {"sms.retry_max", T::duration, "10m", "retries double up to this interval"},
      {"sms.smpp.host", T::string, "", "SMS centre host (setting it or sms.http.url enables sluice-sms)"},
      {"sms.smpp.port", T::integer, "2775", "SMS centre port"},
      {"sms.smpp.system_id", T::string, "", "bind system_id"},
      {"sms.smpp.password", T::string, "", "bind password"},
      {"sms.smpp.system_type", T::string, "", "bind system_type"},
      {"sms.smpp.window", T::integer, "10", "submit_sm sent before waiting for responses"},
      {"sms.smpp.enquire_interval", T::duration, "30s", "enquire_link on an idle link this often"},
      {"sms.smpp.timeout", T::duration, "10s", "connect, bind and response timeout"},
      {"sms.smpp.receipts", T::boolean, "false", "ask for delivery receipts (binds as transceiver) and log them"},
      {"sms.smpp.throttle_backoff", T::duration, "1s", "first pause after ESME_RTHROTTLED; doubles per retry"},
      {"sms.http.url", T::string, "", "gateway URL the notice is POSTed to"},
      {"sms.http.headers", T::string_map, "", "extra request headers, name = value"},
      {"sms.http.body", T::string, "{\"to\":\"{to}\",\"text\":\"{text}\"}",
       "JSON body; {to} {to_digits} {text} {from} {id} are replaced, JSON-escaped"},
      {"sms.http.timeout", T::duration, "10s", "request timeout"},
  };
  return schema;
}

}  // namespace sluice
