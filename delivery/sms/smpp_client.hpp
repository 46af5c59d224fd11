// SMPP 3.4 client (ESME) transport. One TCP session to the SMS centre,
// bound as transmitter, or as transceiver when delivery receipts are asked
// for (they arrive as deliver_sm on the same session and are logged).
// submit_sm go out in a window of outstanding requests; ESME_RTHROTTLED
// and the other temporary statuses are retried with a doubling pause that
// holds all sending; a dropped link or an unanswered request closes the
// session and the messages still open come back as temp (the drainer
// retries them; a new session is made with a doubling delay). An idle
// link is kept alive with enquire_link; shutdown sends unbind.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>
#include <string>

#include "common/fd.hpp"
#include "delivery/sms/smpp_pdu.hpp"
#include "delivery/sms/transport.hpp"

namespace sluice::sms {

// Shared by the two halves of the client (smpp_client.cpp, smpp_session.cpp).
std::string hex32(uint32_t v);    // "0x0000000E": command ids and statuses in logs

struct SmppOptions {
  std::string host;
  int port = 2775;
  smpp::Bind bind;
  std::string source_addr;
  int window = 10;
  int enquire_interval_ms = 30000;
  int timeout_ms = 10000;
  bool receipts = false;
  int throttle_backoff_ms = 1000;
  int max_tries = 6;  // per part, for temporary statuses within one send()
};

class SmppTransport : public Transport {
 public:
  explicit SmppTransport(SmppOptions o) : o_(std::move(o)) {}
  ~SmppTransport() override { drop(); }
  std::vector<Status> send(const std::vector<Message>& batch) override;
  void idle(int ms) override;
  void close() override;

 private:
  struct Part {
    size_t msg;
    smpp::Submit submit;
    int tries = 0;
  };
  struct Batch;

  SmppOptions o_;
  UniqueFd fd_;
  std::string inbuf_;
  uint32_t seq_ = 0;
  uint8_t ref_ = 0;
  bool interrupted_ = false;  // a signal cut a wait short: idle() returns
  long long next_connect_ms_ = 0, connect_backoff_ms_ = 0, last_io_ms_ = 0, enquire_sent_ms_ = 0;
  std::map<std::string, std::string> receipt_ids_;  // message_id -> queue id, for receipt lines

  bool ensure_bound(std::string& why);
  bool connect_tcp(std::string& why);
  bool bind(std::string& why);
  void drop();
  void schedule_reconnect();
  uint32_t next_seq();
  bool send_pdu(uint32_t id, uint32_t status, uint32_t seq, const std::string& body);
  // Reads one PDU within TIMEOUT_MS; 1 got one, 0 timed out, -1 link lost.
  int read_pdu(smpp::Pdu& p, int timeout_ms);
  // Answers what the SMSC asks of us (enquire_link, deliver_sm, unbind);
  // false when the session ended.
  bool serve_request(const smpp::Pdu& p);
  void log_receipt(const smpp::Deliver& d);
  std::deque<Part> parts_of(const std::vector<Message>& batch);
  void on_submit_resp(Batch& b, const smpp::Pdu& p);
  void pump(Batch& b);
};

}  // namespace sluice::sms
