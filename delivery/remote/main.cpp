// sluice-remote: the remote deliverer (SMTP client).
//
// SYNOPSIS
//   sluice-remote [-c FILE] --sender ADDR --rcpt ADDR [--notify N] [--rcpt ...] [--qid ID] < message
//   sluice-remote [-c FILE]          (pool member: started by sluice-start)
//
// DESCRIPTION
//   Sends a message to the mail servers of its recipients' domains: a static
//   route ([routes]) or the MX records (libunbound; dns.servers overrides the
//   resolver), IPv6 and IPv4 addresses, STARTTLS per remote.tls and
//   remote.tls_policy, AUTH to routed relays, PIPELINING, SIZE, 8BITMIME
//   (8-bit bodies converted to quoted-printable for a peer without it),
//   SMTPUTF8, DSN and CHUNKING. Sessions stay open for the next message to
//   the same destination (RSET between) for remote.cache_idle; a destination
//   none of whose addresses answered is marked down for remote.down_time in
//   remote.state_dir, shared by the pool. docs/sluice-remote.md is the manual.
//
//   With an inherited listening socket named "remote" it is one member of
//   the pool sluice-sched talks to (common/deliver_proto.hpp), served as
//   sluice-local's pool is; without one it sends the message on fd 0 once
//   and prints a result line per recipient.
//
// INPUTS AND OUTPUTS
//   The configuration; jobs and queue file descriptors from the scheduler
//   (never the queue directory); DNS; the network. Writes only
//   remote.state_dir. A log line per connection, TLS handshake and recipient.
//
// PRIVILEGES
//   Runs as accounts.remote (sluice-remote), which has no access to the
//   queue or the mailboxes. Started as root from a shell it drops to that
//   account first.
//
// EXIT STATUS
//   Standalone: 0 every recipient accepted, 100 any refused permanently,
//   111 otherwise; 64 usage error. Pool member: 0 after local.max_use jobs
//   or SIGHUP; 71 accept failed; 81 a malformed job. Both: 78 bad
//   configuration or privileges; 75 the resolver or TLS cannot be set up.
#include <fcntl.h>
#include <openssl/ssl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string_view>

#include "common/config.hpp"
#include "common/daemon.hpp"
#include "common/log.hpp"
#include "delivery/remote/pool.hpp"
#include "delivery/remote/remote.hpp"

using namespace sluice;

int main(int argc, char** argv) {
  daemon::ensure_std_fds();
  log::init("sluice-remote");
  ::umask(077);
  auto listeners = daemon::inherited_listeners();
  auto cfg = daemon::load_config(daemon::find_config_option(argc, argv));
  if (!cfg) return 78;
  if (Status st = daemon::drop_privileges(cfg->str("accounts.remote")); !st.is_ok()) {
    log::error({{"event", "privileges"}, {"error", st.text}});
    return 78;
  }
  auto opts = remote::Options::from_config(*cfg);
  if (!opts) {
    log::error({{"event", "config_error"}, {"error", opts.error().text}});
    return 78;
  }
  auto resolver = remote::Resolver::create(opts->dns_servers, opts->t_dns);
  if (!resolver) {
    log::error({{"event", "resolver_error"}, {"error", resolver.error().text}});
    return resolver.error().is_perm() ? 78 : 75;
  }
  // The TLS context itself is made at the first STARTTLS (Deliverer::tls).
  if (!opts->ca_file.empty() && ::access(opts->ca_file.c_str(), R_OK) != 0) {
    log::error({{"event", "tls_error"}, {"error", "CA file " + opts->ca_file + ": " + strerror(errno)}});
    return 75;
  }
  long long max_use = cfg->integer("local.max_use");
  remote::Deliverer d(std::move(*opts), std::move(*resolver));
  auto it = listeners.find("remote");
  if (it == listeners.end() || it->second.empty()) {
    deliver::Handler h = [&d](const deliver::Job& j, int fd) { return d.deliver(j, fd); };
    int rc = deliver::run_standalone(argc, argv, h);
    d.close_all();
    return rc;
  }
  daemon::signal_ready();
  return remote::run_pool(it->second[0], d, max_use);
}
