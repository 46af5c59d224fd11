// The one small interface between the spool drainer and a protocol. A
// transport takes a batch of notices and says, per notice, whether the
// SMS centre or gateway accepted all of it (ok), may accept it later
// (temp) or never will (perm). SMPP (smpp_client.cpp) and HTTP
// (http_transport.cpp) implement it; another protocol (CMPP 2.0, SGIP 1.2)
// is one more file and one more line in make_transport().
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/status.hpp"
#include "delivery/sms/split.hpp"

namespace sluice::sms {

struct Message {
  std::string id;  // for logs: the mail's queue id (or "manual")
  std::string to;  // E.164, "+8613800138000"
  Encoded text;    // already split for SMPP; .text for gateways
};

class Transport {
 public:
  virtual ~Transport() = default;
  // One Status per message of BATCH, in order. ok's text names what the
  // far end returned (message ids).
  virtual std::vector<Status> send(const std::vector<Message>& batch) = 0;
  // Nothing to send: serve the link (keep-alive, receipts) for up to MS
  // milliseconds; returns early when a signal arrives.
  virtual void idle(int ms) = 0;
  // Shutdown: end the session politely (SMPP unbind).
  virtual void close() = 0;
};

// The transport sms.transport names, configured from CFG; an error when
// the name is unknown or its required keys are missing.
Result<std::unique_ptr<Transport>> make_transport(const Config& cfg);

// Whether CFG asks for SMS at all (sms.smpp.host or sms.http.url set).
bool sms_configured(const Config& cfg);

}  // namespace sluice::sms
