#include "delivery/sms/transport.hpp"

#include "delivery/sms/http_transport.hpp"
#include "delivery/sms/smpp_client.hpp"

namespace sluice::sms {
namespace {

int ms(const Config& cfg, const char* key) {
  long long s = cfg.seconds(key);
  return static_cast<int>(s > 86400 ? 86400000 : s * 1000);
}

Result<std::unique_ptr<Transport>> make_smpp(const Config& cfg) {
  SmppOptions o;
  o.host = cfg.str("sms.smpp.host");
  if (o.host.empty()) return Status::perm("5.3.5", "sms.transport is smpp but sms.smpp.host is not set");
  long long port = cfg.integer("sms.smpp.port");
  if (port < 1 || port > 65535) return Status::perm("5.3.5", "sms.smpp.port must be 1-65535");
  o.port = static_cast<int>(port);
  o.bind = {cfg.str("sms.smpp.system_id"), cfg.str("sms.smpp.password"), cfg.str("sms.smpp.system_type")};
  // SMPP 3.4 5.2: system_id 16, password 9, system_type 13 octets with the NUL.
  if (o.bind.system_id.size() > 15 || o.bind.password.size() > 8 || o.bind.system_type.size() > 12)
    return Status::perm("5.3.5", "sms.smpp: system_id (15), password (8) or system_type (12) too long");
  o.source_addr = cfg.str("sms.source_addr");
  long long window = cfg.integer("sms.smpp.window");
  if (window < 1 || window > 1000) return Status::perm("5.3.5", "sms.smpp.window must be 1-1000");
  o.window = static_cast<int>(window);
  o.enquire_interval_ms = ms(cfg, "sms.smpp.enquire_interval");
  o.timeout_ms = ms(cfg, "sms.smpp.timeout");
  o.receipts = cfg.boolean("sms.smpp.receipts");
  o.throttle_backoff_ms = ms(cfg, "sms.smpp.throttle_backoff");
  if (o.enquire_interval_ms < 1000 || o.timeout_ms < 1000)
    return Status::perm("5.3.5", "sms.smpp.enquire_interval and sms.smpp.timeout must be at least 1s");
  return std::unique_ptr<Transport>(new SmppTransport(std::move(o)));
}

Result<std::unique_ptr<Transport>> make_http(const Config& cfg) {
  HttpOptions o;
  o.url = cfg.str("sms.http.url");
  if (o.url.empty()) return Status::perm("5.3.5", "sms.transport is http but sms.http.url is not set");
  o.headers = cfg.map("sms.http.headers");
  o.body = cfg.str("sms.http.body");
  o.source_addr = cfg.str("sms.source_addr");
  o.timeout_ms = ms(cfg, "sms.http.timeout");
  return std::unique_ptr<Transport>(new HttpTransport(std::move(o)));
}

}  // namespace

bool sms_configured(const Config& cfg) {
  return !cfg.str("sms.smpp.host").empty() || !cfg.str("sms.http.url").empty();
}

Result<std::unique_ptr<Transport>> make_transport(const Config& cfg) {
  std::string t = cfg.str("sms.transport");
  if (t == "smpp") return make_smpp(cfg);
  if (t == "http") return make_http(cfg);
  return Status::perm("5.3.5", "sms.transport must be smpp or http, not \"" + t + "\"");
}

}  // namespace sluice::sms
