// sluice-remote's message handling: quoted-printable downgrade for a peer
// without 8BITMIME, framing, SMTPUTF8 need, and the shared down marks.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "delivery/remote/message.hpp"
#include "delivery/remote/remote.hpp"
#include "delivery/remote/state.hpp"

using namespace sluice;
using namespace sluice::remote;

TEST_CASE("quoted-printable: 8-bit, '=', trailing space, long lines") {
  CHECK(qp_encode("caf\xc3\xa9 = ok\n") == "caf=C3=A9 =3D ok\n");
  CHECK(qp_encode("end \n") == "end=20\n");
  std::string long_line(200, 'a');
  std::string q = qp_encode(long_line + "\n");
  size_t start = 0;
  while (start < q.size()) {
    size_t e = q.find('\n', start);
    CHECK(e - start <= 76);
    start = e + 1;
  }
  std::string joined;
  for (char c : q)
    if (c != '\n' && c != '=') joined += c;
  CHECK(joined == long_line);
}

TEST_CASE("8BITMIME downgrade of a plain message and of a multipart") {
  auto r = downgrade_8bit("Subject: x\n\nh\xc3\xa9llo\n");
  REQUIRE(r.ok());
  CHECK(*r == "Subject: x\nMIME-Version: 1.0\nContent-Transfer-Encoding: quoted-printable\n\nh=C3=A9llo\n");
  std::string mp =
      "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"B\"\n\npre\n--B\n"
      "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nd\xc3\xa9j\xc3\xa0\n--B\n"
      "Content-Type: text/plain\n\nplain\n--B--\nepi\n";
  r = downgrade_8bit(mp);
  REQUIRE(r.ok());
  CHECK_FALSE(has_8bit(*r));
  CHECK(r->find("Content-Transfer-Encoding: quoted-printable\n\nd=C3=A9j=C3=A0\n--B\n") != std::string::npos);
  CHECK(r->find("Content-Transfer-Encoding: 8bit") == std::string::npos);
  CHECK(r->find("\n\nplain\n--B--\nepi\n") != std::string::npos);
  auto bad = downgrade_8bit("Subject: caf\xc3\xa9\n\nbody\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().enhanced == "5.6.3");
  CHECK_FALSE(downgrade_8bit("Content-Transfer-Encoding: binary\n\n\xff\n").ok());
}

TEST_CASE("framing: CRLF, dot-stuffing for DATA only, final line end") {
  CHECK(frame(".a\nb\n..c", true) == "..a\r\nb\r\n...c\r\n");
  CHECK(frame(".a\nb", false) == ".a\r\nb\r\n");
}

TEST_CASE("SMTPUTF8 is needed for UTF-8 addresses, or headers when asked") {
  deliver::Job j;
  j.sender = "a@example.test";
  deliver::Recipient r{0, "b@example.test", "", ""};
  std::vector<const deliver::Recipient*> rs{&r};
  CHECK_FALSE(needs_smtputf8(j, rs, "Subject: caf\xc3\xa9\n\nx\n"));
  j.params["smtputf8"] = "1";
  CHECK(needs_smtputf8(j, rs, "Subject: caf\xc3\xa9\n\nx\n"));
  CHECK_FALSE(needs_smtputf8(j, rs, "Subject: x\n\ncaf\xc3\xa9\n"));
  deliver::Recipient u{0, "j\xc3\xb6rg@example.test", "", ""};
  j.params.clear();
  CHECK(needs_smtputf8(j, {&u}, "x\n"));
}

TEST_CASE("down marks are shared through the state directory and expire") {
  char tmpl[] = "/tmp/sluice-remotestate-XXXXXX";
  std::string base = mkdtemp(tmpl);
  {
    State a(base + "/state", 60), b(base + "/state", 60);
    REQUIRE(a.shared());
    CHECK_FALSE(a.down("mx:x.test"));
    a.mark_down("mx:x.test", "connect to [127.0.0.9]:25: timed out");
    auto why = b.down("mx:x.test");  // another member sees it
    REQUIRE(why);
    CHECK(*why == "connect to [127.0.0.9]:25: timed out");
    b.clear_down("mx:x.test");
    CHECK_FALSE(a.down("mx:x.test"));
    State zero(base + "/state", 0);  // down_time 0: never marked
    zero.mark_down("mx:y.test", "x");
    CHECK_FALSE(zero.down("mx:y.test"));
    // Slots: two of them; a third waits, then fails.
    UniqueFd s1 = a.acquire_slot("mx:x.test", 2, 0), s2 = b.acquire_slot("mx:x.test", 2, 0);
    CHECK(s1);
    CHECK(s2);
    CHECK_FALSE(a.acquire_slot("mx:x.test", 2, 30));
    s1.reset();
    CHECK(a.acquire_slot("mx:x.test", 2, 0));
  }
  std::filesystem::remove_all(base);
}
