#include <catch2/catch.hpp>

#include "listen/auth/auth.hpp"
#include "listen/smtpd/body.hpp"
#include "listen/smtpd/command.hpp"
#include "listen/smtpd/policy.hpp"

using namespace sluice;
using namespace sluice::smtpd;

namespace {
std::string decode_data(std::string_view wire, BodyDecoder::Fatal* fatal = nullptr, size_t* used = nullptr) {
  BodyDecoder d(BodyDecoder::Mode::data, 1 << 20);
  size_t n = d.feed(wire);
  if (used) *used = n;
  if (fatal) *fatal = d.fatal();
  return d.fatal() == BodyDecoder::Fatal::none && d.done() ? d.message() : "<not done>";
}
}  // namespace

TEST_CASE("smtpd: command lines split into verb and argument") {
  Command c;
  REQUIRE_FALSE(split_command("mail FROM:<a@b> SIZE=1", c));
  CHECK(c.verb == "MAIL");
  CHECK(c.arg == "FROM:<a@b> SIZE=1");
  CHECK(split_command("NOOP\0x", c) == std::nullopt);  // string literal stops at NUL
  CHECK(split_command(std::string_view("NOOP\0x", 6), c)->code == 500);
  CHECK(split_command("NO\rOP", c)->enhanced == "5.5.2");
  CHECK(split_command("", c)->code == 500);
}

TEST_CASE("smtpd: MAIL and RCPT parameters (SIZE, BODY, DSN, SMTPUTF8)") {
  MailArgs m;
  REQUIRE_FALSE(parse_mail("FROM:<a@example.org> SIZE=1000 BODY=8bitmime RET=hdrs ENVID=x+2By", m));
  CHECK(m.sender.str() == "a@example.org");
  CHECK(m.size == 1000);
  CHECK(m.body == "8BITMIME");
  CHECK(m.ret == "HDRS");
  CHECK(m.envid == "x+y");
  MailArgs null;
  REQUIRE_FALSE(parse_mail("FROM: <>", null));  // the space some clients send
  CHECK(null.sender.null());
  MailArgs bad;
  CHECK(parse_mail("FROM:<a@b> FOO=1", bad)->code == 555);
  CHECK(parse_mail("FROM:<a@b> SIZE=x", bad)->code == 501);
  CHECK(parse_mail("FROM:<a@b> SIZE=1 SIZE=2", bad)->code == 501);
  CHECK(parse_mail("FROM:a@b", bad)->code == 501);
  CHECK(parse_mail("TO:<a@b>", bad)->code == 501);
  CHECK(parse_mail("FROM:<müller@b>", bad)->enhanced == "5.6.7");
  MailArgs u;
  REQUIRE_FALSE(parse_mail("FROM:<müller@b> SMTPUTF8", u));
  CHECK(u.smtputf8);

  RcptArgs r;
  REQUIRE_FALSE(parse_rcpt("TO:<b@example.org> NOTIFY=success,delay ORCPT=rfc822;b+2Bx@example.org", r));
  CHECK(r.notify == "SUCCESS,DELAY");
  CHECK(r.orcpt == "rfc822;b+x@example.org");
  RcptArgs pm;
  REQUIRE_FALSE(parse_rcpt("TO:<Postmaster>", pm));
  CHECK(pm.postmaster);
  RcptArgs e;
  CHECK(parse_rcpt("TO:<b@x> NOTIFY=NEVER,SUCCESS", e)->code == 501);
  CHECK(parse_rcpt("TO:<b@x> NOTIFY=SOMETIMES", e)->code == 501);
  CHECK(parse_rcpt("TO:<b@x> ORCPT=b@x", e)->code == 501);
  CHECK(parse_rcpt("TO:<>", e)->code == 501);
}

TEST_CASE("smtpd: xtext, base64, PLAIN, BDAT arguments") {
  std::string out;
  CHECK(xtext_decode("a+2Bb+3D", out));
  CHECK(out == "a+b=");
  CHECK_FALSE(xtext_decode("a+2", out));
  CHECK_FALSE(xtext_decode("a+2b", out));  // upper-case hex only
  CHECK_FALSE(xtext_decode("a b", out));
  CHECK(base64_decode(base64_encode(std::string("\0u\0p w", 6)), out));
  CHECK(out == std::string("\0u\0p w", 6));
  CHECK_FALSE(base64_decode("abc", out));
  CHECK_FALSE(base64_decode("a=bc", out));
  std::string user, pw;
  CHECK(parse_plain(std::string("\0u@x\0secret pw", 14), user, pw));
  CHECK((user == "u@x" && pw == "secret pw"));
  CHECK_FALSE(parse_plain(std::string("other\0u@x\0pw", 12), user, pw));
  long long n;
  bool last;
  CHECK((parse_bdat("100 LAST", n, last) && n == 100 && last));
  CHECK((parse_bdat("0", n, last) && n == 0 && !last));
  CHECK_FALSE(parse_bdat("-1", n, last));
  CHECK_FALSE(parse_bdat("10 FIRST", n, last));
}

