"""A full mailbox is refused at RCPT: sluice-smtpd asks sluice-auth, which
asks sluice-quota, the only one of them that may read the mailboxes (it
runs as their owner). 452 4.2.2 while the quota policy defers, 552 5.2.2
when it bounces or when the message alone is larger than the quota; the
mailboxes stay 0700 and the usage never reaches the client."""
import os
import re
import stat

import pytest

from test_smtpd import client, msg

FULL = "full@example.test"
ROOMY = "roomy@example.test"


def fill(inst):
    """About 2,900 bytes in the mailbox, then a quota of 2,000."""
    with client(inst) as c:
        c.sendmail("a@outside.test", [FULL], msg("filler", ("x" * 70 + "\r\n") * 36))
    inst.wait_for_mail(FULL)
    inst.run("sluice", "user", "quota", FULL, "2000")


@pytest.fixture
def quota_instance(instance):
    instance.configure({"smtpd": {"greet_pause": "0s"}})
    instance.run("sluice", "user", "add", FULL)
    instance.run("sluice", "user", "add", ROOMY)
    instance.run("sluice", "user", "quota", ROOMY, "1M")
    instance.run("sluice", "alias", "add", "team@example.test", FULL, ROOMY)
    return instance


def test_full_mailbox_refused_at_rcpt_with_4_2_2(quota_instance):
    inst = quota_instance
    inst.start()
    fill(inst)
    with client(inst) as c:
        c.ehlo("client.example")
        assert c.mail("a@outside.test", ["SIZE=1000"])[0] == 250
        code, text = c.rcpt(FULL)
        assert (code, text) == (452, f"4.2.2 <{FULL}>: Mailbox is full, try again later".encode())
        # The usage stays in the log.
        assert b"bytes" not in text
        assert c.rcpt(ROOMY)[0] == 250
        assert c.rcpt("team@example.test")[0] == 250  # one of its mailboxes has room
        c.rset()
        # Larger than the whole quota: it will never fit.
        c.mail("a@outside.test", ["SIZE=5000"])
        code, text = c.rcpt(FULL)
        assert (code, text[:5]) == (552, b"5.2.2")
    assert re.search(rf"event=refused gate=over_quota client=127.0.0.1 .*detail=\"{FULL}: 4.2.2 mailbox {FULL} is over quota",
                     inst.log())
    # Raising the quota opens the mailbox at once: the tables are read live.
    inst.run("sluice", "user", "quota", FULL, "1M")
    with client(inst) as c:
        c.sendmail("a@outside.test", [FULL], msg("after the raise"))
    assert len(inst.wait_for_mail(FULL, count=2)) == 2


def test_bounce_policy_refuses_for_good(quota_instance):
    inst = quota_instance
    inst.configure({"local": {"quota_exceeded": "bounce"}})
    inst.start()
    fill(inst)
    with client(inst) as c:
        c.ehlo("client.example")
        c.mail("a@outside.test")  # no SIZE: is there room for one more byte?
        code, text = c.rcpt(FULL)
        assert (code, text) == (552, f"5.2.2 <{FULL}>: Mailbox is full".encode())


def test_mailboxes_stay_private_and_a_dead_quota_service_fails_open(quota_instance):
    inst = quota_instance
    inst.configure({"smtpd": {"replies": {"over_quota": "Over quota, come back later"}}})
    inst.start()
    fill(inst)
    maildir = inst.maildir(FULL)
    assert stat.S_IMODE(os.stat(maildir).st_mode) == 0o700
    with client(inst) as c:
        c.ehlo("client.example")
        c.mail("a@outside.test", ["SIZE=1000"])
        assert c.rcpt(FULL) == (452, f"4.2.2 <{FULL}>: Over quota, come back later".encode())
    # Without sluice-quota the recipient is taken and sluice-local enforces
    # the quota at delivery (a deferral, logged).
    os.unlink(inst.root / "run" / "quota.sock")
    with client(inst) as c:
        c.ehlo("client.example")
        c.mail("a@outside.test", ["SIZE=1000"])
        assert c.rcpt(FULL)[0] == 250
    assert "event=quota_check_failed" in inst.log()
