// One mail transaction over an open session (RFC 5321 3.3), with
// PIPELINING (RFC 2920), SIZE (1870), 8BITMIME (6152), SMTPUTF8 (6531),
// DSN (3461) and CHUNKING (3030).
#include "common/log.hpp"
#include "delivery/remote/message.hpp"
#include "delivery/remote/remote.hpp"

namespace sluice::remote {
namespace {

using deliver::RcptResult;

Status from_reply(const Reply& r, const Session& s, const std::string& stage) {
  if (r.code == 0) return Status::temp("4.4.2", "lost connection with " + s.where() + " " + stage + ": " + r.text);
  if (r.digit() == '2') return Status::ok(r.text, r.enhanced());
  if (r.digit() == '5') return Status::perm(r.enhanced(), r.text);
  return Status::temp(r.enhanced(), r.text);
}

std::string param_of(const deliver::Job& j, const std::string& k) {
  auto it = j.params.find(k);
  return it == j.params.end() ? "" : it->second;
}

std::string mail_command(const Session& s, const Envelope& env, size_t size, bool eightbit, bool utf8) {
  const auto& j = *env.job;
  std::string cmd = "MAIL FROM:<" + j.sender + ">";
  if (s.ext.size) cmd += " SIZE=" + std::to_string(size);
  if (eightbit && s.ext.eightbit) cmd += " BODY=8BITMIME";
  if (utf8) cmd += " SMTPUTF8";
  if (s.ext.dsn) {
    if (auto ret = param_of(j, "ret"); !ret.empty()) cmd += " RET=" + ret;
    if (auto envid = param_of(j, "envid"); !envid.empty()) cmd += " ENVID=" + deliver::xtext_encode(envid);
  }
  return cmd;
}

std::string rcpt_command(const Session& s, const deliver::Recipient& r) {
  std::string cmd = "RCPT TO:<" + r.address + ">";
  if (s.ext.dsn) {
    if (!r.notify.empty()) cmd += " NOTIFY=" + r.notify;
    if (!r.orcpt.empty()) {
      // Stored as "rfc822;addr"; on the wire the address is xtext (RFC 3461 4.2).
      auto semi = r.orcpt.find(';');
      if (semi != std::string::npos)
        cmd += " ORCPT=" + r.orcpt.substr(0, semi) + ";" + deliver::xtext_encode(r.orcpt.substr(semi + 1));
    }
  }
  return cmd;
}

std::vector<RcptResult> all(const Envelope& env, const Status& st, const std::string& mta) {
  std::vector<RcptResult> out;
  for (auto* r : env.rcpts) out.push_back(RcptResult{r->index, st, mta, ""});
  return out;
}

bool wants_success(const std::string& notify) { return notify.find("SUCCESS") != std::string::npos; }

// The message body phase: DATA or BDAT; the final reply.
Reply send_body(Session& s, const Options& o, const std::string& body, bool data_pipelined) {
  Conn& c = *s.conn;
  if (s.ext.chunking) {
    std::string framed = frame(body, false);
    std::string cmd = "BDAT " + std::to_string(framed.size()) + " LAST\r\n";
    if (!c.write(cmd, o.t_data_block) || !c.write(framed, o.t_data_block)) return Reply{0, c.error(), ""};
    return c.read_reply(o.t_data_done);
  }
  if (!data_pipelined && !c.write("DATA\r\n", o.t_data_init)) return Reply{0, c.error(), ""};
  Reply r = c.read_reply(o.t_data_init);
  if (r.code != 354) return r;
  if (!c.write(frame(body, true) + ".\r\n", o.t_data_block)) return Reply{0, c.error(), ""};
  return c.read_reply(o.t_data_done);
}

}  // namespace

bool needs_smtputf8(const deliver::Job& job, const std::vector<const deliver::Recipient*>& rcpts,
                    const std::string& msg) {
  if (has_8bit(job.sender)) return true;
  for (auto* r : rcpts)
    if (has_8bit(r->address)) return true;
  return param_of(job, "smtputf8") == "1" && has_8bit(header_of(msg));
}

// Refusals of our own (SMTPUTF8, 8BITMIME, SIZE) carry no remote MTA, so
// the bounce does not present our text as the peer's reply.
std::vector<RcptResult> transact(Session& s, const Options& o, const Envelope& env, const std::string& msg) {
  const std::string& mta = s.host;
  bool utf8 = needs_smtputf8(*env.job, env.rcpts, msg);
  if (utf8 && !s.ext.smtputf8)
    return all(env, Status::perm("5.6.7", "SMTPUTF8 is required, but was not offered by host " + s.where()), "");
  bool eightbit = has_8bit(msg);
  std::string converted;
  const std::string* body = &msg;
  if (eightbit && !s.ext.eightbit) {
    auto c = downgrade_8bit(msg);
    if (!c) return all(env, c.error(), "");
    converted = std::move(*c);
    body = &converted;
  }
  size_t size = body->size() + body->size() / 40;  // LF -> CRLF, roughly
  if (s.ext.size && static_cast<long long>(body->size()) > s.ext.size)
    return all(env,
               Status::perm("5.3.4", "message size " + std::to_string(body->size()) + " exceeds size limit " +
                                         std::to_string(s.ext.size) + " of server " + s.where()),
               "");
  Conn& c = *s.conn;
  std::string mail = mail_command(s, env, size, eightbit && !converted.size(), utf8) + "\r\n";
  std::string rcpts;
  for (auto* r : env.rcpts) rcpts += rcpt_command(s, *r) + "\r\n";
  bool pipe = s.ext.pipelining;
  bool data_pipelined = pipe && !s.ext.chunking;
  // With PIPELINING, MAIL, every RCPT and DATA go in one write (RFC 2920 3.1).
  if (!c.write(pipe ? mail + rcpts + (data_pipelined ? "DATA\r\n" : "") : mail, o.t_mail)) {
    s.conn.reset();
    return all(env, Status::temp("4.4.2", "lost connection with " + s.where() + " sending MAIL: " + c.error()), mta);
  }
  Reply mr = c.read_reply(o.t_mail);
  std::vector<RcptResult> out;
  size_t accepted = 0;
  for (size_t i = 0; i < env.rcpts.size(); i++) {
    if (!pipe && mr.digit() == '2' && !c.write(rcpt_command(s, *env.rcpts[i]) + "\r\n", o.t_rcpt))
      mr = Reply{0, c.error(), ""};
    Reply rr = (pipe || mr.digit() == '2') && mr.code ? c.read_reply(o.t_rcpt) : mr;
    Status st = mr.digit() != '2' ? from_reply(mr, s, "after MAIL FROM") : from_reply(rr, s, "after RCPT TO");
    if (st.is_ok()) accepted++;
    out.push_back(RcptResult{env.rcpts[i]->index, st, mta, ""});
    if (rr.code == 0) mr = rr;  // the connection is gone: the rest fail alike
  }
  if (mr.code == 0) {
    s.conn.reset();
    for (auto& r : out)
      if (r.status.is_ok()) r.status = from_reply(mr, s, "after RCPT TO");
    return out;
  }
  if (accepted == 0) {
    if (data_pipelined) {
      Reply dr = c.read_reply(o.t_data_init);  // 554 no valid recipients, normally
      if (dr.code == 354) {  // RFC 2920 3.1: send an empty message, then forget it
        c.write(".\r\n", o.t_data_block);
        c.read_reply(o.t_data_done);
      }
      if (dr.code == 0) s.conn.reset();
    }
    return out;
  }
  Reply fr = send_body(s, o, *body, data_pipelined);
  Status final = from_reply(fr, s, "after end of data");
  if (fr.code == 0) s.conn.reset();
  for (size_t i = 0; i < out.size(); i++) {
    if (!out[i].status.is_ok()) continue;
    out[i].status = final;
    const auto& notify = env.rcpts[i]->notify;
    if (final.is_ok()) {
      if (s.ext.dsn && !notify.empty()) out[i].action = "notify_passed";
      else if (!s.ext.dsn && wants_success(notify)) out[i].action = "relayed";
    }
  }
  s.messages++;
  return out;
}

}  // namespace sluice::remote
