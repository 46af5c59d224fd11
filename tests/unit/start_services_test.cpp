#include <catch2/catch.hpp>

#include <unistd.h>

#include <fstream>
#include <set>

#include "admin/start/instance.hpp"
#include "admin/start/services.hpp"
#include "common/config.hpp"

using namespace sluice;
using namespace sluice::start;

namespace {
Config load(const std::string& body) {
  char tmpl[] = "/tmp/sluice-start-cfg-XXXXXX";
  int fd = mkstemp(tmpl);
  std::ofstream(tmpl) << body;
  close(fd);
  auto c = Config::load(tmpl);
  unlink(tmpl);
  REQUIRE(c.ok());
  return *c;
}

ExistsFn only(std::set<std::string> present) {
  return [present](const std::string& p) { return present.count(p) > 0; };
}

const ServicePlan* find(const Plan& p, const std::string& name) {
  for (const auto& s : p.services)
    if (s.name == name) return &s;
  return nullptr;
}
}  // namespace

TEST_CASE("service table: counts and accounts come from the config, programs from beside sluice-start") {
  Config cfg = load("[queue]\nlocal_concurrency = 3\n[accounts]\nmbox = \"mb\"\n");
  auto plan = make_plan(service_table(), cfg, "/opt/s/bin", only({"/opt/s/bin/sluice-sched", "/opt/s/bin/sluice-injectd", "/opt/s/bin/sluice-local",
                                                                       "/opt/s/bin/sluice-auth", "/opt/s/bin/sluice-quota", "/opt/s/bin/sluice-smtpd"}));
  REQUIRE(plan.ok());
  const ServicePlan* local = find(*plan, "sluice-local");
  const ServicePlan* sched = find(*plan, "sluice-sched");
  REQUIRE(local);
  REQUIRE(sched);
  CHECK(local->program == "/opt/s/bin/sluice-local");
  CHECK(local->count == 3);
  CHECK(local->account == "mb");
  CHECK(local->listeners == std::vector<std::string>{"local"});
  CHECK(sched->count == 1);
  CHECK(sched->account == "sluice-q");
  CHECK(sched->listeners.empty());
  // sluice-injectd serves the world-connectable inject.sock as the queue account.
  const ServicePlan* injectd = find(*plan, "sluice-injectd");
  REQUIRE(injectd);
  CHECK(injectd->account == "sluice-q");
  CHECK(injectd->listeners == std::vector<std::string>{"inject"});
  const SocketDef* isd = find_socket("inject");
  REQUIRE(isd);
  CHECK(isd->type == SOCK_STREAM);
  CHECK(isd->mode == 0666);
  // sluice-remote is optional: absent, it is reported and not planned.
  CHECK(find(*plan, "sluice-remote") == nullptr);
  CHECK(plan->absent == std::vector<std::string>{"/opt/s/bin/sluice-remote"});
}

TEST_CASE("service table: start.scheduling is batch or normal") {
  auto all = only({"/b/sluice-sched", "/b/sluice-injectd", "/b/sluice-local", "/b/sluice-auth", "/b/sluice-quota",
                   "/b/sluice-smtpd"});
  CHECK(make_plan(service_table(), load(""), "/b", all).ok());
  CHECK(make_plan(service_table(), load("[start]\nscheduling = \"normal\"\n"), "/b", all).ok());
  auto bad = make_plan(service_table(), load("[start]\nscheduling = \"fifo\"\n"), "/b", all);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().text == "start.scheduling must be \"batch\" or \"normal\", not \"fifo\"");
}

TEST_CASE("service table: sluice-smtpd workers on the network sockets, sluice-auth on auth.sock") {
  Config cfg = load("[smtpd]\nworkers = 3\n[accounts]\nsmtpd = \"lst\"\n");
  auto plan = make_plan(service_table(), cfg, "/b",
                        only({"/b/sluice-sched", "/b/sluice-injectd", "/b/sluice-local", "/b/sluice-auth", "/b/sluice-quota", "/b/sluice-smtpd"}));
  REQUIRE(plan.ok());
  const ServicePlan* smtpd = find(*plan, "sluice-smtpd");
  REQUIRE(smtpd);
  CHECK(smtpd->count == 3);
  CHECK(smtpd->account == "lst");
  CHECK(smtpd->listeners == std::vector<std::string>{"smtp", "submission", "submissions"});
  const ServicePlan* auth = find(*plan, "sluice-auth");
  REQUIRE(auth);
  CHECK(auth->account == "sluice-auth");
  CHECK(auth->listeners == std::vector<std::string>{"auth"});
  // Only the listener's account may connect to sluice-auth.
  const SocketDef* sd = find_socket("auth");
  REQUIRE(sd);
  CHECK(std::string(sd->owner_key) == "accounts.smtpd");
  CHECK(sd->mode == 0600);
  CHECK(sd->type == SOCK_STREAM);
  CHECK(std::string(listen_key("smtp")) == "smtpd.listen");
  CHECK(std::string(listen_key("submission")) == "smtpd.submission_listen");
  CHECK(std::string(listen_key("submissions")) == "smtpd.submissions_listen");
  CHECK(listen_key("pop3") == nullptr);
  // The smtpd workers share counters and drain on reload.
  CHECK(smtpd->shared_regions);
  CHECK(smtpd->replace_on_reload);
  CHECK_FALSE(auth->shared_regions);
  // sluice-quota answers only sluice-auth, as the mailboxes' owner.
  const ServicePlan* quota = find(*plan, "sluice-quota");
  REQUIRE(quota);
  CHECK(quota->account == "sluice-mbox");
  CHECK(quota->listeners == std::vector<std::string>{"quota"});
  const SocketDef* qd = find_socket("quota");
  REQUIRE(qd);
  CHECK(std::string(qd->owner_key) == "accounts.auth");
  CHECK(qd->mode == 0600);
}

