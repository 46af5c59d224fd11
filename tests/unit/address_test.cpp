#include <catch2/catch.hpp>

#include <chrono>

#include "common/address.hpp"

using namespace sluice;
using sluice::addr::Address;

namespace {

Address ok_mailbox(std::string_view s, bool utf8 = true) {
  auto r = addr::parse_mailbox(s, utf8);
  INFO("input: " << s << " error: " << (r.ok() ? "" : r.error().text));
  REQUIRE(r.ok());
  return *r;
}

Status bad_mailbox(std::string_view s, bool utf8 = true) {
  auto r = addr::parse_mailbox(s, utf8);
  INFO("input: " << s);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is_perm());
  return r.error();
}

std::vector<std::string> header(std::string_view v) {
  auto r = addr::parse_header_addresses(v);
  INFO("input: " << v << " error: " << (r.ok() ? "" : r.error().text));
  REQUIRE(r.ok());
  std::vector<std::string> out;
  for (auto& a : *r) out.push_back(a.str());
  return out;
}

}  // namespace

TEST_CASE("mailbox: dot-string local parts and domains", "[address]") {
  Address a = ok_mailbox("John.Doe+tag@Example.ORG");
  CHECK(a.local == "John.Doe+tag");
  CHECK(a.domain == "Example.ORG");
  CHECK(a.str() == "John.Doe+tag@Example.ORG");
  CHECK_FALSE(a.null());
  CHECK_FALSE(a.needs_smtputf8());
  CHECK(ok_mailbox("!#$%&'*+-/=?^_`{|}~@x").local == "!#$%&'*+-/=?^_`{|}~");
  CHECK(ok_mailbox("a@localhost").domain == "localhost");
  CHECK(ok_mailbox("a@x-1.b2.example").domain == "x-1.b2.example");

  CHECK(bad_mailbox("").text == "empty address");
  CHECK(bad_mailbox("user").text.find("missing @domain") != std::string::npos);
  CHECK(bad_mailbox("user@").text.find("empty domain") != std::string::npos);
  CHECK(bad_mailbox("@example.org").text.find("empty local part") != std::string::npos);
  CHECK(bad_mailbox(".a@x").text.find("dot") != std::string::npos);
  CHECK(bad_mailbox("a.@x").text.find("dot") != std::string::npos);
  CHECK(bad_mailbox("a..b@x").text.find("dot") != std::string::npos);
  CHECK(bad_mailbox("a b@x").text.find("' '") == std::string::npos);  // shown as \x20
  CHECK(bad_mailbox("a b@x").text.find("\\x20") != std::string::npos);
  bad_mailbox("a(b)@x");
  bad_mailbox("a,b@x");
  bad_mailbox("a@b@x");
  bad_mailbox("a@-x.org");
  bad_mailbox("a@x-.org");
  bad_mailbox("a@x..org");
  bad_mailbox("a@.x.org");
  bad_mailbox("a@x.org.");
  bad_mailbox("a@x_y.org");
  bad_mailbox(std::string("a\0b@x", 5));
  bad_mailbox("a\r\n@x");
}

TEST_CASE("mailbox: errors are 5.1.3 perm", "[address]") {
  Status st = bad_mailbox("a..b@x");
  CHECK(st.enhanced == "5.1.3");
  CHECK(st.digit() == '5');
}

