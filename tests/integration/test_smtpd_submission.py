"""Submission rules of sluice-smtpd: an authenticated user sends only as an
address they own (their own, +tag, or an alias pointing to them; asked of
sluice-auth), Message-ID and Date are added when missing, and the Received
line names the user only when smtpd.received_auth allows."""
import re

import pytest

from test_smtpd import USER, PASSWORD, client, tls_context


@pytest.fixture
def sub(instance):
    instance.configure({"smtpd": {"greet_pause": "0s", "received_auth": True}})
    instance.run("sluice", "user", "add", USER, "--password", PASSWORD)
    instance.run("sluice", "user", "add", "bob@example.test", "--password", "bob's password")
    instance.run("sluice", "alias", "add", "sales@example.test", USER)
    instance.start()
    return instance


def login(inst):
    c = client(inst, port="submission")
    c.ehlo("x.example")
    c.starttls(context=tls_context())
    c.ehlo("x.example")
    c.login(USER, PASSWORD)
    return c


def test_send_only_as_an_owned_address(sub):
    with login(sub) as c:
        for sender in (USER, "alice+news@example.test", "sales@example.test", "SALES@example.test"):
            assert c.mail(sender)[0] == 250, sender
            c.rset()
        for sender in ("bob@example.test", "alice@other.test"):
            code, text = c.mail(sender)
            assert (code, text[:5]) == (553, b"5.7.1"), (sender, text)
        assert c.mail("")[0] == 250  # bounces (null sender) stay possible
    assert re.search(r"event=refused gate=sendas client=127\.0\.0\.1 .*bob@example\.test", sub.log())


def test_message_id_and_date_added_on_submission(sub):
    with login(sub) as c:
        c.sendmail(USER, ["bob@example.test"], b"Subject: bare\r\n\r\nno id, no date\r\n")
        c.sendmail(USER, ["bob@example.test"],
                   b"Message-ID: <mine@client.example>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
                   b"Subject: complete\r\n\r\nbody\r\n")
    msgs = [p.read_bytes() for p in sub.wait_for_mail("bob@example.test", count=2)]
    bare = next(m for m in msgs if b"Subject: bare" in m)
    full = next(m for m in msgs if b"Subject: complete" in m)
    assert re.search(rb"\nMessage-ID: <\d+\.[0-9a-f]{16}@[^>]+>\n", bare), bare
    assert re.search(rb"\nDate: \w{3}, \d+ \w{3} \d{4} ", bare), bare
    assert full.count(b"Message-ID:") == 1 and full.count(b"\nDate:") == 1
    # received_auth = true: the user is named.
    assert b"(authenticated as alice@example.test)" in bare


def test_mx_port_adds_nothing_and_hides_the_user_by_default(instance):
    instance.configure({"smtpd": {"greet_pause": "0s"}})
    instance.run("sluice", "user", "add", USER, "--password", PASSWORD)
    instance.run("sluice", "user", "add", "bob@example.test")
    instance.start()
    with client(instance) as c:
        c.sendmail("a@outside.test", ["bob@example.test"], b"Subject: mx\r\n\r\nx\r\n")
    with login(instance) as c:
        c.sendmail(USER, ["bob@example.test"], b"Subject: sub\r\n\r\nx\r\n")
    msgs = [p.read_bytes() for p in instance.wait_for_mail("bob@example.test", count=2)]
    mx = next(m for m in msgs if b"Subject: mx" in m)
    sub = next(m for m in msgs if b"Subject: sub" in m)
    assert b"Message-ID:" not in mx and b"\nDate:" not in mx
    assert b"Message-ID:" in sub and b"authenticated as" not in sub
