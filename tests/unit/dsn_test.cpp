#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>

#include "queue/dsn/dsn.hpp"

using namespace sluice;
using namespace sluice::dsn;

namespace {

const char* kOriginal =
    "From: alice@example.test\n"
    "To: nobody@example.test\n"
    "Subject: hello\n"
    "Message-ID: <m1@example.test>\n"
    "\n"
    "Body line one.\n"
    "--=_sluice_looks_like_a_boundary\n";

Report failed_report() {
  Report r;
  r.reporting_mta = "mx.example.test";
  r.original_sender = "alice@example.test";
  r.to = "alice@example.test";
  r.qid = "Q123";
  r.arrival = 1700000000;
  r.date = 1700000100;
  RcptReport a;
  a.final_recipient = "nobody@example.test";
  a.original_recipient = "rfc822;Nobody@example.test";
  a.action = Action::failed;
  a.status = Status::perm("5.1.1", "no such user");
  a.last_attempt = 1700000050;
  RcptReport b;
  b.final_recipient = "far@remote.test";
  b.action = Action::failed;
  b.status = Status::perm("5.7.1", "refused");
  b.remote_mta = "mx.remote.test";
  b.diagnostic = "smtp; 550 5.7.1 go away\r\nInjected: header";
  r.rcpts = {a, b};
  return r;
}

std::string boundary_of(const std::string& m) {
  auto p = m.find("boundary=\"");
  REQUIRE(p != std::string::npos);
  p += 10;
  return m.substr(p, m.find('"', p) - p);
}

bool has(const std::string& m, std::string_view s) { return m.find(s) != std::string::npos; }

}  // namespace

TEST_CASE("dsn: failure report has the RFC 3464 structure", "[dsn]") {
  std::string m = compose(failed_report(), kOriginal);
  std::string head = m.substr(0, m.find("\n\n"));
  CHECK(has(head, "From: \"Mail Delivery System\" <MAILER-DAEMON@mx.example.test>\n"));
  CHECK(has(head, "To: alice@example.test\n"));
  CHECK(has(head, "Subject: Undelivered Mail Returned to Sender\n"));
  CHECK(has(head, "Auto-Submitted: auto-replied\n"));
  CHECK(has(head, "MIME-Version: 1.0\n"));
  CHECK(has(head, "\nDate: "));
  CHECK(has(head, "\nMessage-ID: <"));
  CHECK(has(head, "Content-Type: multipart/report; report-type=delivery-status;"));
  CHECK_FALSE(has(m, "\r"));

  std::string b = boundary_of(m);
  CHECK(std::string(kOriginal).find(b) == std::string::npos);
  CHECK(has(m, "\n--" + b + "\nContent-Description: Notification\nContent-Type: text/plain"));
  CHECK(has(m, "\nContent-Type: message/delivery-status\n"));
  CHECK(has(m, "\nContent-Type: message/rfc822\n"));
  CHECK((m.substr(m.size() - b.size() - 6) == "\n--" + b + "--\n"));

  // Human part names every recipient and why.
  CHECK(has(m, "<nobody@example.test>: failed: no such user"));
  CHECK(has(m, "<far@remote.test>: failed: host mx.remote.test said: 550 5.7.1 go away"));

  // Machine part.
  CHECK(has(m, "Reporting-MTA: dns; mx.example.test\n"));
  CHECK(has(m, "X-Sluice-Queue-ID: Q123\n"));
  CHECK(has(m, "Arrival-Date: "));
  CHECK_FALSE(has(m, "Original-Envelope-Id"));
  CHECK(has(m, "Original-Recipient: rfc822;Nobody@example.test\n"));
  CHECK(has(m, "Final-Recipient: rfc822; nobody@example.test\nAction: failed\nStatus: 5.1.1\n"));
  CHECK(has(m, "Diagnostic-Code: x-sluice; no such user\n"));
  CHECK(has(m, "Last-Attempt-Date: "));
  CHECK(has(m, "Remote-MTA: dns; mx.remote.test\n"));
  // A CR/LF in a remote reply cannot start a field of its own.
  CHECK(has(m, "Diagnostic-Code: smtp; 550 5.7.1 go away  Injected: header\n"));
  CHECK_FALSE(has(m, "\nInjected:"));
  // The whole original (RET not given, a failure: as Postfix does).
  CHECK(has(m, "\n\nFrom: alice@example.test\nTo: nobody@example.test\n"));
  CHECK(has(m, "Body line one."));
}