TEST_CASE("mailbox: quoted local parts", "[address]") {
  Address a = ok_mailbox(R"("john doe"@example.org)");
  CHECK(a.local == "john doe");
  CHECK(a.str() == R"("john doe"@example.org)");
  a = ok_mailbox(R"("a\"b\\c"@x)");
  CHECK(a.local == R"(a"b\c)");
  CHECK(a.str() == R"("a\"b\\c"@x)");
  // Needless quoting is dropped: same mailbox.
  a = ok_mailbox(R"("abc"@x)");
  CHECK(a.local == "abc");
  CHECK(a.str() == "abc@x");
  CHECK(ok_mailbox(R"("a\bc"@x)").local == "abc");
  CHECK(ok_mailbox(R"("a..b"@x)").str() == R"("a..b"@x)");
  CHECK(ok_mailbox(R"(""@x)").str() == R"(""@x)");
  CHECK(ok_mailbox(R"("@"@x)").local == "@");
  CHECK(bad_mailbox(R"("abc@x)").text.find("unterminated") != std::string::npos);
  bad_mailbox(R"("a"b@x)");
  bad_mailbox("\"a\tb\"@x");
  bad_mailbox("\"a\\\tb\"@x");
  bad_mailbox("\"a\\");
}

TEST_CASE("mailbox: address literals", "[address]") {
  CHECK(ok_mailbox("a@[192.0.2.1]").domain == "[192.0.2.1]");
  CHECK(ok_mailbox("a@[IPv6:2001:db8::1]").domain == "[IPv6:2001:db8::1]");
  CHECK(ok_mailbox("a@[IPv6:::ffff:192.0.2.1]").domain == "[IPv6:::ffff:192.0.2.1]");
  CHECK(ok_mailbox("a@[x-tag:anything]").domain == "[x-tag:anything]");
  bad_mailbox("a@[192.0.2.256]");
  bad_mailbox("a@[192.0.2]");
  bad_mailbox("a@[1.2.3.4.5]");
  bad_mailbox("a@[IPv6:2001:db8:::1]");
  bad_mailbox("a@[IPv6:zz::1]");
  bad_mailbox(std::string("a@[IPv6:2001:db8::\0\xf7]", 21));  // found by the fuzzer
  bad_mailbox("a@[192.0.2.1");
  bad_mailbox("a@[]");
  bad_mailbox("a@[192.0.2.1]x");
}

TEST_CASE("mailbox: UTF-8 (RFC 6531)", "[address]") {
  Address a = ok_mailbox("用户@例子.广告");
  CHECK(a.needs_smtputf8());
  CHECK(a.str() == "用户@例子.广告");
  CHECK(ok_mailbox("josé@example.org").local == "josé");
  CHECK(ok_mailbox("\"jo sé\"@example.org").str() == "\"jo sé\"@example.org");
  Status st = bad_mailbox("josé@example.org", false);
  CHECK(st.enhanced == "5.6.7");
  CHECK(st.text.find("SMTPUTF8") != std::string::npos);
  bad_mailbox("a@exämple.org", false);
  // Malformed UTF-8: stray continuation, overlong, surrogate, truncated, > U+10FFFF.
  for (std::string s : {"\x80@x", "\xc0\xaf@x", "\xed\xa0\x80@x", "\xe4\xbd@x", "\xf4\x90\x80\x80@x", "a@\xff.org"})
    CHECK(bad_mailbox(s).text.find("UTF-8") != std::string::npos);
}

TEST_CASE("mailbox: length limits say too long", "[address]") {
  std::string l64(64, 'a'), l65(65, 'a');
  ok_mailbox(l64 + "@x");
  CHECK(bad_mailbox(l65 + "@x").text.find("too long") != std::string::npos);
  CHECK(bad_mailbox("\"" + std::string(63, 'a') + "\"@x").text.find("too long") != std::string::npos);
  std::string label63(63, 'b'), label64(64, 'b');
  ok_mailbox("a@" + label63 + ".org");
  CHECK(bad_mailbox("a@" + label64 + ".org").text.find("too long") != std::string::npos);
  // 4 * 63 + 3 dots = 255: the longest domain; with "a@" that is 257 > 254.
  std::string d255 = label63 + "." + label63 + "." + label63 + "." + label63;
  REQUIRE(d255.size() == 255);
  CHECK(addr::check_domain(d255).is_ok());
  CHECK(addr::check_domain(d255 + "x").text.find("too long") != std::string::npos);
  CHECK(bad_mailbox("a@" + d255).text.find("too long") != std::string::npos);
  std::string d250 = label63 + "." + label63 + "." + label63 + "." + std::string(58, 'c');
  ok_mailbox("abcd@" + d250.substr(0, 249));  // 254 octets
  CHECK(bad_mailbox("abcde@" + d250.substr(0, 249)).text.find("too long") != std::string::npos);
  CHECK(bad_mailbox("abcde@" + d250.substr(0, 249)).enhanced == "5.1.3");
}

TEST_CASE("path: brackets, null, source routes", "[address]") {
  auto r = addr::parse_path("<bob@example.org>", true, false);
  REQUIRE(r.ok());
  CHECK(r->str() == "bob@example.org");
  r = addr::parse_path("<>", false, true);
  REQUIRE(r.ok());
  CHECK(r->null());
  CHECK(r->str() == "");
  r = addr::parse_path("<>", false, false);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().enhanced == "5.1.3");
  r = addr::parse_path("<@relay.example,@b.example:bob@example.org>", false, false);
  REQUIRE(r.ok());
  CHECK(*r == Address{"bob", "example.org"});
  CHECK_FALSE(addr::parse_path("<@relay.example bob@example.org>", false, false).ok());
  CHECK_FALSE(addr::parse_path("<@relay..x:bob@example.org>", false, false).ok());
  CHECK_FALSE(addr::parse_path("<@a,:bob@example.org>", false, false).ok());
  CHECK_FALSE(addr::parse_path("bob@example.org", false, false).ok());
  CHECK_FALSE(addr::parse_path("<bob@example.org", false, false).ok());
  CHECK_FALSE(addr::parse_path("< bob@example.org>", false, false).ok());
  CHECK_FALSE(addr::parse_path("<", false, true).ok());
  r = addr::parse_path("<\"a>b\"@x>", false, false);
  REQUIRE(r.ok());
  CHECK(r->local == "a>b");
  std::string long_path = "<" + std::string(64, 'a') + "@" + std::string(63, 'b') + "." + std::string(63, 'c') +
                          "." + std::string(63, 'd') + ".eeee>";
  REQUIRE(long_path.size() == 263);
  auto lp = addr::parse_path(long_path, false, false);
  REQUIRE_FALSE(lp.ok());
  CHECK(lp.error().text.find("too long") != std::string::npos);
}

