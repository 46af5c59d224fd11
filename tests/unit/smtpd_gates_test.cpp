#include <catch2/catch.hpp>

#include "listen/smtpd/admission.hpp"
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

TEST_CASE("smtpd admission: limits, release and a sliding minute") {
  Gates g;
  g.sessions = 3;
  g.sessions_per_ip = 2;
  g.rate = 4;
  Admission a = Admission::alone();
  CHECK(a.admit("192.0.2.1", 100, g) == nullptr);
  CHECK(a.admit("192.0.2.1", 100, g) == nullptr);
  CHECK(std::string(a.admit("192.0.2.1", 100, g)) == "sessions_per_ip");
  CHECK(a.admit("192.0.2.2", 100, g) == nullptr);
  CHECK(std::string(a.admit("192.0.2.3", 101, g)) == "sessions");
  CHECK(a.total() == 3);
  a.release("192.0.2.1");
  CHECK(a.sessions_of("192.0.2.1") == 1);
  CHECK(a.admit("192.0.2.1", 110, g) == nullptr);              // the 4th attempt within the minute
  a.release("192.0.2.1");
  CHECK(std::string(a.admit("192.0.2.1", 119, g)) == "rate");  // refused attempts count too
  // 5 attempts in minute 1; at 150 (minute 2, half of it gone) they weigh
  // 2.5, so one more passes and the next two do not.
  CHECK(a.admit("192.0.2.1", 150, g) == nullptr);
  a.release("192.0.2.1");
  CHECK(std::string(a.admit("192.0.2.1", 150, g)) == "rate");
  CHECK(a.admit("192.0.2.1", 240, g) == nullptr);              // two minutes later: forgotten
}

TEST_CASE("smtpd admission: workers in one shared file count together") {
  auto file = shared::RegionFile::create("admission-test");
  REQUIRE(file);
  int k1 = *file->acquire(), k2 = *file->acquire();
  auto m1 = shared::Mapping::map(file->fd()), m2 = shared::Mapping::map(file->fd());
  REQUIRE(m1);
  REQUIRE(m2);
  Admission w1(std::move(*m1), k1), w2(std::move(*m2), k2);
  Gates g;
  g.sessions_per_ip = 3;
  g.sessions = 5;
  CHECK(w1.admit("2001:db8::1", 100, g) == nullptr);
  CHECK(w2.admit("2001:db8::1", 100, g) == nullptr);
  CHECK(w1.admit("2001:db8::1", 100, g) == nullptr);
  CHECK(std::string(w2.admit("2001:db8::1", 100, g)) == "sessions_per_ip");
  CHECK(w2.admit("192.0.2.9", 100, g) == nullptr);
  CHECK(w2.admit("192.0.2.9", 100, g) == nullptr);
  CHECK(std::string(w1.admit("192.0.2.10", 100, g)) == "sessions");
  // A worker that dies: sluice-start releases its region, its counts go.
  file->release(k1);
  CHECK(w2.total() == 3);
  CHECK(w2.sessions_of("2001:db8::1") == 1);
  CHECK(w2.admit("2001:db8::1", 100, g) == nullptr);
  // Many clients on both workers: nobody is refused for another's
  // bucket, and each client's limit still holds across the pool.
  auto m3 = shared::Mapping::map(file->fd());
  REQUIRE(m3);
  int k3 = *file->acquire();
  Admission w3(std::move(*m3), k3);
  Gates wide;
  wide.sessions_per_ip = 2;
  wide.rate = 3;
  int refused = 0, over = 0;
  for (int i = 0; i < 10000; i++) {
    std::string ip = "10." + std::to_string(i / 250 / 250) + "." + std::to_string(i / 250 % 250) + "." +
                     std::to_string(i % 250);
    const char* r2 = w2.admit(ip, 100, wide);
    const char* r3 = r2 ? nullptr : w3.admit(ip, 100, wide);
    if (r2 || r3) {
      refused++;
      UNSCOPED_INFO("refused " << ip << " by " << (r2 ? r2 : r3) << (r2 ? " on w2" : " on w3"));
    }
    if (!w2.admit(ip, 100, wide)) over++;
  }
  CHECK(refused == 0);
  CHECK(over == 0);
  CHECK(std::string(w3.admit("10.0.0.1", 101, wide)) == "rate");
}
