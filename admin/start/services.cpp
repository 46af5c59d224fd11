#include "admin/start/services.hpp"

#include <algorithm>

namespace sluice::start {

const std::vector<SocketDef>& socket_table() {
  // Only the scheduler connects to the deliverer pools, so the sockets
  // belong to the queue account and nobody else may connect.
  static const std::vector<SocketDef> t = {
      {"local", "local.sock", "accounts.queue"},
      {"remote", "remote.sock", "accounts.queue"},
      // The persistent injection path: any local user may queue mail, as
      // with the setgid sluice-inject; sluice-injectd records who did.
      {"inject", "inject.sock", "accounts.queue", SOCK_STREAM, 0666},
      // Only the listener may ask sluice-auth about passwords and users.
      {"auth", "auth.sock", "accounts.smtpd", SOCK_STREAM, 0600},
      // Only sluice-auth asks whether a mailbox is full.
      {"quota", "quota.sock", "accounts.auth", SOCK_STREAM, 0600},
  };
  return t;
}

const std::vector<ServiceDef>& service_table() {
  // The pools' sockets exist before anything starts, so the order does not
  // matter for correctness: a scheduler that connects first waits in the
  // socket's backlog until a pool member accepts.
  static const std::vector<ServiceDef> t = {
      {"sluice-sched", "accounts.queue", nullptr, {}, false},
      {"sluice-injectd", "accounts.queue", nullptr, {"inject"}, false},
      {"sluice-local", "accounts.mbox", "queue.local_concurrency", {"local"}, false},
      {"sluice-auth", "accounts.auth", nullptr, {"auth"}, false},
      // The mailboxes' owner answers quota questions; they stay 0700.
      {"sluice-quota", "accounts.mbox", nullptr, {"quota"}, false},
      // One event loop per process; the workers share the listening sockets.
      // Session counts are summed over the workers' shared regions.
      {.name = "sluice-smtpd",
       .account_key = "accounts.smtpd",
       .count_key = "smtpd.workers",
       .listeners = {"smtp", "submission", "submissions"},
       .optional = false,
       .shared_regions = true,
       .replace_on_reload = true},
      // A later program; its row is here so the pool appears when it is built.
      {"sluice-remote", "accounts.remote", "queue.remote_concurrency", {"remote"}, true},
      // One notifier draining queue/notify/, only where an SMS centre or
      // gateway is configured; configured, it must exist.
      {"sluice-sms", "accounts.sms", nullptr, {}, false, {"sms.smpp.host", "sms.http.url"}},
  };
  return t;
}

const SocketDef* find_socket(const std::string& name) {
  for (const auto& s : socket_table())
    if (name == s.name) return &s;
  return nullptr;
}

const std::vector<std::string>& activation_names() {
  static const std::vector<std::string> names = {"smtp", "submission", "submissions", "pop3", "pop3s"};
  return names;
}

const char* listen_key(const std::string& name) {
  if (name == "smtp") return "smtpd.listen";
  if (name == "submission") return "smtpd.submission_listen";
  if (name == "submissions") return "smtpd.submissions_listen";
  return nullptr;
}

bool batch_scheduling(const Config& cfg) { return cfg.str("start.scheduling") == "batch"; }

Result<Plan> make_plan(const std::vector<ServiceDef>& table, const Config& cfg, const std::string& bin_dir,
                       const ExistsFn& exists) {
  Plan plan;
  if (std::string s = cfg.str("start.scheduling"); s != "batch" && s != "normal")
    return Status::perm("5.3.0", "start.scheduling must be \"batch\" or \"normal\", not \"" + s + "\"");
  for (const auto& def : table) {
    if (!def.when_any_set.empty() &&
        std::none_of(def.when_any_set.begin(), def.when_any_set.end(), [&](const char* k) { return !cfg.str(k).empty(); }))
      continue;
    std::string program = bin_dir + "/" + def.name;
    if (!exists(program)) {
      if (def.optional) {
        plan.absent.push_back(program);
        continue;
      }
      return Status::perm("5.3.0", "program " + program + " is missing (build it with `make`)");
    }
    ServicePlan sp;
    sp.name = def.name;
    sp.program = program;
    sp.account = cfg.str(def.account_key);
    if (def.count_key) {
      long long n = cfg.integer(def.count_key);
      if (n < 1 || n > 1000)
        return Status::perm("5.3.5", std::string(def.count_key) + " must be between 1 and 1000, not " +
                                         std::to_string(n));
      sp.count = static_cast<int>(n);
    }
    for (const char* l : def.listeners) sp.listeners.emplace_back(l);
    sp.shared_regions = def.shared_regions;
    sp.replace_on_reload = def.replace_on_reload;
    plan.services.push_back(std::move(sp));
  }
  return plan;
}

std::string effective_account(RunMode mode, const std::string& configured, const std::string& single_user) {
  switch (mode) {
    case RunMode::accounts: return configured;
    case RunMode::single_user: return single_user;
    case RunMode::current_user: return "";
  }
  return "";
}

namespace {
Status need(const std::string& name, const LookupFn& lookup) {
  auto a = lookup(name);
  if (!a)
    return Status::perm("5.3.0", "account " + name +
                                     " does not exist; run `sluice setup` or use --single-user NAME");
  if (a->uid == 0) return Status::perm("5.3.0", "account " + name + " is root; refusing to run a program as root");
  return Status::ok();
}
}  // namespace

Status check_accounts(const Plan& plan, const Config& cfg, RunMode mode, const std::string& single_user,
                      const LookupFn& lookup) {
  if (mode == RunMode::current_user) return Status::ok();
  if (mode == RunMode::single_user) return need(single_user, lookup);
  for (const auto& sp : plan.services) {
    if (Status s = need(sp.account, lookup); !s.is_ok()) return s;
    for (const auto& l : sp.listeners)
      if (const SocketDef* sd = find_socket(l))
        if (Status s = need(cfg.str(sd->owner_key), lookup); !s.is_ok()) return s;
  }
  return Status::ok();
}

}  // namespace sluice::start
