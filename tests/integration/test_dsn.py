"""Delivery status notifications through the real programs: bounces for
unknown users (RET=FULL and HDRS), NOTIFY=SUCCESS/NEVER/DELAY, the null
sender (reports are never reported to <>; postmaster hears once), expiry.
Each report is read with Python's email package as a mail client would."""
import email
import time

import pytest

from mailtest import (DOMAIN, REMOTE, SENDER, envelope, log_events, message, prepare, queue_lines, read_report,
                      settle, wait_log)

pytestmark = pytest.mark.timeout(120)

BOB = f"bob@{DOMAIN}"
NOBODY = f"nobody@{DOMAIN}"
POSTMASTER = f"postmaster@{DOMAIN}"


def hostname(inst):
    return inst.read_config().get("hostname")


def check_bounce_headers(inst, path, to):
    data = path.read_bytes()
    # Delivered with the null sender, so that it is never bounced again.
    assert data.startswith(b"Return-Path: <>\n"), data[:200]
    msg = email.message_from_bytes(data)
    assert msg["From"].endswith(f"<MAILER-DAEMON@{hostname(inst)}>"), msg["From"]
    assert msg["To"] == to
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Message-ID"] and msg["Date"]
    return msg


def check_failed(rc, address, status, diagnostic_word):
    assert rc["Final-Recipient"].lower() == f"rfc822; {address}"
    assert rc["Action"] == "failed"
    assert rc["Status"] == status
    assert diagnostic_word in rc["Diagnostic-Code"], rc["Diagnostic-Code"]


@pytest.mark.parametrize("ret", ["FULL", "HDRS", None])
def test_unknown_user_bounces_to_sender(instance, ret):
    inst = instance
    prepare(inst)
    original = message("lost letter", "the body of the lost letter\n", to=NOBODY)
    r = inst.inject(original, envelope(SENDER, NOBODY, ret=ret))
    assert r.returncode == 0, r.stderr
    [path] = inst.wait_for_mail(SENDER)
    settle(inst)
    assert len(inst.messages(SENDER)) == 1
    msg, per_msg, [rc], third = read_report(path)
    check_bounce_headers(inst, path, SENDER)
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert per_msg["Reporting-MTA"] == f"dns; {hostname(inst)}"
    assert per_msg["Arrival-Date"]
    check_failed(rc, NOBODY, "5.1.1", "unknown user")
    assert NOBODY in msg.get_payload(0).get_payload()  # the explanation names the recipient
    if ret == "HDRS":
        assert third.get_content_type() == "text/rfc822-headers"
        text = third.get_payload()
        assert "Subject: lost letter" in text and "the body of the lost letter" not in text
    else:
        # RET=FULL, or no RET with a failure (as Postfix does): the whole message.
        assert third.get_content_type() == "message/rfc822"
        [inner] = third.get_payload()
        assert inner["Subject"] == "lost letter" and inner["Message-ID"] == email.message_from_bytes(original)["Message-ID"]
        assert inner.get_payload() == "the body of the lost letter\n"
    [ev] = log_events(inst, prog="sluice-sched", event="report")
    assert ev["to"] == SENDER and ev["action"] == "failed"


def test_one_unknown_of_three_recipients_gets_one_bounce_naming_it(instance):
    inst = instance
    prepare(inst, "bob", "carol")
    carol = f"carol@{DOMAIN}"
    assert inst.sendmail(message("three"), BOB, NOBODY, carol, sender=SENDER).returncode == 0
    inst.wait_for_mail(BOB)
    inst.wait_for_mail(carol)
    [path] = inst.wait_for_mail(SENDER)
    settle(inst)
    assert len(inst.messages(SENDER)) == 1
    _, _, rcpts, _ = read_report(path)
    assert len(rcpts) == 1
    check_failed(rcpts[0], NOBODY, "5.1.1", "unknown user")
    assert BOB.encode() not in path.read_bytes().split(b"\n\n", 1)[0]


def test_notify_success_gives_a_success_report(instance):
    inst = instance
    prepare(inst, "bob")
    body = "delivered body\n"
    r = inst.inject(message("tell me", body), envelope(SENDER, (BOB, "SUCCESS")))
    assert r.returncode == 0, r.stderr
    inst.wait_for_mail(BOB)
    [path] = inst.wait_for_mail(SENDER)
    settle(inst)
    assert len(inst.messages(SENDER)) == 1
    msg, _, [rc], third = read_report(path)
    check_bounce_headers(inst, path, SENDER)
    assert msg["Subject"] == "Successful Mail Delivery Report"
    assert rc["Final-Recipient"].lower() == f"rfc822; {BOB}"
    assert rc["Action"] == "delivered" and rc["Status"].startswith("2.")
    # No RET and nothing failed: the headers only.
    assert third.get_content_type() == "text/rfc822-headers"
    assert body not in third.get_payload()


def test_notify_never_gives_no_bounce(instance):
    inst = instance
    prepare(inst)
    r = inst.inject(message("quiet"), envelope(SENDER, (NOBODY, "NEVER")))
    assert r.returncode == 0, r.stderr
    wait_log(inst, prog="sluice-sched", event="delivery", rcpt=NOBODY, status="bounced")
    settle(inst, 2)
    assert inst.messages(SENDER) == []
    assert inst.messages(POSTMASTER) == []
    assert log_events(inst, event="report") == []


