// SMPP 3.4 PDU encoding and parsing, and the sluice-start row of sluice-sms.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <fstream>

#include "admin/start/services.hpp"
#include "delivery/sms/smpp_pdu.hpp"

using namespace sluice;
using namespace sluice::sms;

TEST_CASE("smpp pdu: header and bind_transmitter body") {
  std::string b = smpp::bind_body({"mta", "secret", "sms"});
  CHECK(b == std::string("mta\0secret\0sms\0\x34\0\0\0", 19));
  std::string wire = smpp::encode({smpp::kBindTransmitter, 0, 7, b});
  CHECK(wire.substr(0, 16) == std::string("\0\0\0\x23\0\0\0\x02\0\0\0\0\0\0\0\x07", 16));
  smpp::Pdu p;
  CHECK(smpp::parse(wire.substr(0, 20), p) == 0);  // incomplete: wait for more
  CHECK(smpp::parse(wire + "next", p) == 35);
  CHECK(p.id == smpp::kBindTransmitter);
  CHECK(p.seq == 7);
  CHECK(p.body == b);
  CHECK(smpp::parse(std::string("\0\0\0\x05\0\0\0\0", 8), p) == -1);  // shorter than a header
  CHECK(smpp::parse(std::string("\x7f\0\0\0", 4), p) == -1);           // absurdly long
}

TEST_CASE("smpp pdu: submit_sm fields in SMPP 3.4 order") {
  smpp::Submit s;
  s.source_addr = "Sluice";
  s.source_ton = 5;
  s.destination_addr = "8613800138000";
  s.esm_class = 0x40;
  s.registered_delivery = 1;
  s.data_coding = 8;
  s.short_message = std::string("\x05\x00\x03\x01\x02\x01\x4f\x1a", 8);
  std::string b = smpp::submit_body(s);
  using namespace std::string_literals;
  std::string want = "\0\x05\x00Sluice\0\x01\x01" "8613800138000\0\x40\x00\x00\0\0\x01\x00\x08\x00\x08"s +
                     s.short_message;
  CHECK(b == want);
}

TEST_CASE("smpp pdu: deliver_sm receipt with TLVs") {
  std::string text = "id:1A sub:001 dlvr:001 submit date:2611221649 done date:2611221649 stat:DELIVRD err:000 text:x";
  using namespace std::string_literals;
  std::string b = "\0\x01\x01" "8613800138000\0\x00\x00\0\x04\x00\x00\0\0\x00\x00\x00\x00"s +
                  static_cast<char>(text.size()) + text + "\x00\x1e\x00\x03" "1A\0\x04\x27\x00\x01\x02"s;
  smpp::Deliver d;
  REQUIRE(smpp::parse_deliver(b, d));
  CHECK(d.source_addr == "8613800138000");
  CHECK(d.esm_class == 0x04);
  CHECK(d.short_message == text);
  CHECK(d.receipted_message_id == "1A");
  CHECK(d.message_state == 2);
  CHECK_FALSE(smpp::parse_deliver(b.substr(0, 30), d));  // cut inside short_message
}

TEST_CASE("smpp pdu: which statuses are worth a retry") {
  CHECK(smpp::is_temporary(0x58));  // ESME_RTHROTTLED
  CHECK(smpp::is_temporary(0x14));  // ESME_RMSGQFUL
  CHECK(smpp::is_temporary(0x08));  // ESME_RSYSERR
  CHECK_FALSE(smpp::is_temporary(0x0B));  // ESME_RINVDSTADR
  CHECK_FALSE(smpp::is_temporary(0x0E));
  CHECK(std::string(smpp::status_name(0x0E)) == "ESME_RINVPASWD");
  CHECK(smpp::resp_message_id(std::string("5F\0", 3)) == "5F");
}

namespace {
Config cfg_of(const std::string& body) {
  char tmpl[] = "/tmp/sluice-sms-cfg-XXXXXX";
  int fd = mkstemp(tmpl);
  std::ofstream(tmpl) << body;
  close(fd);
  auto c = Config::load(tmpl);
  unlink(tmpl);
  REQUIRE(c.ok());
  return *c;
}
}  // namespace

TEST_CASE("service table: sluice-sms runs only where SMS is configured") {
  // Every program is built, so only the SMS keys decide.
  start::ExistsFn exists = [](const std::string&) { return true; };
  auto has_sms = [](const start::Plan& p) {
    for (const auto& s : p.services)
      if (s.name == "sluice-sms") return s.account == "sluice-sms" && s.count == 1 && s.listeners.empty();
    return false;
  };
  auto none = start::make_plan(start::service_table(), cfg_of(""), "/b", exists);
  REQUIRE(none.ok());
  CHECK_FALSE(has_sms(*none));
  auto smpp = start::make_plan(start::service_table(), cfg_of("[sms.smpp]\nhost = \"smsc\"\n"), "/b", exists);
  REQUIRE(smpp.ok());
  CHECK(has_sms(*smpp));
  auto http = start::make_plan(start::service_table(), cfg_of("[sms.http]\nurl = \"http://gw/\"\n"), "/b", exists);
  REQUIRE(http.ok());
  CHECK(has_sms(*http));
  // Configured but not built: the operator asked for SMS, so say it is missing.
  auto missing = start::make_plan(start::service_table(), cfg_of("[sms.smpp]\nhost = \"smsc\"\n"), "/b",
                                  [](const std::string& p) { return p != "/b/sluice-sms"; });
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().text.find("sluice-sms") != std::string::npos);
}
