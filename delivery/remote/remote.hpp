// sluice-remote's library: options from the configuration, the SMTP session
// to one peer, and the Deliverer the pool member and the shell mode share.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/deliver_proto.hpp"
#include "common/fd.hpp"
#include "delivery/remote/conn.hpp"
#include "delivery/remote/dns.hpp"
#include "delivery/remote/route.hpp"
#include "delivery/remote/state.hpp"

namespace sluice::remote {

struct Options {
  std::string helo;
  int mx_port = 25;
  std::map<std::string, std::string> routes, tls_table;
  TlsPolicy tls_default = TlsPolicy::may;
  std::string ca_file;
  std::vector<std::string> dns_servers;
  long long t_dns = 30, t_connect = 30, t_greeting = 300, t_mail = 300, t_rcpt = 300, t_data_init = 120,
            t_data_block = 180, t_data_done = 600;
  long long cache_idle = 5, cache_max_use = 100, down_time = 120, dest_concurrency = 10;
  std::string state_dir;

  // Validates the routes and TLS policies too (5.3.5 naming the bad one).
  static Result<Options> from_config(const Config& cfg);
};

// What the peer announced in its EHLO reply (RFC 5321 4.1.1.1).
struct Extensions {
  bool esmtp = false, pipelining = false, eightbit = false, smtputf8 = false, dsn = false, chunking = false,
       starttls = false;
  long long size = 0;  // 0: no limit announced
  std::string auth;    // mechanisms, upper case, space separated

  static Extensions parse(const std::string& ehlo_lines);
};

// An open, greeted session to one host of a destination.
struct Session {
  std::unique_ptr<Conn> conn;
  std::string dest, host;  // host: the name the bounce names (Remote-MTA)
  Extensions ext;
  int messages = 0;
  long long idle_since = 0;
  UniqueFd slot;           // destination_concurrency slot held while open
  std::string where() const { return host + conn->peer(); }
};

// A destination: where the mail for one domain goes.
struct Destination {
  std::string key;           // "mx:DOMAIN" or "route:HOST:PORT": cache and down-mark key
  std::vector<Host> hosts;   // in order of preference
  int port = 25;
  TlsPolicy tls = TlsPolicy::may;
  std::string user, password;
};

// The transaction for one message to the recipients of one destination,
// over an open session: results in the order of RCPTS. Marks SESSION's
// connection dead (conn reset) on an I/O failure.
struct Envelope {
  const deliver::Job* job;
  std::vector<const deliver::Recipient*> rcpts;
};
std::vector<deliver::RcptResult> transact(Session& s, const Options& o, const Envelope& env, const std::string& msg);

// True when the message needs SMTPUTF8 (RFC 6531): a non-ASCII envelope
// address, or SMTPUTF8 asked and non-ASCII header fields.
bool needs_smtputf8(const deliver::Job& job, const std::vector<const deliver::Recipient*>& rcpts,
                    const std::string& msg);

// Opens a session to one address: greeting, EHLO (HELO fallback), STARTTLS
// per policy, AUTH. WITH_TLS false skips STARTTLS (the plain retry of "may").
Result<std::unique_ptr<Session>> open_session(const Options& o, SSL_CTX* tls, const Destination& d, const Host& h,
                                              const std::string& addr, bool with_tls, const std::string& qid);

class Deliverer {
 public:
  Deliverer(Options o, std::unique_ptr<Resolver> r);
  ~Deliverer();
  std::vector<deliver::RcptResult> deliver(const deliver::Job& job, int fd);
  // Ends cached sessions idle longer than cache_idle; milliseconds until the
  // next one is due, or -1 when the cache is empty.
  long long expire_cache();
  void close_all();

 private:
  std::vector<deliver::RcptResult> deliver_domain(const deliver::Job& job, const std::string& domain,
                                                  const std::vector<const deliver::Recipient*>& rcpts,
                                                  const std::string& msg);
  Result<Destination> destination(const std::string& domain, bool resolve);
  Result<std::unique_ptr<Session>> session_for(Destination& d, const std::string& domain, const std::string& qid);
  void release(std::unique_ptr<Session> s);
  SSL_CTX* tls();

  Options o_;
  std::unique_ptr<Resolver> resolver_;
  SSL_CTX* tls_ = nullptr;
  bool tls_failed_ = false;
  State state_;
  std::map<std::string, std::unique_ptr<Session>> cache_;
};

// Closes a session politely (QUIT, short wait).
void quit(Session& s);

}  // namespace sluice::remote