TEST_CASE("smtpd: DATA decoding: CRLF only, dot-stuffing, the end marker") {
  size_t used;
  CHECK(decode_data("a\r\n..b\r\n.c\r\n.\r\nQUIT\r\n", nullptr, &used) == "a\n.b\nc\n");
  CHECK(used == 15);  // stops right after ".\r\n": the rest is the next command
  CHECK(decode_data(".\r\n") == "");
  BodyDecoder::Fatal f;
  for (std::string_view attack : {"a\n.\n", "a\r\n.\n", "a\n.\r\n", "a\r.\r", "a\r\n.\r"}) {
    decode_data(std::string(attack) + "MAIL FROM:<x@y>\r\n.\r\n", &f);
    CHECK(f != BodyDecoder::Fatal::none);
  }
  decode_data("x\ny\r\n.\r\n", &f);
  CHECK(f == BodyDecoder::Fatal::bare_lf);
  decode_data("x\ry\r\n.\r\n", &f);
  CHECK(f == BodyDecoder::Fatal::bare_cr);

  BodyDecoder big(BodyDecoder::Mode::data, 10);
  big.feed("0123456789abcdef\r\n.\r\n");
  CHECK((big.done() && big.too_big()));
  BodyDecoder nul(BodyDecoder::Mode::data, 100);
  nul.feed(std::string_view("a\0b\r\n.\r\n", 8));
  CHECK((nul.done() && nul.nul()));
  BodyDecoder longl(BodyDecoder::Mode::data, 1 << 20);
  longl.feed(std::string(999, 'x') + "\r\n.\r\n");
  CHECK((longl.done() && longl.long_line()));
  BodyDecoder ok(BodyDecoder::Mode::data, 1 << 20);
  ok.feed(std::string(998, 'x') + "\r\n.\r\n");
  CHECK((ok.done() && !ok.long_line()));
}

TEST_CASE("smtpd: BDAT chunks: CRLF split across chunks, no dot handling") {
  BodyDecoder d(BodyDecoder::Mode::chunks, 1 << 20);
  d.feed("a\r");
  d.feed("\n.b\r\n.\r");
  d.feed("\nlast");
  d.finish();
  CHECK(d.fatal() == BodyDecoder::Fatal::none);
  CHECK(d.message() == "a\n.b\n.\nlast\n");
  BodyDecoder cr(BodyDecoder::Mode::chunks, 1 << 20);
  cr.feed("a\r");
  cr.finish();
  CHECK(cr.fatal() == BodyDecoder::Fatal::bare_cr);
}

TEST_CASE("smtpd: trusted networks") {
  std::vector<Network> nets(2);
  REQUIRE(parse_network("192.0.2.0/24", nets[0]));
  REQUIRE(parse_network("2001:db8::/32", nets[1]));
  CHECK(in_networks(nets, "192.0.2.77"));
  CHECK(in_networks(nets, "::ffff:192.0.2.1"));
  CHECK_FALSE(in_networks(nets, "192.0.3.1"));
  CHECK(in_networks(nets, "2001:db8:1::5"));
  CHECK_FALSE(in_networks(nets, "2001:db9::1"));
  Network n;
  CHECK_FALSE(parse_network("10.0.0.0/33", n));
  CHECK_FALSE(parse_network("example.org", n));
}

TEST_CASE("smtpd: the injection's answer becomes the SMTP reply") {
  CHECK(injection_reply(0, "0123456789abcdef").line() == "250 2.0.0 Ok: queued as 0123456789abcdef");
  CHECK(injection_reply(53, "4.3.1 insufficient system storage").line() == "452 4.3.1 Insufficient system storage");
  CHECK(injection_reply(31, "5.7.1 spam").line() == "554 5.7.1 spam");
  CHECK(injection_reply(31, "5.3.4 too big").code == 552);
  CHECK(injection_reply(31, "550 5.7.1 filter says no").line() == "550 5.7.1 filter says no");
  CHECK(injection_reply(71, "4.7.0 later").line() == "451 4.7.0 later");
  CHECK(injection_reply(81, "").line() == "451 4.3.0 Temporary failure, try again later");
}

TEST_CASE("smtpd: Received line names TLS and the protocol") {
  ReceivedInfo r;
  r.helo = "client.example";
  r.client_ip = "192.0.2.1";
  r.hostname = "mx.example.org";
  r.tls = true;
  r.auth = true;
  r.tls_version = "TLSv1.3";
  r.tls_cipher = "TLS_AES_256_GCM_SHA384";
  r.rcpt = "b@example.org";
  std::string h = received_header(r);
  CHECK(h.rfind("Received: from client.example ([192.0.2.1])\n\tby mx.example.org (sluice) with ESMTPSA\n"
                "\t(TLSv1.3 cipher TLS_AES_256_GCM_SHA384)\n\tfor <b@example.org>;\n\t", 0) == 0);
  CHECK(h.back() == '\n');
}

TEST_CASE("sluice-auth: failures per IP lead to a temporary ban that ends") {
  auth::Bans b(3, 600);
  CHECK_FALSE(b.failure("192.0.2.1", 1000));
  CHECK_FALSE(b.failure("192.0.2.1", 1001));
  CHECK_FALSE(b.banned("192.0.2.1", 1002));
  CHECK(b.failure("192.0.2.1", 1002));
  CHECK(b.banned("192.0.2.1", 1003));
  CHECK_FALSE(b.banned("192.0.2.2", 1003));
  CHECK_FALSE(b.banned("192.0.2.1", 1002 + 601));
  // Failures spread wider than the window never add up to a ban.
  auth::Bans slow(2, 60);
  CHECK_FALSE(slow.failure("x", 0));
  CHECK_FALSE(slow.failure("x", 100));
}
