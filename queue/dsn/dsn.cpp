// RFC 3464 / RFC 6522 report composition. Values that come from outside
// (diagnostics of remote servers, addresses) are made single-line before
// they become header fields, so a hostile reply cannot forge fields.
#include "queue/dsn/dsn.hpp"

#include <openssl/rand.h>

#include <ctime>

namespace sluice::dsn {

namespace {

bool has_8bit(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return true;
  return false;
}

// Control characters (CR, LF, ...) become spaces: one field, one line.
std::string one_line(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) out += (c < 32 || c == 127) ? ' ' : char(c);
  return out;
}

// "Name: value", folded at spaces so lines stay near 78 octets.
std::string field(std::string_view name, std::string_view value) {
  std::string v = one_line(value);
  std::string out(name);
  out += ": ";
  std::size_t col = out.size();
  std::size_t i = 0;
  while (i < v.size()) {
    std::size_t sp = v.find(' ', i + 1);
    std::size_t end = sp == std::string::npos ? v.size() : sp;
    if (col + (end - i) > 78 && col > name.size() + 2 && v[i] == ' ') {
      out += "\n ";  // fold before the space-led word (the space stays)
      col = 1;
      ++i;
    }
    out.append(v, i, end - i);
    col += end - i;
    i = end;
  }
  return out + "\n";
}

std::string random_hex(std::size_t bytes) {
  unsigned char buf[32];
  if (bytes > sizeof buf) bytes = sizeof buf;
  if (RAND_bytes(buf, int(bytes)) != 1) {
    // Not a secret; uniqueness only needs to differ from the content.
    for (std::size_t i = 0; i < bytes; ++i) buf[i] = (unsigned char)(std::rand());
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) {
    out += hex[buf[i] >> 4];
    out += hex[buf[i] & 15];
  }
  return out;
}

// The original's header block: up to (not including) the first empty line.
std::string_view header_block(std::string_view msg) {
  if (msg.substr(0, 1) == "\n") return {};
  auto p = msg.find("\n\n");
  return p == std::string_view::npos ? msg : msg.substr(0, p + 1);
}

const char* subject_for(const Report& r) {
  bool failed = false, delayed = false;
  for (const auto& x : r.rcpts) {
    failed |= x.action == Action::failed;
    delayed |= x.action == Action::delayed;
  }
  if (failed) return "Undelivered Mail Returned to Sender";
  if (delayed) return "Delayed Mail (still being retried)";
  return "Successful Mail Delivery Report";
}

// Human reason for one recipient.
std::string reason(const RcptReport& x) {
  std::string why;
  if (!x.diagnostic.empty()) {
    std::string_view d = x.diagnostic;
    auto semi = d.find(';');
    if (semi != std::string_view::npos && d.substr(0, semi).find(' ') == std::string_view::npos)
      d = d.substr(semi + 1);
    while (!d.empty() && d[0] == ' ') d.remove_prefix(1);
    why = x.remote_mta.empty() ? std::string(d) : "host " + x.remote_mta + " said: " + std::string(d);
  } else {
    why = x.status.text.empty() ? std::string(action_name(x.action)) : x.status.text;
  }
  return one_line(why);
}

std::string human_part(const Report& r) {
  bool failed = false, delayed = false, good = false;
  for (const auto& x : r.rcpts) {
    failed |= x.action == Action::failed;
    delayed |= x.action == Action::delayed;
    good |= x.action == Action::delivered || x.action == Action::relayed || x.action == Action::expanded;
  }
  std::string t = "This is the mail system at host " + one_line(r.reporting_mta) + ".\n\n";
  if (failed)
    t += "I'm sorry to have to inform you that your message could not\n"
         "be delivered to one or more recipients. It's attached below.\n\n"
         "For further assistance, please send mail to postmaster.\n\n"
         "If you do so, please include this problem report. You can\n"
         "delete your own text from the attached returned message.\n\n";
  if (delayed)
    t += "Your message could not be delivered yet to one or more\n"
         "recipients. The mail system will keep trying; you do not\n"
         "need to resend it.\n\n";
  if (good)
    t += "Your message was successfully delivered to the destination(s)\n"
         "listed below. If the message was delivered to a mailbox you will\n"
         "receive no further notifications.\n\n";
  t += "                   The mail system\n\n";
  for (const auto& x : r.rcpts)
    t += "<" + one_line(x.final_recipient) + ">: " + action_name(x.action) + ": " + reason(x) + "\n";
  return t;
}

// "rfc822; a@b" (or "utf-8; ..." for a non-ASCII address, RFC 6533).
std::string addr_type(std::string_view a) {
  return (has_8bit(a) ? "utf-8; " : "rfc822; ") + one_line(a);
}

std::string status_part(const Report& r) {
  std::string t = field("Reporting-MTA", "dns; " + r.reporting_mta);
  if (!r.qid.empty()) t += field("X-Sluice-Queue-ID", r.qid);
  if (!r.original_sender.empty()) t += field("X-Sluice-Sender", addr_type(r.original_sender));
  if (!r.envid.empty()) t += field("Original-Envelope-Id", r.envid);
  if (r.arrival) t += field("Arrival-Date", rfc5322_date(r.arrival));
  for (const auto& x : r.rcpts) {
    t += "\n";
    if (!x.original_recipient.empty()) {
      std::string o = x.original_recipient;
      if (o.find(';') == std::string::npos) o = "rfc822; " + o;
      t += field("Original-Recipient", o);
    }
    t += field("Final-Recipient", addr_type(x.final_recipient));
    t += field("Action", action_name(x.action));
    t += field("Status", x.status.enhanced);
    if (!x.remote_mta.empty()) t += field("Remote-MTA", "dns; " + x.remote_mta);
    if (!x.diagnostic.empty()) t += field("Diagnostic-Code", x.diagnostic);
    else if (!x.status.text.empty()) t += field("Diagnostic-Code", "x-sluice; " + x.status.text);
    if (x.last_attempt) t += field("Last-Attempt-Date", rfc5322_date(x.last_attempt));
  }
  return t;
}

// Whether part 3 carries the whole original.
bool return_full(const Report& r, std::size_t size, std::size_t limit) {
  if (size > limit) return false;
  if (r.ret == "FULL") return true;
  if (r.ret == "HDRS") return false;
  for (const auto& x : r.rcpts)
    if (x.action == Action::failed) return true;
  return false;
}

}  // namespace

