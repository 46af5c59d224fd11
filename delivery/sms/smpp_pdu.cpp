#include "delivery/sms/smpp_pdu.hpp"

namespace sluice::sms::smpp {
namespace {

void put32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out += static_cast<char>((v >> s) & 0xFF);
}

uint32_t get32(std::string_view b, size_t pos) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v = (v << 8) | static_cast<unsigned char>(b[pos + i]);
  return v;
}

void put_c(std::string& out, std::string_view s) {
  out += s;
  out += '\0';
}

// A C-octet string at POS; false when it runs past the end.
bool get_c(std::string_view b, size_t& pos, std::string& out) {
  size_t z = b.find('\0', pos);
  if (z == std::string_view::npos) return false;
  out.assign(b.substr(pos, z - pos));
  pos = z + 1;
  return true;
}

bool get8(std::string_view b, size_t& pos, uint8_t& out) {
  if (pos >= b.size()) return false;
  out = static_cast<uint8_t>(b[pos++]);
  return true;
}

}  // namespace

std::string encode(const Pdu& p) {
  std::string out;
  put32(out, static_cast<uint32_t>(kHeaderSize + p.body.size()));
  put32(out, p.id);
  put32(out, p.status);
  put32(out, p.seq);
  return out + p.body;
}

long parse(std::string_view buf, Pdu& out) {
  if (buf.size() < 4) return 0;
  uint32_t len = get32(buf, 0);
  if (len < kHeaderSize || len > kMaxPdu) return -1;
  if (buf.size() < len) return 0;
  out.id = get32(buf, 4);
  out.status = get32(buf, 8);
  out.seq = get32(buf, 12);
  out.body.assign(buf.substr(kHeaderSize, len - kHeaderSize));
  return static_cast<long>(len);
}

std::string bind_body(const Bind& b) {
  std::string out;
  put_c(out, b.system_id);
  put_c(out, b.password);
  put_c(out, b.system_type);
  out += '\x34';  // interface_version 3.4
  out += '\0';    // addr_ton
  out += '\0';    // addr_npi
  put_c(out, "");  // address_range
  return out;
}

std::string submit_body(const Submit& s) {
  std::string out;
  put_c(out, s.service_type);
  out += static_cast<char>(s.source_ton);
  out += static_cast<char>(s.source_npi);
  put_c(out, s.source_addr);
  out += static_cast<char>(s.dest_ton);
  out += static_cast<char>(s.dest_npi);
  put_c(out, s.destination_addr);
  out += static_cast<char>(s.esm_class);
  out += '\0';     // protocol_id
  out += '\0';     // priority_flag
  put_c(out, "");  // schedule_delivery_time: now
  put_c(out, "");  // validity_period: the SMSC's default
  out += static_cast<char>(s.registered_delivery);
  out += '\0';  // replace_if_present_flag
  out += static_cast<char>(s.data_coding);
  out += '\0';  // sm_default_msg_id
  out += static_cast<char>(s.short_message.size());
  return out + s.short_message;
}

bool parse_deliver(std::string_view b, Deliver& d) {
  size_t pos = 0;
  std::string skip;
  uint8_t u8, len;
  if (!get_c(b, pos, skip) || !get8(b, pos, u8) || !get8(b, pos, u8) || !get_c(b, pos, d.source_addr) ||
      !get8(b, pos, u8) || !get8(b, pos, u8) || !get_c(b, pos, d.destination_addr) || !get8(b, pos, d.esm_class) ||
      !get8(b, pos, u8) || !get8(b, pos, u8) || !get_c(b, pos, skip) || !get_c(b, pos, skip) ||
      !get8(b, pos, u8) || !get8(b, pos, u8) || !get8(b, pos, d.data_coding) || !get8(b, pos, u8) ||
      !get8(b, pos, len))
    return false;
  if (pos + len > b.size()) return false;
  d.short_message.assign(b.substr(pos, len));
  pos += len;
  while (pos + 4 <= b.size()) {  // optional parameters (TLVs)
    unsigned tag = (static_cast<unsigned char>(b[pos]) << 8) | static_cast<unsigned char>(b[pos + 1]);
    size_t l = (static_cast<unsigned char>(b[pos + 2]) << 8) | static_cast<unsigned char>(b[pos + 3]);
    pos += 4;
    if (pos + l > b.size()) return false;
    std::string_view v = b.substr(pos, l);
    if (tag == 0x001E) d.receipted_message_id.assign(v.substr(0, v.find('\0')));
    if (tag == 0x0427 && l == 1) d.message_state = static_cast<unsigned char>(v[0]);
    pos += l;
  }
  return true;
}

std::string resp_message_id(std::string_view body) {
  return std::string(body.substr(0, body.find('\0')));
}

const char* status_name(uint32_t s) {
  switch (s) {
    case 0x00: return "ESME_ROK";
    case 0x01: return "ESME_RINVMSGLEN";
    case 0x02: return "ESME_RINVCMDLEN";
    case 0x03: return "ESME_RINVCMDID";
    case 0x04: return "ESME_RINVBNDSTS";
    case 0x05: return "ESME_RALYBND";
    case 0x08: return "ESME_RSYSERR";
    case 0x0A: return "ESME_RINVSRCADR";
    case 0x0B: return "ESME_RINVDSTADR";
    case 0x0D: return "ESME_RBINDFAIL";
    case 0x0E: return "ESME_RINVPASWD";
    case 0x0F: return "ESME_RINVSYSID";
    case 0x14: return "ESME_RMSGQFUL";
    case 0x45: return "ESME_RSUBMITFAIL";
    case 0x58: return "ESME_RTHROTTLED";
    case 0x64: return "ESME_RX_T_APPN";
    default: return "ESME_UNKNOWN";
  }
}

bool is_temporary(uint32_t s) {
  return s == kSystemError || s == kMessageQueueFull || s == kSubmitFailed || s == kThrottled ||
         s == kTemporaryAppError;
}

}  // namespace sluice::sms::smpp
