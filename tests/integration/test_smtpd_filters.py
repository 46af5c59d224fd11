"""sluice-smtpd's post-DATA filter chain (smtpd.filters): the example
filter through sluice-filter-shell refuses (its 5.7.1 line reaches the
client) and rewrites (the Maildir holds the rewritten message); a filter
that hangs is killed after smtpd.filter_timeout and the client gets 4xx."""
import re
import smtplib
import time

import pytest

from conftest import REPO
from test_smtpd import client, msg, queue_ids

EXAMPLE = REPO / "filters" / "examples" / "subject-check.sh"


def start_with_filters(inst, filters, timeout="30s"):
    inst.configure({"smtpd": {"greet_pause": "0s", "filters": filters, "filter_timeout": timeout}})
    inst.run("sluice", "user", "add", "bob@example.test")
    inst.start()
    return inst


def test_filter_rejects_with_its_own_reply(instance):
    start_with_filters(instance, ["sluice-filter-shell", str(EXAMPLE), "casino", "--"])
    with client(instance) as c:
        c.ehlo("x.example")
        with pytest.raises(smtplib.SMTPDataError) as e:
            c.sendmail("a@outside.test", ["bob@example.test"], msg("Best CASINO offers"))
        assert e.value.smtp_code == 554
        assert e.value.smtp_error.startswith(b"5.7.1 Message refused: its subject contains \"casino\""), e.value
        # The session goes on: the next message passes the same filter.
        c.sendmail("a@outside.test", ["bob@example.test"], msg("minutes of the meeting"))
    (path,) = instance.wait_for_mail("bob@example.test")
    assert b"minutes of the meeting" in path.read_bytes()
    assert "event=refused gate=queue client=127.0.0.1" in instance.log()


def test_filter_rewrites_the_message(instance):
    start_with_filters(instance, ["sluice-filter-shell", str(EXAMPLE), "casino", "--"])
    with client(instance) as c:
        c.ehlo("x.example")
        c.mail("a@outside.test")
        c.rcpt("bob@example.test")
        code, text = c.data(msg("rewrite me"))
        # The queue id reaches the client and the log through the chain too.
        assert code == 250 and re.match(rb"2\.0\.0 Ok: queued as [0-9A-F]{16}$", text), text
        qid = text.split()[-1].decode()
    (path,) = instance.wait_for_mail("bob@example.test")
    assert f"event=accepted qid={qid}" in instance.log()
    assert "queued qid=" not in instance.log()  # sluice-inject's report is not a log line
    data = path.read_bytes()
    # The filter's header comes before our Received line (what sluice-local
    # adds, Return-Path and Delivered-To, comes before both).
    assert b"\nX-Sluice-Checked: subject-check; client=127.0.0.1\nReceived: from x.example" in data, data[:300]
    assert data.endswith(b"Subject: rewrite me\n\nhello\n")


def test_hanging_filter_gives_4xx_after_the_timeout(instance):
    hang = instance.root / "hang.sh"
    hang.write_text("#!/bin/sh\nsleep 60\n")
    hang.chmod(0o755)
    start_with_filters(instance, ["sluice-filter-shell", str(hang), "--"], timeout="2s")
    with client(instance) as c:
        c.ehlo("x.example")
        t0 = time.monotonic()
        with pytest.raises(smtplib.SMTPDataError) as e:
            c.sendmail("a@outside.test", ["bob@example.test"], msg("slow"))
        took = time.monotonic() - t0
        assert e.value.smtp_code == 451 and e.value.smtp_error.startswith(b"4.3.0"), e.value
        assert b"timed out" in e.value.smtp_error
        assert 1.5 < took < 10, took
        assert c.noop()[0] == 250  # the session survives the filter
    assert queue_ids(instance) == [] and instance.messages("bob@example.test") == []