const char* action_name(Action a) {
  switch (a) {
    case Action::failed: return "failed";
    case Action::delayed: return "delayed";
    case Action::delivered: return "delivered";
    case Action::relayed: return "relayed";
    case Action::expanded: return "expanded";
  }
  return "failed";
}

std::string compose(const Report& r, std::string_view original, std::size_t return_limit) {
  const long long now = r.date ? r.date : (long long)time(nullptr);
  const bool full = return_full(r, original.size(), return_limit);
  const std::string_view third = full ? original : header_block(original);
  const std::string human = human_part(r), status = status_part(r);
  bool global = false;
  for (const auto& x : r.rcpts) global |= has_8bit(x.final_recipient) || has_8bit(x.original_recipient);

  // A boundary that occurs nowhere in what it separates.
  std::string boundary;
  do {
    boundary = "=_sluice_" + one_line(r.qid) + "_" + random_hex(12);
  } while (third.find(boundary) != std::string_view::npos || human.find(boundary) != std::string::npos ||
           status.find(boundary) != std::string::npos);

  std::string m;
  m.reserve(third.size() + human.size() + status.size() + 2048);
  m += field("From", "\"Mail Delivery System\" <MAILER-DAEMON@" + r.reporting_mta + ">");
  m += field("To", r.to);
  m += field("Subject", subject_for(r));
  m += field("Date", rfc5322_date(now));
  m += field("Message-ID", "<" + std::to_string(now) + "." + random_hex(8) + "." + r.qid + "@" +
                               r.reporting_mta + ">");
  m += "MIME-Version: 1.0\n";
  m += "Auto-Submitted: auto-replied\n";
  m += "Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"" + boundary + "\"\n";
  m += "Content-Transfer-Encoding: " + std::string(has_8bit(human) || has_8bit(status) || has_8bit(third) ? "8bit" : "7bit") + "\n";
  m += "\nThis is a MIME-encapsulated message.\n\n";

  m += "--" + boundary + "\n";
  m += "Content-Description: Notification\n";
  m += "Content-Type: text/plain; charset=utf-8\n";
  m += std::string("Content-Transfer-Encoding: ") + (has_8bit(human) ? "8bit" : "7bit") + "\n\n";
  m += human;

  m += "\n--" + boundary + "\n";
  m += "Content-Description: Delivery report\n";
  m += std::string("Content-Type: ") + (global ? "message/global-delivery-status" : "message/delivery-status") + "\n";
  if (has_8bit(status)) m += "Content-Transfer-Encoding: 8bit\n";
  m += "\n" + status;

  m += "\n--" + boundary + "\n";
  const bool failed = std::string_view(subject_for(r)).substr(0, 3) == "Und";
  if (full) {
    m += std::string("Content-Description: ") + (failed ? "Undelivered Message" : "Message") + "\n";
    m += "Content-Type: message/rfc822\n";
  } else {
    m += std::string("Content-Description: ") + (failed ? "Undelivered Message Headers" : "Message Headers") + "\n";
    m += "Content-Type: text/rfc822-headers\n";
  }
  if (has_8bit(third)) m += "Content-Transfer-Encoding: 8bit\n";
  m += "\n";
  m.append(third);
  if (!third.empty() && third.back() != '\n') m += "\n";
  m += "\n--" + boundary + "--\n";
  return m;
}

}  // namespace sluice::dsn