TEST_CASE("service table: sluice-remote runs its pool when installed") {
  Config cfg = load("[queue]\nremote_concurrency = 4\n");
  auto plan = make_plan(service_table(), cfg, "/b",
                        only({"/b/sluice-sched", "/b/sluice-injectd", "/b/sluice-local", "/b/sluice-remote",
                              "/b/sluice-auth", "/b/sluice-quota", "/b/sluice-smtpd"}));
  REQUIRE(plan.ok());
  const ServicePlan* remote = find(*plan, "sluice-remote");
  REQUIRE(remote);
  CHECK(remote->count == 4);
  CHECK(remote->account == "sluice-remote");
  CHECK(remote->listeners == std::vector<std::string>{"remote"});
  CHECK(plan->absent.empty());
  const SocketDef* sd = find_socket("remote");
  REQUIRE(sd);
  CHECK(std::string(sd->file) == "remote.sock");
  CHECK(std::string(sd->owner_key) == "accounts.queue");
}

TEST_CASE("service table: a missing mandatory program or a zero pool is a config error") {
  Config cfg = load("");
  auto missing = make_plan(service_table(), cfg, "/b", only({"/b/sluice-sched", "/b/sluice-injectd"}));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().text.find("/b/sluice-local") != std::string::npos);
  Config zero = load("[queue]\nlocal_concurrency = 0\n");
  auto z = make_plan(service_table(), zero, "/b",
                     only({"/b/sluice-sched", "/b/sluice-injectd", "/b/sluice-local", "/b/sluice-auth", "/b/sluice-quota", "/b/sluice-smtpd"}));
  REQUIRE_FALSE(z.ok());
  CHECK(z.error().text.find("queue.local_concurrency") != std::string::npos);
}

TEST_CASE("service table: every listener is a pool socket or a socket-activation name") {
  for (const auto& def : service_table())
    for (const char* l : def.listeners) {
      bool activation = std::find(activation_names().begin(), activation_names().end(), l) != activation_names().end();
      CHECK((find_socket(l) != nullptr || activation));
    }
}

TEST_CASE("accounts: root needs every account, and says how to get them") {
  Config cfg = load("");
  auto plan = make_plan(service_table(), cfg, "/b",
                        only({"/b/sluice-sched", "/b/sluice-injectd", "/b/sluice-local", "/b/sluice-auth", "/b/sluice-quota", "/b/sluice-smtpd"}));
  REQUIRE(plan.ok());
  std::map<std::string, Account> users = {{"sluice-q", {101, 101}},     {"sluice-mbox", {102, 102}},
                                          {"sluice-auth", {103, 103}},  {"sluice-smtpd", {104, 104}},
                                          {"nobody", {65534, 65534}},   {"toor", {0, 0}}};
  LookupFn lookup = [&](const std::string& n) -> std::optional<Account> {
    auto it = users.find(n);
    return it == users.end() ? std::nullopt : std::optional<Account>(it->second);
  };
  CHECK(check_accounts(*plan, cfg, RunMode::accounts, "", lookup).is_ok());
  users.erase("sluice-q");
  Status s = check_accounts(*plan, cfg, RunMode::accounts, "", lookup);
  CHECK_FALSE(s.is_ok());
  CHECK(s.text == "account sluice-q does not exist; run `sluice setup` or use --single-user NAME");
  // --single-user needs only that account, which must not be root.
  CHECK(check_accounts(*plan, cfg, RunMode::single_user, "nobody", lookup).is_ok());
  CHECK_FALSE(check_accounts(*plan, cfg, RunMode::single_user, "toor", lookup).is_ok());
  CHECK_FALSE(check_accounts(*plan, cfg, RunMode::single_user, "ghost", lookup).is_ok());
  // Not root: nothing to switch to.
  CHECK(check_accounts(*plan, cfg, RunMode::current_user, "", lookup).is_ok());
  CHECK(effective_account(RunMode::accounts, "sluice-mbox", "") == "sluice-mbox");
  CHECK(effective_account(RunMode::single_user, "sluice-mbox", "nobody") == "nobody");
  CHECK(effective_account(RunMode::current_user, "sluice-mbox", "") == "");
}

TEST_CASE("sluice-start options") {
  Options o;
  std::string err;
  REQUIRE(parse_options({"-c", "/etc/x.toml", "--single-user", "bob"}, o, err));
  CHECK(o.config == "/etc/x.toml");
  CHECK(o.single_user == "bob");
  Options d;
  REQUIRE(parse_options({"/srv/inst", "--single-user=amy"}, d, err));
  CHECK(d.config == "/srv/inst/etc/sluice.toml");
  CHECK(d.single_user == "amy");
  Options bad;
  CHECK_FALSE(parse_options({"-c"}, bad, err));
  CHECK_FALSE(parse_options({"--frob"}, bad, err));
  CHECK_FALSE(parse_options({"a", "b"}, bad, err));
  CHECK_FALSE(parse_options({"--single-user="}, bad, err));
}
