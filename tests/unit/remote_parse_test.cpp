// sluice-remote's pure parts: routes, TLS policies, MX records, EHLO
// keywords, reply codes, and the result line's action word.
#include <catch2/catch.hpp>

#include "common/deliver_proto.hpp"
#include "delivery/remote/dns.hpp"
#include "delivery/remote/remote.hpp"
#include "delivery/remote/route.hpp"

using namespace sluice;
using namespace sluice::remote;

TEST_CASE("route values: host, port, IPv6 literal, credentials") {
  auto r = parse_route("relay.example.net:2525");
  REQUIRE(r.ok());
  CHECK(r->host == "relay.example.net");
  CHECK(r->port == 2525);
  CHECK(r->user.empty());
  r = parse_route("bob:p@ss:w@[::1]:587");
  REQUIRE(r.ok());
  CHECK(r->host == "::1");
  CHECK(r->port == 587);
  CHECK(r->user == "bob");
  CHECK(r->password == "p@ss:w");
  r = parse_route("smarthost");
  REQUIRE(r.ok());
  CHECK(r->port == 0);
  CHECK_FALSE(parse_route("host:99999").ok());
  CHECK_FALSE(parse_route("host:x").ok());
  CHECK_FALSE(parse_route("nocolon@host").ok());
  CHECK_FALSE(parse_route("[::1").ok());
}

TEST_CASE("route keys: exact, then nearest .parent, then *") {
  std::map<std::string, std::string> t{{"Example.org", "a"}, {".example.org", "b"}, {".org", "c"}, {"*", "d"}};
  CHECK(*find_route_key(t, "example.org") == "Example.org");
  CHECK(*find_route_key(t, "mx.Example.org") == ".example.org");
  CHECK(*find_route_key(t, "other.org") == ".org");
  CHECK(*find_route_key(t, "example.net") == "*");
  t.erase("*");
  CHECK_FALSE(find_route_key(t, "example.net").has_value());
}

TEST_CASE("TLS policy per destination, route host, default") {
  std::map<std::string, std::string> t{{"secure.test", "verify"}, {"relay.test", "encrypt"}, {".plain.test", "none"}};
  CHECK(tls_policy_for(t, "secure.test", "", TlsPolicy::may) == TlsPolicy::verify);
  CHECK(tls_policy_for(t, "x.plain.test", "", TlsPolicy::may) == TlsPolicy::none);
  CHECK(tls_policy_for(t, "routed.test", "relay.test", TlsPolicy::may) == TlsPolicy::encrypt);
  CHECK(tls_policy_for(t, "other.test", "", TlsPolicy::may) == TlsPolicy::may);
  CHECK_FALSE(parse_tls_policy("dane").ok());
}

TEST_CASE("MX rdata, null MX, ordering by preference") {
  const unsigned char mx[] = {0, 10, 4, 'm', 'a', 'i', 'l', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
  Host h;
  REQUIRE(parse_mx_rdata(mx, sizeof mx, h));
  CHECK(h.preference == 10);
  CHECK(h.name == "mail.example");
  const unsigned char null_mx[] = {0, 0, 0};
  REQUIRE(parse_mx_rdata(null_mx, sizeof null_mx, h));
  CHECK(h.name == ".");
  const unsigned char bad[] = {0, 1, 9, 'a'};
  CHECK_FALSE(parse_mx_rdata(bad, sizeof bad, h));
  std::vector<Host> hosts{{"c", 20, {}}, {"a", 10, {}}, {"b", 10, {}}, {"d", 5, {}}};
  bool a_first = false, b_first = false;
  for (unsigned seed = 1; seed < 40; seed++) {
    auto v = hosts;
    order_mx(v, seed);
    CHECK(v[0].name == "d");
    CHECK(v[3].name == "c");
    a_first |= v[1].name == "a";
    b_first |= v[1].name == "b";
  }
  CHECK(a_first);  // equal preferences are shuffled, both orders occur
  CHECK(b_first);
}

TEST_CASE("EHLO keywords") {
  auto e = Extensions::parse("mx.test greets you\nPIPELINING\nSIZE 1000\n8bitmime\nSMTPUTF8\nDSN\nCHUNKING\n"
                             "STARTTLS\nAUTH PLAIN LOGIN\n");
  CHECK(e.pipelining);
  CHECK(e.size == 1000);
  CHECK(e.eightbit);
  CHECK(e.smtputf8);
  CHECK(e.dsn);
  CHECK(e.chunking);
  CHECK(e.starttls);
  CHECK(e.auth == "PLAIN LOGIN");
  auto bare = Extensions::parse("PIPELINING greets\nHELP\n");
  CHECK_FALSE(bare.pipelining);  // the greeting line is not a keyword
}

TEST_CASE("enhanced code from a reply") {
  CHECK(Reply{550, "550 5.1.1 <x@y>: user unknown", ""}.enhanced() == "5.1.1");
  CHECK(Reply{451, "451 try later", ""}.enhanced() == "4.0.0");
  CHECK(Reply{550, "550 4.1.1 mismatched class", ""}.enhanced() == "5.0.0");
  CHECK(Reply{0, "lost connection", ""}.enhanced() == "4.0.0");
}

TEST_CASE("result action word: round trip, and old packets still decode") {
  std::vector<deliver::RcptResult> rs{{0, Status::ok("250 ok"), "mx.test", "relayed"},
                                      {1, Status::ok("250 ok"), "mx.test", ""}};
  auto back = deliver::decode_results(deliver::encode_results(rs));
  REQUIRE(back.ok());
  CHECK((*back)[0].action == "relayed");
  CHECK((*back)[1].action.empty());
  auto old = deliver::decode_results("result 3 2 2.0.0 mx.test 250+20ok\nend\n");
  REQUIRE(old.ok());
  CHECK((*old)[0].index == 3);
  CHECK((*old)[0].action.empty());
}
