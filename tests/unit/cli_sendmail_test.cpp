// sendmail's argument handling and message preparation (pure functions).
#include <catch2/catch.hpp>

#include "admin/sendmail/sendmail.hpp"

using namespace sluice;
using namespace sluice::sendmail;

namespace {

Context ctx() {
  Context c;
  c.hostname = "mx.example.test";
  c.login = "alice";
  c.gecos = "Alice Liddell";
  c.now = 1714564800;
  c.unique = "u1";
  return c;
}

Options opts(std::vector<std::string> argv) {
  Options o;
  std::string e = parse_args(argv, false, o);
  INFO(e);
  REQUIRE(e.empty());
  return o;
}

std::vector<std::string> rcpts(const Prepared& p) {
  std::vector<std::string> out;
  for (const auto& r : p.env.rcpts) out.push_back(r.address);
  return out;
}

}  // namespace

TEST_CASE("sendmail options as Postfix parses them") {
  Options o = opts({"-t", "-i", "-f", "me@x.test", "-FMe", "-oem", "-odb", "-v", "--", "-a@x"});
  CHECK(o.extract);
  CHECK(o.ignore_dots);
  CHECK(o.sender_given);
  CHECK(o.sender == "me@x.test");
  CHECK(o.full_name == "Me");
  CHECK(o.rcpts == std::vector<std::string>{"-a@x"});

  o = opts({"-ti", "-rbounce@x.test", "-oi", "b@x.test", "-f", "c@x.test"});
  CHECK(o.extract);
  CHECK(o.sender == "bounce@x.test");
  // Options end at the first recipient, as Postfix's "+" getopt does.
  CHECK(o.rcpts == std::vector<std::string>{"b@x.test", "-f", "c@x.test"});

  o = opts({"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"});  // Debian cron
  CHECK(o.full_name == "CronDaemon");
  CHECK(o.rcpts == std::vector<std::string>{"root"});

  o = opts({"-N", "success,delay", "-R", "hdrs", "-V", "env1", "a@x"});
  CHECK(o.notify == "SUCCESS,DELAY");
  CHECK(o.ret == "HDRS");
  CHECK(o.envid == "env1");
  o = opts({"-Nnever", "a@x"});
  CHECK(o.notify == "NEVER");

  CHECK(opts({"-bp"}).mode == Mode::print_queue);
  CHECK(opts({"-q"}).mode == Mode::flush);
  Options m;
  CHECK(parse_args({}, true, m).empty());
  CHECK(m.mode == Mode::print_queue);

  Options bad;
  CHECK_FALSE(parse_args({"-k"}, false, bad).empty());
  CHECK_FALSE(parse_args({"-f"}, false, bad).empty());
  CHECK_FALSE(parse_args({"-N", "sometimes", "a@x"}, false, bad).empty());
  CHECK_FALSE(parse_args({"-bs"}, false, bad).empty());
}

TEST_CASE("CRLF becomes LF; a lone dot ends input unless -i") {
  auto p = prepare("Subject: s\r\n\r\nline 1\r\n.\r\nafter\r\n", opts({"a@x.test"}), ctx());
  REQUIRE(p.ok());
  CHECK(p->message.find('\r') == std::string::npos);
  CHECK(p->message.find("line 1\n") != std::string::npos);
  CHECK(p->message.find("after") == std::string::npos);

  p = prepare("Subject: s\n\nline 1\n.\nafter\n", opts({"-i", "a@x.test"}), ctx());
  REQUIRE(p.ok());
  CHECK(p->message.find("line 1\n.\nafter\n") != std::string::npos);
  p = prepare("Subject: s\n\n..dots stay\nlast line without newline", opts({"-oi", "a@x.test"}), ctx());
  REQUIRE(p.ok());
  CHECK(p->message.find("\n..dots stay\nlast line without newline\n") != std::string::npos);
}

