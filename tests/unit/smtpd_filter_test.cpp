#include <sys/wait.h>

#include <catch2/catch.hpp>

#include "filters/shell/shell.hpp"
#include "listen/smtpd/chain.hpp"

using namespace sluice;

namespace {
int exited(int code) { return code << 8; }  // a wait status, as from waitpid
}  // namespace

TEST_CASE("smtpd chain: the reply line among the chain's log lines") {
  std::string other;
  CHECK(smtpd::reply_line_of("ts=1 prog=x event=y\n5.7.1 no thanks\n", &other) == "5.7.1 no thanks");
  CHECK(other == "ts=1 prog=x event=y\n");
  CHECK(smtpd::reply_line_of("550 5.7.1 whole line\n", nullptr) == "550 5.7.1 whole line");
  CHECK(smtpd::reply_line_of("4.3.0 first\n4.3.1 last", nullptr) == "4.3.1 last");
  CHECK(smtpd::reply_line_of("500 not enhanced\n3.0.0 x\n", nullptr) == "");
  auto argv = smtpd::chain_argv({"/bin/f", "a", "--"}, "/opt/bin");
  CHECK(argv == std::vector<std::string>{"/bin/f", "a", "--", "/opt/bin/sluice-inject"});
}

TEST_CASE("filter-shell: argv, environment, verdicts") {
  std::vector<std::string> script, next;
  CHECK(filter::split_argv({"s.sh", "x", "--", "next", "y"}, script, next));
  CHECK(script == std::vector<std::string>{"s.sh", "x"});
  CHECK(next == std::vector<std::string>{"next", "y"});
  CHECK_FALSE(filter::split_argv({"s.sh"}, script, next));
  CHECK_FALSE(filter::split_argv({"--", "next"}, script, next));

  queue::Envelope env;
  env.sender = "a@b.test";
  env.rcpts = {queue::Rcpt{"c@d.test", "", ""}, queue::Rcpt{"e@f.test", "", ""}};
  env.params = {{"client", "192.0.2.1"}, {"auth", "u@d.test"}};
  auto vars = filter::script_environment(env, 42);
  CHECK(vars == std::vector<std::string>{"SLUICE_SENDER=a@b.test", "SLUICE_RECIPIENTS=c@d.test e@f.test",
                                         "SLUICE_RCPT_COUNT=2", "SLUICE_SIZE=42", "SLUICE_CLIENT=192.0.2.1",
                                         "SLUICE_AUTH=u@d.test"});

  CHECK(filter::verdict(exited(0), "").pass);
  auto perm = filter::verdict(exited(31), "5.7.1 spam");
  CHECK((!perm.pass && perm.exit_code == 31 && perm.reply == "5.7.1 spam"));
  CHECK(filter::verdict(exited(100), "").reply.rfind("5.7.1 ", 0) == 0);
  // A crash or an odd status is temporary, and cannot claim a 5xx reply.
  auto crash = filter::verdict(exited(2), "5.7.1 claims permanent");
  CHECK((crash.exit_code == 71 && crash.reply.rfind("4.7.1 ", 0) == 0));
  CHECK(filter::verdict(SIGKILL, "").exit_code == 71);
  CHECK(filter::to_lf("a\r\nb\rc\n") == "a\nb\rc\n");
}