TEST_CASE("dsn: RET, size cap and success/delay reports return headers", "[dsn]") {
  Report r = failed_report();
  r.ret = "HDRS";
  r.envid = "ENV-42";
  std::string m = compose(r, kOriginal);
  CHECK(has(m, "Content-Type: text/rfc822-headers\n"));
  CHECK(has(m, "Subject: hello\nMessage-ID: <m1@example.test>\n"));
  CHECK_FALSE(has(m, "Body line one."));
  CHECK(has(m, "Original-Envelope-Id: ENV-42\n"));

  r.ret = "FULL";
  CHECK(has(compose(r, kOriginal), "Body line one."));
  // Over the cap even RET=FULL falls back to the headers.
  m = compose(r, kOriginal, 20);
  CHECK_FALSE(has(m, "Body line one."));
  CHECK(has(m, "Content-Type: text/rfc822-headers\n"));

  Report d = failed_report();
  for (auto& x : d.rcpts) {
    x.action = Action::delayed;
    x.status = Status::temp("4.4.1", "connection refused");
  }
  m = compose(d, kOriginal);
  CHECK(has(m, "Subject: Delayed Mail (still being retried)\n"));
  CHECK(has(m, "Action: delayed\nStatus: 4.4.1\n"));
  CHECK_FALSE(has(m, "Body line one."));

  Report s = failed_report();
  s.rcpts.resize(1);
  s.rcpts[0].action = Action::delivered;
  s.rcpts[0].status = Status::ok("delivered to mailbox", "2.0.0");
  m = compose(s, kOriginal);
  CHECK(has(m, "Subject: Successful Mail Delivery Report\n"));
  CHECK(has(m, "Action: delivered\nStatus: 2.0.0\n"));
  CHECK_FALSE(has(m, "Body line one."));
}

TEST_CASE("dsn: boundaries are unique per report", "[dsn]") {
  Report r = failed_report();
  CHECK(boundary_of(compose(r, kOriginal)) != boundary_of(compose(r, kOriginal)));
}

TEST_CASE("dsn: UTF-8 recipients use message/global-delivery-status", "[dsn]") {
  Report r = failed_report();
  r.rcpts.resize(1);
  r.rcpts[0].final_recipient = "jörg@exämple.test";
  std::string m = compose(r, kOriginal);
  CHECK(has(m, "Content-Type: message/global-delivery-status\n"));
  CHECK(has(m, "Final-Recipient: utf-8; jörg@exämple.test\n"));
}

TEST_CASE("dsn: long diagnostics fold, original without trailing newline", "[dsn]") {
  Report r = failed_report();
  r.rcpts.resize(1);
  r.rcpts[0].diagnostic = "smtp; 550 5.1.1 " + std::string(40, 'x') + " " + std::string(40, 'y') + " end";
  std::string m = compose(r, "Subject: x\n\nno newline at end");
  CHECK(has(m, "Diagnostic-Code: smtp; 550 5.1.1 " + std::string(40, 'x') + "\n " + std::string(40, 'y')));
  CHECK(has(m, "no newline at end\n\n--"));
  CHECK(rfc5322_date(0).size() >= 30);
}

// The report as a real consumer reads it: Python's email package (what B's
// integration test and many bounce processors use) must find the
// multipart/report structure and every per-recipient field.
TEST_CASE("dsn: Python's email package parses the report", "[dsn]") {
  if (access("/usr/bin/python3", X_OK) != 0) return;
  char tmpl[] = "/tmp/sluice-dsn-XXXXXX";
  int fd = mkstemp(tmpl);
  REQUIRE(fd >= 0);
  std::string m = compose(failed_report(), kOriginal);
  REQUIRE(write(fd, m.data(), m.size()) == ssize_t(m.size()));
  close(fd);
  std::string script =
      "import email, email.policy, sys\n"
      "m = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)\n"
      "assert m.get_content_type() == 'multipart/report', m.get_content_type()\n"
      "assert m.get_param('report-type') == 'delivery-status'\n"
      "p = list(m.iter_parts())\n"
      "assert [x.get_content_type() for x in p] == ['text/plain', 'message/delivery-status', 'message/rfc822']\n"
      "ds = p[1].get_payload()\n"
      "assert ds[0]['Reporting-MTA'] == 'dns; mx.example.test', ds[0]['Reporting-MTA']\n"
      "r = [(b['Final-Recipient'], b['Action'], b['Status']) for b in ds[1:]]\n"
      "assert r == [('rfc822; nobody@example.test', 'failed', '5.1.1'), ('rfc822; far@remote.test', 'failed', '5.7.1')], r\n"
      "assert p[2].get_payload()[0]['Subject'] == 'hello'\n"
      "assert not m.defects and not any(x.defects for x in p)\n";
  std::string cmd = "/usr/bin/python3 -W ignore -c \"$(cat <<'PYEOF'\n" + script + "PYEOF\n)\" " + tmpl;
  int rc = std::system(cmd.c_str());
  unlink(tmpl);
  CHECK(rc == 0);
}