TEST_CASE("-t takes To, Cc and Bcc, adds argv recipients, removes Bcc") {
  std::string in =
      "From: Bob <bob@x.test>\nTo: Ann <ann@x.test>,\n  carl@x.test\nCc: \"D, E\" <de@y.test>\n"
      "Bcc: hidden@z.test\nSubject: hi\n\nbody\nBcc: not a header\n";
  auto p = prepare(in, opts({"-t", "extra@x.test", "ann@x.test"}), ctx());
  REQUIRE(p.ok());
  CHECK(rcpts(*p) == std::vector<std::string>{"extra@x.test", "ann@x.test", "carl@x.test", "de@y.test",
                                              "hidden@z.test"});
  CHECK(p->message.find("hidden@z.test") == std::string::npos);
  CHECK(p->message.find("Bcc: not a header\n") != std::string::npos);  // the body is not touched
  CHECK(p->message.find("To: Ann <ann@x.test>,\n  carl@x.test\n") == 0 + p->message.find("To:"));
  CHECK(p->message.find("From: Bob <bob@x.test>\n") == 0);

  // Resent-* fields name the recipients of a resending.
  p = prepare("To: old@x.test\nResent-To: new@x.test\n\nb\n", opts({"-t"}), ctx());
  REQUIRE(p.ok());
  CHECK(rcpts(*p) == std::vector<std::string>{"new@x.test"});

  // Without -t, Bcc is still removed and To is not a recipient.
  p = prepare("To: t@x.test\nBcc: b@x.test\n\nb\n", opts({"a@x.test"}), ctx());
  REQUIRE(p.ok());
  CHECK(rcpts(*p) == std::vector<std::string>{"a@x.test"});
  CHECK(p->message.find("Bcc") == std::string::npos);
}

TEST_CASE("From, Date and Message-ID are added when missing") {
  auto p = prepare("Subject: s\n\nbody\n", opts({"a@x.test"}), ctx());
  REQUIRE(p.ok());
  CHECK(p->env.sender == "alice@mx.example.test");
  CHECK(p->message.find("From: Alice Liddell <alice@mx.example.test>\n") != std::string::npos);
  CHECK(p->message.find("\nDate: ") != std::string::npos);
  CHECK(p->message.find("Message-ID: <u1@mx.example.test>\n") != std::string::npos);
  CHECK(p->message.find("\n\nbody\n") != std::string::npos);

  p = prepare("Date: x\nMessage-ID: <m@x>\nFrom: f@x.test\n\nb\n", opts({"-f", "s@x.test", "a@x.test"}), ctx());
  REQUIRE(p.ok());
  CHECK(p->message == "Date: x\nMessage-ID: <m@x>\nFrom: f@x.test\n\nb\n");
  CHECK(p->env.sender == "s@x.test");

  p = prepare("\nbody\n", opts({"-f", "s@x.test", "-F", "Sam \"S\" Smith", "a@x.test"}), ctx());
  REQUIRE(p.ok());
  CHECK(p->message.find("From: \"Sam \\\"S\\\" Smith\" <s@x.test>\n") == 0);

  // A first line that is no header field starts the body.
  p = prepare("just text\nmore\n", opts({"a@x.test"}), ctx());
  REQUIRE(p.ok());
  CHECK(p->message.find("\n\njust text\nmore\n") != std::string::npos);
  CHECK(p->message.find("From: ") == 0);
}

TEST_CASE("addresses: bare local parts get the hostname; bad ones are data errors") {
  auto p = prepare("To: root\n\nb\n", opts({"-t", "-f", "<>", "postmaster"}), ctx());
  REQUIRE(p.ok());
  CHECK(p->env.sender.empty());
  CHECK(rcpts(*p) == std::vector<std::string>{"postmaster@mx.example.test", "root@mx.example.test"});
  p = prepare("\nb\n", opts({"-f", "daemon", "a@x.test, b@x.test"}), ctx());
  REQUIRE(p.ok());
  CHECK(p->env.sender == "daemon@mx.example.test");
  CHECK(rcpts(*p).size() == 2);

  auto bad = prepare("\nb\n", opts({"a@@x"}), ctx());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().enhanced == "65");
  bad = prepare("\nb\n", opts({"-f", "a b@x..y", "a@x.test"}), ctx());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().enhanced == "65");
  bad = prepare("Subject: none\n\nb\n", opts({"-t"}), ctx());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().enhanced == "64");
}

TEST_CASE("DSN options reach the envelope; inject statuses map to sysexits") {
  auto p = prepare("\nb\n", opts({"-N", "failure", "-R", "full", "-V", "id1", "a@x.test"}), ctx());
  REQUIRE(p.ok());
  CHECK(p->env.rcpts[0].notify == "FAILURE");
  CHECK(p->env.param("ret") == "FULL");
  CHECK(p->env.param("envid") == "id1");
  CHECK(exit_for_inject(0) == 0);
  CHECK(exit_for_inject(31) == kExUnavailable);
  CHECK(exit_for_inject(53) == kExTempFail);
  CHECK(exit_for_inject(74) == kExTempFail);
  CHECK(exit_for_inject(81) == kExTempFail);
  CHECK(exit_for_inject(11) == kExDataErr);
  CHECK(exit_for_inject(91) == kExSoftware);
  CHECK(rfc5322_date(0).find(" 1970 ") != std::string::npos);
}
