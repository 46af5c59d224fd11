// HTTP gateway transport: one POST per notice (libcurl, connection kept
// alive between them) to sms.http.url with the headers of sms.http.headers
// and a JSON body made from the sms.http.body template. A 2xx answer is
// acceptance; 408, 429, 5xx and network errors are temporary; any other
// answer is a permanent refusal. The gateway splits long texts itself, so
// it gets the whole (trimmed) text.
#pragma once
#include <map>
#include <string>

#include "delivery/sms/transport.hpp"

namespace sluice::sms {

struct HttpOptions {
  std::string url;
  std::map<std::string, std::string> headers;
  std::string body;  // template
  std::string source_addr;
  int timeout_ms = 10000;
};

// TEMPLATE with {to} {to_digits} {text} {from} {id} replaced by the JSON
// string escapes of their values (the template supplies the quotes).
std::string render_body(const std::string& tmpl, const Message& m, const std::string& from);
std::string json_escape(const std::string& s);

class HttpTransport : public Transport {
 public:
  explicit HttpTransport(HttpOptions o);
  ~HttpTransport() override;
  std::vector<Status> send(const std::vector<Message>& batch) override;
  void idle(int ms) override;
  void close() override;

 private:
  HttpOptions o_;
  void* curl_ = nullptr;  // CURL*, kept for connection reuse
  Status post(const Message& m);
};

}  // namespace sluice::sms