TEST_CASE("path_length finds the end of <...>", "[address]") {
  CHECK(addr::path_length("<a@b> SIZE=10") == 5);
  CHECK(addr::path_length("<> BODY=8BITMIME") == 2);
  CHECK(addr::path_length("<\"x>y\"@b> X") == 9);
  CHECK(addr::path_length("<\"x\\\">\"@b>") == 10);
  CHECK(addr::path_length("a@b") == std::string_view::npos);
  CHECK(addr::path_length("<a@b") == std::string_view::npos);
}

TEST_CASE("lower_ascii leaves non-ASCII alone", "[address]") {
  CHECK(addr::lower_ascii("Bob@EXAMPLE.Org") == "bob@example.org");
  CHECK(addr::lower_ascii("ÄB") == "Äb");
}

TEST_CASE("header: RFC 5322 address lists", "[address]") {
  CHECK(header("bob@example.org") == std::vector<std::string>{"bob@example.org"});
  CHECK(header("\"Joe Q. Public\" <john.q.public@example.com>") ==
        std::vector<std::string>{"john.q.public@example.com"});
  CHECK(header("Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>") ==
        std::vector<std::string>{"mary@x.test", "jdoe@example.org", "one@y.test"});
  CHECK(header("<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>") ==
        std::vector<std::string>{"boss@nil.test", "sysservices@example.net"});
  CHECK(header("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;") ==
        std::vector<std::string>{"c@a.test", "joe@where.test", "jdoe@one.test"});
  CHECK(header("Undisclosed recipients:;").empty());
  CHECK(header("undisclosed-recipients:").empty());
  CHECK(header("").empty());
  CHECK(header("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>") ==
        std::vector<std::string>{"pete@silly.test"});
  CHECK(header("a@x,\r\n\tb@y , , c@z") == std::vector<std::string>{"a@x", "b@y", "c@z"});
  CHECK(header("\"quoted local\"@example.org") == std::vector<std::string>{"\"quoted local\"@example.org"});
  CHECK(header("John <@route.test:john@example.org>") == std::vector<std::string>{"john@example.org"});
  CHECK(header("=?UTF-8?B?SsO2cmc=?= <jorg@example.org>") == std::vector<std::string>{"jorg@example.org"});
  CHECK(header("Jörg <jörg@exämple.org>") == std::vector<std::string>{"jörg@exämple.org"});
  CHECK(header("bob@x.org <bob@x.org>") == std::vector<std::string>{"bob@x.org"});
  CHECK(header("a@[192.0.2.1]") == std::vector<std::string>{"a@[192.0.2.1]"});
  CHECK(header("john . doe @ example . org") == std::vector<std::string>{"john.doe@example.org"});
  // A bare local part (cron's "To: root") comes back unqualified.
  auto r = addr::parse_header_addresses("root");
  REQUIRE(r.ok());
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].local == "root");
  CHECK((*r)[0].domain == "");
}

TEST_CASE("header: malformed lists are refused clearly", "[address]") {
  for (std::string bad : {"<a@x", "a@x>", "\"unterminated <a@x>", "(comment <a@x>", "John Smith",
                          "G: a@x, H: b@y;;", "a@x;", "<<a@x>>", "<a@x> trailing", "a@", "a@x..y", "a b@x",
                          "<>", "a@[1.2.3", "a@x\x01", "Jo\"e <a@x>"}) {
    auto r = addr::parse_header_addresses(bad);
    INFO("input: " << bad);
    CHECK_FALSE(r.ok());
    if (!r.ok()) CHECK(r.error().enhanced == "5.1.3");
  }
}

TEST_CASE("parsers stay linear on hostile input", "[address]") {
  auto start = std::chrono::steady_clock::now();
  std::string many(200000, '(');
  CHECK_FALSE(addr::parse_header_addresses(many).ok());
  std::string quotes(200000, '"');
  addr::parse_header_addresses(quotes);
  std::string commas;
  for (int i = 0; i < 20000; ++i) commas += "a@b.c, <x@y.z>, G:;";
  auto r = addr::parse_header_addresses(commas);
  REQUIRE(r.ok());
  CHECK(r->size() == 40000);
  std::string dots(100000, '.');
  CHECK_FALSE(addr::parse_mailbox(dots).ok());
  CHECK_FALSE(addr::parse_header_addresses(std::string(100000, '<')).ok());
  CHECK_FALSE(addr::parse_header_addresses(std::string(100000, '[')).ok());
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  CHECK(ms < 2000);
}

TEST_CASE("str() round-trips through parse_mailbox", "[address]") {
  for (std::string s : {"a@x", "\"a b\"@x", "\"a\\\"b\"@x", "\"a\\\\\"@x", "\".a\"@x", "\"a.\"@x", "\"\"@x",
                        "\"ü ü\"@x", "a.b.c@[IPv6:::1]"}) {
    Address a = ok_mailbox(s);
    Address b = ok_mailbox(a.str());
    CHECK(a == b);
  }
}