def test_notify_delay_gives_one_delay_report(instance):
    inst = instance
    prepare(inst, "bob", queue={"delay_warning": "1s"})
    inst.run("sluice", "user", "quota", BOB, "200")
    r = inst.inject(message("slow", "d" * 1000 + "\n"), envelope(SENDER, (BOB, "DELAY")))
    assert r.returncode == 0, r.stderr
    [path] = inst.wait_for_mail(SENDER, timeout=20)
    msg, _, [rc], _ = read_report(path)
    check_bounce_headers(inst, path, SENDER)
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    assert rc["Final-Recipient"].lower() == f"rfc822; {BOB}"
    assert rc["Action"] == "delayed" and rc["Status"].startswith("4.")
    assert rc["Status"] == "4.2.2", rc["Status"]  # the deferral's own code
    assert "quota" in rc["Diagnostic-Code"]
    # Later attempts fail too, but the sender hears of the delay once.
    tries = len(log_events(inst, prog="sluice-sched", event="delivery", rcpt=BOB, status="deferred"))
    wait_log(inst, count=tries + 2, timeout=15, prog="sluice-sched", event="delivery", rcpt=BOB, status="deferred")
    assert len(inst.messages(SENDER)) == 1
    [line] = queue_lines(inst)
    assert line[3] == "deferred"
    inst.run("sluice", "user", "quota", BOB, "none")
    inst.wait_for_mail(BOB, timeout=15)
    settle(inst)
    assert len(inst.messages(SENDER)) == 1  # NOTIFY=DELAY only: no success report, no bounce
    assert len(log_events(inst, prog="sluice-sched", event="report", action="delayed")) == 1


# --- the null sender ---------------------------------------------------------------

def test_bounce_of_a_bounce_goes_to_postmaster_once(instance):
    inst = instance
    prepare(inst)
    r = inst.inject(message("i am a bounce", frm=f"MAILER-DAEMON@{DOMAIN}", to=NOBODY), envelope("", NOBODY))
    assert r.returncode == 0, r.stderr
    [path] = inst.wait_for_mail(POSTMASTER)
    settle(inst, 2)
    assert len(inst.messages(POSTMASTER)) == 1
    msg, _, [rc], _ = read_report(path)
    check_bounce_headers(inst, path, POSTMASTER)
    check_failed(rc, NOBODY, "5.1.1", "unknown user")
    reports = log_events(inst, prog="sluice-sched", event="report")
    assert [e["to"] for e in reports] == [POSTMASTER]  # never to <>
    assert inst.messages(SENDER) == []


def test_bounce_of_a_bounce_without_postmaster_is_dropped(instance):
    inst = instance
    inst.run("sluice", "user", "del", POSTMASTER)
    prepare(inst)
    r = inst.inject(message("i am a bounce", frm=f"MAILER-DAEMON@{DOMAIN}", to=NOBODY), envelope("", NOBODY))
    assert r.returncode == 0, r.stderr
    [ev] = wait_log(inst, prog="sluice-sched", event="double_bounce_dropped")
    assert ev["rcpt"] == POSTMASTER and ev["qid"]
    settle(inst, 2)
    assert inst.queue_list() == ""
    assert len(log_events(inst, prog="sluice-sched", event="double_bounce_dropped")) == 1
    reports = log_events(inst, prog="sluice-sched", event="report")
    assert [e["to"] for e in reports] == [POSTMASTER]
    assert inst.messages(POSTMASTER) == [] and inst.messages(SENDER) == []


# --- expiry -------------------------------------------------------------------------------

def test_expired_message_bounces_with_4_4_7(instance):
    inst = instance
    prepare(inst, queue={"lifetime": "3s"})
    far = f"far@{REMOTE}"
    t0 = time.time()
    assert inst.sendmail(message("never arrives", to=far), far, sender=SENDER).returncode == 0
    [path] = inst.wait_for_mail(SENDER, timeout=20)
    assert time.time() - t0 >= 2  # not before the lifetime is over
    settle(inst)
    assert len(inst.messages(SENDER)) == 1
    msg, _, [rc], _ = read_report(path)
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    check_failed(rc, far, "4.4.7", "expired")
    assert "4.4.1" in rc["Diagnostic-Code"]  # the last error is kept
    assert len(log_events(inst, prog="sluice-sched", event="delivery", rcpt=far, status="deferred")) >= 2
    assert log_events(inst, prog="sluice-sched", event="expired")


def test_undeliverable_bounce_becomes_one_notice_to_postmaster(instance):
    """The sender is an unknown local address too: its bounce (from <>) fails,
    and the postmaster gets one notice; nothing is reported to <>."""
    inst = instance
    prepare(inst)
    ghost = f"ghost@{DOMAIN}"
    assert inst.sendmail(message("from a ghost", frm=ghost), NOBODY, sender=ghost).returncode == 0
    [path] = inst.wait_for_mail(POSTMASTER)
    settle(inst, 2)
    assert len(inst.messages(POSTMASTER)) == 1
    _, _, [rc], third = read_report(path)
    check_failed(rc, ghost, "5.1.1", "unknown user")
    reports = log_events(inst, prog="sluice-sched", event="report")
    assert [e["to"] for e in reports] == [ghost, POSTMASTER]
