// The SMPP session's traffic: the window of submit_sm, responses and
// retries, requests from the SMSC (receipts, enquire_link, unbind), the
// idle keep-alive and the unbind at shutdown. Connecting and binding are
// in smpp_client.cpp.
#include <poll.h>

#include <algorithm>
#include <ctime>

#include "common/date.hpp"
#include "common/log.hpp"
#include "delivery/sms/encode.hpp"
#include "delivery/sms/smpp_client.hpp"

namespace sluice::sms {
namespace {

void set_source(smpp::Submit& s, const std::string& src) {
  std::string digits = !src.empty() && src[0] == '+' ? src.substr(1) : src;
  bool numeric =
      !digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  // A sender of digits is a number (TON 1, NPI 1); anything else an
  // alphanumeric sender id (TON 5, NPI 0).
  s.source_addr = numeric ? digits : src;
  s.source_ton = src.empty() ? 0 : numeric ? 1 : 5;
  s.source_npi = numeric ? 1 : 0;
}

}  // namespace

struct SmppTransport::Batch {
  std::deque<Part> pending;
  std::map<uint32_t, std::pair<Part, long long>> outstanding;  // seq -> part, sent at
  std::vector<std::optional<Status>> final;                    // failed before every part was accepted
  std::vector<int> left;                                       // parts not accepted yet
  std::vector<std::string> ids;                                // message ids the SMSC gave
  long long pause_until = 0;
  bool lost = false;
  std::string why = "not sent";
};

std::deque<SmppTransport::Part> SmppTransport::parts_of(const std::vector<Message>& batch) {
  std::deque<Part> out;
  for (size_t i = 0; i < batch.size(); i++) {
    const auto& parts = batch[i].text.parts;
    uint8_t ref = ++ref_;
    for (size_t k = 0; k < parts.size(); k++) {
      Part p{i, {}, 0};
      set_source(p.submit, o_.source_addr);
      // E.164 goes out as TON 1 (international), NPI 1 (ISDN), no "+".
      const std::string& to = batch[i].to;
      p.submit.destination_addr = !to.empty() && to[0] == '+' ? to.substr(1) : to;
      p.submit.data_coding = batch[i].text.data_coding;
      p.submit.registered_delivery = o_.receipts ? 1 : 0;
      if (parts.size() == 1) {
        p.submit.short_message = parts[k];
      } else {
        p.submit.esm_class = 0x40;  // UDHI: short_message starts with a UDH
        p.submit.short_message = with_udh(parts[k], ref, static_cast<int>(parts.size()), static_cast<int>(k + 1));
      }
      out.push_back(std::move(p));
    }
  }
  return out;
}

void SmppTransport::on_submit_resp(Batch& b, const smpp::Pdu& p) {
  auto it = b.outstanding.find(p.seq);
  if (it == b.outstanding.end()) return;  // a late answer to an earlier session's request
  Part part = std::move(it->second.first);
  b.outstanding.erase(it);
  if (p.status == smpp::kOk) {
    b.left[part.msg]--;
    b.ids[part.msg] += (b.ids[part.msg].empty() ? "" : ",") + smpp::resp_message_id(p.body);
    return;
  }
  std::string what = std::string(smpp::status_name(p.status)) + " (" + hex32(p.status) + ")";
  if (smpp::is_temporary(p.status) && ++part.tries < o_.max_tries) {
    // Throttling is about the whole link: hold every submit, not only this one.
    long long delay = std::min(static_cast<long long>(o_.throttle_backoff_ms) << (part.tries - 1), 60000LL);
    b.pause_until = std::max(b.pause_until, monotonic_ms() + delay);
    log::info({{"event", "smpp_retry"}, {"status", what}, {"delay_ms", std::to_string(delay)}});
    b.pending.push_front(std::move(part));
    return;
  }
  if (!b.final[part.msg])
    b.final[part.msg] = smpp::is_temporary(p.status) ? Status::temp("4.4.0", "SMSC: " + what)
                                                     : Status::perm("5.4.0", "SMSC refused: " + what);
}

void SmppTransport::pump(Batch& b) {
  while (!b.lost && (!b.pending.empty() || !b.outstanding.empty())) {
    long long now = monotonic_ms();
    while (static_cast<int>(b.outstanding.size()) < o_.window && !b.pending.empty() && now >= b.pause_until) {
      Part p = std::move(b.pending.front());
      b.pending.pop_front();
      if (b.final[p.msg]) continue;  // the message failed already: spare the rest of it
      uint32_t seq = next_seq();
      if (!send_pdu(smpp::kSubmitSm, 0, seq, smpp::submit_body(p.submit))) {
        b.lost = true, b.why = "SMPP link lost while sending";
        break;
      }
      b.outstanding.emplace(seq, std::make_pair(std::move(p), now));
    }
    if (b.lost || (b.pending.empty() && b.outstanding.empty())) break;
    long long wait = o_.timeout_ms;
    if (!b.pending.empty() && static_cast<int>(b.outstanding.size()) < o_.window)
      wait = std::max(1LL, b.pause_until - now);
    for (const auto& [seq, o] : b.outstanding) wait = std::min(wait, o.second + o_.timeout_ms - now);
    if (wait <= 0) {
      b.lost = true, b.why = "no submit_sm_resp within sms.smpp.timeout";
      break;
    }
    smpp::Pdu pdu;
    int r = read_pdu(pdu, static_cast<int>(wait));
    if (r < 0) b.lost = true, b.why = "SMPP link lost";
    if (r <= 0) continue;
    if (pdu.id == (smpp::kSubmitSm | smpp::kResp) || pdu.id == smpp::kGenericNack) on_submit_resp(b, pdu);
    else if (pdu.id == (smpp::kEnquireLink | smpp::kResp)) enquire_sent_ms_ = 0;
    else if (!(pdu.id & smpp::kResp) && !serve_request(pdu)) b.lost = true, b.why = "SMSC ended the session";
  }
}

std::vector<Status> SmppTransport::send(const std::vector<Message>& batch) {
  std::vector<Status> out(batch.size());
  if (batch.empty()) return out;
  std::string why;
  if (!ensure_bound(why)) {
    for (auto& s : out) s = Status::temp("4.4.1", why);
    return out;
  }
  Batch b;
  b.pending = parts_of(batch);
  b.final.resize(batch.size());
  b.ids.resize(batch.size());
  for (size_t i = 0; i < batch.size(); i++) b.left.push_back(static_cast<int>(batch[i].text.parts.size()));
  pump(b);
  if (b.lost) {
    log::warn({{"event", "smpp_link_lost"}, {"host", o_.host}, {"error", b.why}});
    drop();
    schedule_reconnect();
  }
  for (size_t i = 0; i < batch.size(); i++) {
    if (b.final[i]) out[i] = *b.final[i];
    else if (b.left[i] == 0) out[i] = Status::ok("message_id=" + b.ids[i]);
    else out[i] = Status::temp("4.4.2", b.why);
    if (out[i].is_ok() && o_.receipts) {
      if (receipt_ids_.size() > 10000) receipt_ids_.clear();  // bounded: receipts may never come
      for (size_t a = 0, e; a <= b.ids[i].size(); a = e + 1) {
        e = b.ids[i].find(',', a);
        if (e == std::string::npos) e = b.ids[i].size();
        receipt_ids_[b.ids[i].substr(a, e - a)] = batch[i].id;
      }
    }
  }
  return out;
}

bool SmppTransport::serve_request(const smpp::Pdu& p) {
  switch (p.id) {
    case smpp::kEnquireLink: return send_pdu(p.id | smpp::kResp, 0, p.seq, "");
    case smpp::kDeliverSm: {
      smpp::Deliver d;
      bool ok = smpp::parse_deliver(p.body, d);
      // deliver_sm_resp: message_id is unused, an empty C-octet string.
      if (!send_pdu(p.id | smpp::kResp, ok ? 0u : static_cast<uint32_t>(smpp::kInvalidCommandLength), p.seq, std::string(1, '\0')))
        return false;
      if (ok && (d.esm_class & 0x3C) == 0x04) log_receipt(d);
      else if (ok) log::info({{"event", "smpp_deliver_sm_ignored"}, {"from", d.source_addr}});
      return true;
    }
    case smpp::kUnbind:
      send_pdu(p.id | smpp::kResp, 0, p.seq, "");
      log::warn({{"event", "smpp_unbound_by_smsc"}, {"host", o_.host}});
      return false;
    default: return send_pdu(smpp::kGenericNack, smpp::kInvalidCommandId, p.seq, "");
  }
}

// SMPP 3.4 Appendix B text: "id:X sub:001 dlvr:001 submit date:... stat:DELIVRD err:000 text:..."
void SmppTransport::log_receipt(const smpp::Deliver& d) {
  // Some SMSCs send the receipt in UCS-2 when the quoted text needs it; its
  // keys are ASCII, so the low octets of each unit are enough to read them.
  std::string text = d.short_message;
  if (d.data_coding == kDataCodingUcs2) {
    text.clear();
    for (size_t i = 1; i < d.short_message.size(); i += 2)
      text += d.short_message[i - 1] == 0 ? d.short_message[i] : '?';
  }
  auto field = [&](const std::string& key) {
    auto at = text.find(key + ":");
    if (at == std::string::npos) return std::string();
    at += key.size() + 1;
    return text.substr(at, text.find(' ', at) - at);
  };
  std::string id = d.receipted_message_id.empty() ? field("id") : d.receipted_message_id;
  auto q = receipt_ids_.find(id);
  std::string qid = q == receipt_ids_.end() ? "" : q->second;
  if (q != receipt_ids_.end()) receipt_ids_.erase(q);
  log::info({{"event", "sms_receipt"}, {"qid", qid}, {"message_id", id}, {"stat", field("stat")},
             {"err", field("err")}, {"phone", "+" + d.source_addr}});
}

void SmppTransport::idle(int ms) {
  interrupted_ = false;
  long long deadline = monotonic_ms() + ms;
  if (!fd_ && o_.receipts && monotonic_ms() >= next_connect_ms_) {
    std::string why;
    ensure_bound(why);  // receipts need a bound session even with nothing to send
  }
  if (!fd_) {
    ::poll(nullptr, 0, ms);
    return;
  }
  while (fd_ && monotonic_ms() < deadline && !interrupted_) {
    long long now = monotonic_ms();
    if (!enquire_sent_ms_ && now - last_io_ms_ >= o_.enquire_interval_ms) {
      if (!send_pdu(smpp::kEnquireLink, 0, next_seq(), "")) break;
      enquire_sent_ms_ = now;
    }
    if (enquire_sent_ms_ && now - enquire_sent_ms_ > o_.timeout_ms) {
      log::warn({{"event", "smpp_link_dead"}, {"host", o_.host}, {"error", "no enquire_link_resp"}});
      break;
    }
    long long wait = deadline - now;
    if (!enquire_sent_ms_) wait = std::min(wait, last_io_ms_ + o_.enquire_interval_ms - now);
    else wait = std::min(wait, enquire_sent_ms_ + o_.timeout_ms + 1 - now);
    smpp::Pdu p;
    int r = read_pdu(p, static_cast<int>(std::max(wait, 1LL)));
    if (r < 0) {
      log::warn({{"event", "smpp_link_lost"}, {"host", o_.host}});
      break;
    }
    if (r == 0) continue;
    if (p.id == (smpp::kEnquireLink | smpp::kResp)) enquire_sent_ms_ = 0;
    else if (!(p.id & smpp::kResp) && !serve_request(p)) break;
  }
  if (fd_ && monotonic_ms() < deadline && !interrupted_) {  // left the loop on a dead link
    drop();
    schedule_reconnect();
  }
}

void SmppTransport::close() {
  if (!fd_) return;
  uint32_t seq = next_seq();
  if (send_pdu(smpp::kUnbind, 0, seq, "")) {
    long long deadline = monotonic_ms() + std::min(o_.timeout_ms, 3000);
    smpp::Pdu p;
    while (monotonic_ms() < deadline) {
      int r = read_pdu(p, static_cast<int>(deadline - monotonic_ms()));
      if (r < 0 || (r > 0 && p.id == (smpp::kUnbind | smpp::kResp) && p.seq == seq)) break;
    }
    log::info({{"event", "smpp_unbind"}, {"host", o_.host}});
  }
  drop();
}

}  // namespace sluice::sms
