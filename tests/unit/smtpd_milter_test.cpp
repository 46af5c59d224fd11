#include <catch2/catch.hpp>

#include "listen/smtpd/milter.hpp"
#include "listen/smtpd/milter_proto.hpp"

using namespace sluice::smtpd;
using namespace sluice::smtpd::milter;

namespace {
std::string u32(uint32_t v) {
  std::string s(4, '\0');
  s[0] = static_cast<char>(v >> 24);
  s[1] = static_cast<char>(v >> 16);
  s[2] = static_cast<char>(v >> 8);
  s[3] = static_cast<char>(v);
  return s;
}
}  // namespace

TEST_CASE("milter: packets on the wire") {
  std::string wire = encode('O', optneg(kAllActions, kClientSteps)) + encode('c', "");
  CHECK(wire.substr(0, 5) == u32(13) + "O");
  std::string buf = wire.substr(0, 7);
  Packet p;
  bool bad = false;
  CHECK_FALSE(take_packet(buf, p, bad));  // incomplete: wait for more
  CHECK_FALSE(bad);
  buf = wire;
  REQUIRE(take_packet(buf, p, bad));
  CHECK(p.cmd == 'O');
  auto n = parse_optneg(p.data);
  REQUIRE(n);
  CHECK(n->version == 6);
  CHECK(n->actions == kAllActions);
  REQUIRE(take_packet(buf, p, bad));
  CHECK(p.cmd == 'c');
  CHECK(buf.empty());
  std::string huge = u32(kMaxPacket + 1) + "x";
  CHECK_FALSE(take_packet(huge, p, bad));
  CHECK(bad);
  std::string zero = u32(0);
  CHECK_FALSE(take_packet(zero, p, bad));
  CHECK(bad);
  CHECK(connect_data("unknown", "192.0.2.1", 25) == std::string("unknown\0" "4\0\x19" "192.0.2.1\0", 21));
  CHECK(connect_data("h", "2001:db8::1", 25)[2] == '6');
  CHECK(macros('M', {{"{mail_addr}", "a@b"}}) == std::string("M{mail_addr}\0a@b\0", 17));
}

TEST_CASE("milter: answers") {
  CHECK(parse_answer({'c', ""})->verdict == Verdict::next);
  CHECK(parse_answer({'t', ""})->verdict == Verdict::tempfail);
  auto y = parse_answer({'y', std::string("550 5.7.1 go away\0", 18)});
  REQUIRE(y);
  CHECK(y->code == 550);
  CHECK(y->enhanced == "5.7.1");
  CHECK(y->text == "go away");
  auto plain = parse_answer({'y', "451 busy"});
  REQUIRE(plain);
  CHECK(plain->enhanced.empty());
  CHECK(plain->text == "busy");
  // Not a refusal, a control character, a wrong enhanced class: not an answer.
  CHECK_FALSE(parse_answer({'y', "250 ok"}));
  CHECK_FALSE(parse_answer({'y', "550 a\x01" "b"}));
  CHECK(parse_answer({'y', "550 4.7.1 mixed"})->enhanced.empty());
  CHECK_FALSE(parse_answer({'h', std::string("X\0y\0", 4)}));
}

TEST_CASE("milter: edits and the header") {
  Parsed p = parse_message("Received: from a\n\tby b\nSubject: hi\nsubject: two\n\nbody\n");
  REQUIRE(p.fields.size() == 3);
  CHECK(p.fields[0].value == " from a\n\tby b");
  CHECK(wire_value(p.fields[0].value) == "from a\r\n\tby b");
  auto e = parse_edit({'m', u32(2) + std::string("Subject\0changed\0", 16)});
  REQUIRE(e);
  CHECK(apply_header_edit(p, *e));
  CHECK(p.fields[2].value == " changed");
  e = parse_edit({'i', u32(0) + std::string("X-First\0v\r\n\tw\0", 14)});
  REQUIRE(e);
  CHECK(apply_header_edit(p, *e));
  CHECK(join_message(p) == "X-First: v\n\tw\nReceived: from a\n\tby b\nSubject: hi\nsubject: changed\n\nbody\n");
  e = parse_edit({'m', u32(1) + std::string("Subject\0\0", 9)});
  CHECK(apply_header_edit(p, *e));  // an empty value deletes
  CHECK(p.fields.size() == 3);
  // A fold that would start a field, a name with a colon: refused.
  e = parse_edit({'h', std::string("X-Evil\0x\r\nBcc: v@w\0", 19)});
  REQUIRE(e);
  CHECK_FALSE(apply_header_edit(p, *e));
  e = parse_edit({'h', std::string("Bad:Name\0v\0", 11)});
  CHECK_FALSE(apply_header_edit(p, *e));
  CHECK_FALSE(parse_edit({'h', std::string("X-Only-Name\0", 12)}));
  CHECK_FALSE(parse_edit({'i', "ab"}));
  e = parse_edit({'2', std::string("<a@b>\0NOTIFY=NEVER\0", 19)});
  REQUIRE(e);
  CHECK(e->kind == Edit::Kind::add_rcpt);
  CHECK(e->args == "NOTIFY=NEVER");
  // No blank line: the body starts at the first line that is not a field.
  Parsed q = parse_message("Subject: x\nnot a header\nmore\n");
  CHECK_FALSE(q.blank_line);
  CHECK(q.body == "not a header\nmore\n");
  CHECK(join_message(q) == "Subject: x\nnot a header\nmore\n");
}

TEST_CASE("milter: specs") {
  MilterSpec s;
  REQUIRE(parse_milter_spec("inet:8891@127.0.0.1", s));
  CHECK(s.host == "127.0.0.1");
  CHECK(s.port == 8891);
  REQUIRE(parse_milter_spec("inet:[::1]:8891", s));
  CHECK(s.host == "::1");
  REQUIRE(parse_milter_spec("unix:/run/opendkim/opendkim.sock", s));
  CHECK(s.unix_socket);
  for (const char* bad : {"inet:host", "inet:0@h", "inet:70000@h", "unix:relative", "tcp:1.2.3.4:5", ""})
    CHECK_FALSE(parse_milter_spec(bad, s));
}
