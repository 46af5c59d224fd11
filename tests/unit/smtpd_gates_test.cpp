#include <catch2/catch.hpp>

#include "listen/smtpd/gates.hpp"
#include "listen/smtpd/policy.hpp"

using namespace sluice;
using namespace sluice::smtpd;

TEST_CASE("smtpd gates: replies, senders, hops") {
  std::map<std::string, Reply> r;
  std::string why;
  REQUIRE(merge_replies({{"client", "550 5.7.1 go away"}, {"helo", "bad name"}}, r, why));
  CHECK(r["client"].line() == "550 5.7.1 go away");
  CHECK(r["helo"].line() == "550 5.7.1 bad name");
  CHECK(r["hops"].line().rfind("554 5.4.6 ", 0) == 0);
  CHECK_FALSE(merge_replies({{"nosuchgate", "x"}}, r, why));
  CHECK_FALSE(merge_replies({{"client", "250 2.0.0 fine"}}, r, why));

  Gates g;
  g.senders = {"spam@x.test"};
  g.sender_domains = {"bad.test", ".worse.test"};
  auto gate = [&](const char* a) { return sender_gate(g, *addr::parse_mailbox(a)); };
  CHECK(std::string(gate("SPAM@x.test")) == "sender");
  CHECK(std::string(gate("a@BAD.test")) == "sender_domain");
  CHECK(gate("a@sub.bad.test") == nullptr);
  CHECK(std::string(gate("a@worse.test")) == "sender_domain");
  CHECK(std::string(gate("a@deep.sub.worse.test")) == "sender_domain");
  CHECK(gate("a@good.test") == nullptr);

  CHECK(received_count("Received: a\n\tfolded\nRECEIVED: b\nSubject: x\n\nReceived: body\n") == 2);
  CHECK(missing_headers("Subject: x\n\nMessage-ID: body\n", "h.test", 0, "u").find("Message-ID: <0.u@h.test>") !=
        std::string::npos);
  CHECK(missing_headers("date: x\nMessage-Id: <a@b>\n\n", "h.test", 0, "u") == "");
}

TEST_CASE("smtpd gates: session counts per worker") {
  Gates g;
  g.sessions = 3;
  g.sessions_per_ip = 2;
  g.rate = 4;
  Admission a;
  CHECK(a.admit("192.0.2.1", 100, g) == nullptr);
  CHECK(a.admit("192.0.2.1", 100, g) == nullptr);
  CHECK(std::string(a.admit("192.0.2.1", 100, g)) == "sessions_per_ip");
  CHECK(a.admit("192.0.2.2", 100, g) == nullptr);
  CHECK(std::string(a.admit("192.0.2.3", 100, g)) == "sessions");
  a.release("192.0.2.1");
  CHECK(a.admit("192.0.2.1", 110, g) == nullptr);               // the 4th attempt this minute
  a.release("192.0.2.1");
  CHECK(std::string(a.admit("192.0.2.1", 120, g)) == "rate");  // refused attempts count too
  CHECK(a.admit("192.0.2.1", 160, g) == nullptr);              // a new minute
}
