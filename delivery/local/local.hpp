// sluice-local's delivery of one job: resolve every recipient, write the
// message once into the Maildir++ mailboxes it reaches (one inode, hard
// links), forward to outside addresses, queue SMS notices, and answer one
// result per recipient. docs/sluice-local.md describes the behaviour.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/deliver_proto.hpp"
#include "common/tables.hpp"
#include "delivery/local/resolve.hpp"

namespace sluice::local {

struct Options {
  std::string mail_dir;      // local.mail_dir
  std::string host;          // for unique names (cfg.hostname())
  std::string notify_spool;  // QUEUE_DIR/notify
  std::string inject;        // sluice-inject for forwarding
  std::string config_file;   // handed to sluice-inject
  std::string delimiter = "+";
  long long default_quota = 0;
  bool quota_bounce = false;  // local.quota_exceeded = "bounce"
  int forward_timeout = 300;

  static Result<Options> from_config(const Config& cfg);
};

class Deliverer {
 public:
  Deliverer(Options o, tables::Tables& t)
      : opt_(std::move(o)), tables_(t), resolver_(t, opt_.delimiter, opt_.default_quota) {}

  // The deliver::Handler: one result per recipient of JOB, message on FD.
  std::vector<deliver::RcptResult> deliver(const deliver::Job& job, int fd);
  // Several jobs (message on FDS[k] for JOBS[k]) delivered as one round,
  // sharing their disk syncs; one result vector per job, in order.
  std::vector<std::vector<deliver::RcptResult>> deliver_round(const std::vector<deliver::Job>& jobs,
                                                             const std::vector<int>& fds);

  // Maildir root of a mailbox address: MAIL_DIR/DOMAIN/LOCALPART.
  Result<std::string> maildir_of(const std::string& address) const;

 private:
  struct Box;  // a mailbox destination and its outcome
  struct Fwd;  // a forward destination and its outcome
  struct Plan;  // every destination of one job, once
  struct Staged;  // a job's file, written, not yet durable
  struct Work;  // one job through a round
  void stage_mailboxes(const deliver::Job& job, const std::string& msg, std::vector<Box>& boxes, Staged& staged,
                       std::map<std::string, long long>& promised);
  void deliver_forwards(const deliver::Job& job, const std::string& msg, std::vector<Fwd>& fwds);
  // ROUND: the jobs in the round (logged as batch=).
  Status result_for(const deliver::Job& job, const deliver::Recipient& r, const Resolution& rs, const Plan& plan,
                    size_t round) const;
  Status stage_shared(const std::string& msg, const std::string& prefix, std::vector<Box*>& boxes, Staged& staged);
  void publish(std::vector<Staged*>& round);
  void notify_sms(const deliver::Job& job, const std::string& msg, const std::string& address);

  Options opt_;
  tables::Tables& tables_;
  Resolver resolver_;
};

}  // namespace sluice::local
