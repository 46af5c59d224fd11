#include "delivery/sms/http_transport.hpp"

#include <curl/curl.h>
#include <poll.h>

#include <cstdio>

#include "common/log.hpp"

namespace sluice::sms {
namespace {

size_t collect(char* p, size_t size, size_t n, void* out) {
  auto* s = static_cast<std::string*>(out);
  if (s->size() < 4096) s->append(p, size * n);  // enough for a log line
  return size * n;
}

std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s.size() > 200 ? s.substr(0, 200) : s;
}

}  // namespace

std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string render_body(const std::string& tmpl, const Message& m, const std::string& from) {
  std::string digits = !m.to.empty() && m.to[0] == '+' ? m.to.substr(1) : m.to;
  const std::pair<const char*, std::string> vars[] = {
      {"{to}", m.to}, {"{to_digits}", digits}, {"{text}", m.text.text}, {"{from}", from}, {"{id}", m.id}};
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    bool done = false;
    for (const auto& [name, value] : vars) {
      if (tmpl.compare(i, std::char_traits<char>::length(name), name) == 0) {
        out += json_escape(value);
        i += std::char_traits<char>::length(name);
        done = true;
        break;
      }
    }
    if (!done) out += tmpl[i++];
  }
  return out;
}

HttpTransport::HttpTransport(HttpOptions o) : o_(std::move(o)) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

HttpTransport::~HttpTransport() { close(); }

Status HttpTransport::post(const Message& m) {
  if (!curl_) curl_ = curl_easy_init();
  CURL* c = static_cast<CURL*>(curl_);
  if (!c) return Status::temp("4.3.0", "libcurl: cannot make a handle");
  std::string body = render_body(o_.body, m, o_.source_addr), answer;
  struct curl_slist* hdrs = curl_slist_append(nullptr, "Content-Type: application/json");
  for (const auto& [k, v] : o_.headers) hdrs = curl_slist_append(hdrs, (k + ": " + v).c_str());
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, o_.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o_.timeout_ms));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(hdrs);
  if (rc != CURLE_OK) return Status::temp("4.4.1", std::string("HTTP gateway: ") + curl_easy_strerror(rc));
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  std::string what = "HTTP " + std::to_string(code) + " " + one_line(answer);
  if (code >= 200 && code < 300) return Status::ok(what);
  if (code == 408 || code == 429 || code >= 500) return Status::temp("4.4.0", "gateway: " + what);
  return Status::perm("5.4.0", "gateway refused: " + what);
}

std::vector<Status> HttpTransport::send(const std::vector<Message>& batch) {
  std::vector<Status> out;
  for (const auto& m : batch) out.push_back(post(m));
  return out;
}

void HttpTransport::idle(int ms) { ::poll(nullptr, 0, ms); }

void HttpTransport::close() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
  curl_ = nullptr;
}

}  // namespace sluice::sms
