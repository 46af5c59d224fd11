// SMPP 3.4 PDUs: the 16-octet header (length, command_id, command_status,
// sequence_number, big-endian) and the bodies sluice-sms sends or reads:
// bind_transmitter/bind_transceiver, submit_sm, deliver_sm (receipts),
// enquire_link, unbind, generic_nack and their responses.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::sms::smpp {

enum Command : uint32_t {
  kGenericNack = 0x80000000,
  kBindReceiver = 0x00000001,
  kBindTransmitter = 0x00000002,
  kSubmitSm = 0x00000004,
  kDeliverSm = 0x00000005,
  kUnbind = 0x00000006,
  kBindTransceiver = 0x00000009,
  kEnquireLink = 0x00000015,
  kResp = 0x80000000,  // OR-ed into a request's id for its response
};

enum StatusCode : uint32_t {
  kOk = 0x00,
  kInvalidCommandLength = 0x01,
  kInvalidCommandId = 0x03,
  kSystemError = 0x08,
  kMessageQueueFull = 0x14,
  kSubmitFailed = 0x45,
  kThrottled = 0x58,
  kTemporaryAppError = 0x64,
};

constexpr size_t kHeaderSize = 16;
constexpr uint32_t kMaxPdu = 65536;  // larger lengths are a broken peer

struct Pdu {
  uint32_t id = 0;
  uint32_t status = 0;
  uint32_t seq = 0;
  std::string body;
};

std::string encode(const Pdu& p);
// Parses the PDU at the front of BUF: the octets it used, 0 when BUF holds
// only part of it, -1 when its length is impossible.
long parse(std::string_view buf, Pdu& out);

struct Bind {
  std::string system_id, password, system_type;
};
std::string bind_body(const Bind& b);

struct Submit {
  std::string service_type;
  uint8_t source_ton = 0, source_npi = 0;
  std::string source_addr;
  uint8_t dest_ton = 1, dest_npi = 1;  // international, E.164
  std::string destination_addr;        // digits, no "+"
  uint8_t esm_class = 0;               // 0x40: short_message starts with a UDH
  uint8_t registered_delivery = 0;     // 1: a receipt on final outcome
  uint8_t data_coding = 0;
  std::string short_message;           // at most 254 octets
};
std::string submit_body(const Submit& s);

struct Deliver {
  std::string source_addr, destination_addr;
  uint8_t esm_class = 0;
  uint8_t data_coding = 0;
  std::string short_message;
  std::string receipted_message_id;  // TLV 0x001E
  int message_state = -1;            // TLV 0x0427
};
bool parse_deliver(std::string_view body, Deliver& out);

// The message_id of a submit_sm_resp body ("" when absent).
std::string resp_message_id(std::string_view body);

const char* status_name(uint32_t status);
// Errors worth a retry: the SMSC is busy or failed for itself, not because
// of what we sent.
bool is_temporary(uint32_t status);

}  // namespace sluice::sms::smpp
