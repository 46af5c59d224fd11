"""The admin's gates of sluice-smtpd, each with the reply an admin may set
(smtpd.replies) and a log line naming the gate and the client: client
networks, HELO names, senders and sender domains, authenticated users,
messages per session, Received hops (5.4.6), and the 421 load shedding of
sessions in total, per IP, and connections per IP per minute."""
import re

import pytest

from test_smtpd import USER, PASSWORD, Raw, client, msg, tls_context


@pytest.fixture
def gated(instance):
    instance.configure({
        "smtpd": {"greet_pause": "0s", "workers": 2,  # the session limits count for the pool
                  "reject_clients": ["127.0.0.3/32"], "reject_helo": ["Bad.Example"],
                  "reject_senders": ["spammer@outside.test"], "reject_sender_domains": [".spam.test"],
                  "reject_users": ["bob@example.test"],
                  "replies": {"client": "554 5.7.1 Go away, see https://example.test/blocked",
                              "helo": "Your HELO name is on our block list"}},
        "limits": {"messages_per_session": 2, "hops": 3, "sessions": 6, "sessions_per_ip": 3,
                   "connection_rate": 4}})
    instance.run("sluice", "user", "add", USER, "--password", PASSWORD)
    instance.run("sluice", "user", "add", "bob@example.test", "--password", "bob password")
    instance.start()
    return instance


def refused(inst, gate, ip):
    return re.search(rf"event=refused gate={gate} client={re.escape(ip)} ", inst.log())


def test_client_helo_sender_and_user_gates(gated):
    raw = Raw(gated, source="127.0.0.3")
    assert raw.reply() == ["554 5.7.1 Go away, see https://example.test/blocked"]
    assert raw.cmd("EHLO x.example")[0].startswith("503 5.7.1")
    assert raw.cmd("QUIT")[0].startswith("221")
    raw.close()
    assert refused(gated, "client", "127.0.0.3")

    with client(gated, source="127.0.0.10") as c:
        code, text = c.ehlo("bad.example")
        assert (code, text) == (550, b"5.7.1 Your HELO name is on our block list")
        assert c.ehlo("good.example")[0] == 250
        for sender, gate in (("Spammer@outside.test", "sender"), ("x@spam.test", "sender_domain"),
                             ("x@deep.spam.test", "sender_domain")):
            code, text = c.mail(sender)
            assert (code, text[:5]) == (554, b"5.7.1"), sender
            assert refused(gated, gate, "127.0.0.10"), gate
        assert c.mail("x@nospam.test")[0] == 250
    assert refused(gated, "helo", "127.0.0.10")

    with client(gated, port="submission", source="127.0.0.11") as c:
        c.ehlo("x.example")
        c.starttls(context=tls_context())
        c.ehlo("x.example")
        c.login("bob@example.test", "bob password")
        code, text = c.mail("bob@example.test")
        assert (code, text[:5]) == (554, b"5.7.1")
    assert refused(gated, "user", "127.0.0.11")


def test_messages_per_session_and_hops(gated):
    with client(gated, source="127.0.0.12") as c:
        c.ehlo("x.example")
        hops3 = b"Received: from a\r\nReceived: from b\r\nReceived: from c\r\n" + msg("three hops")
        c.sendmail("a@outside.test", ["bob@example.test"], hops3)
        c.mail("a@outside.test")
        c.rcpt("bob@example.test")
        code, text = c.data(b"Received: from z\r\n" + hops3)
        assert (code, text[:5]) == (554, b"5.4.6")
        c.sendmail("a@outside.test", ["bob@example.test"], msg("second"))
        code, text = c.mail("a@outside.test")  # the third message of the session
        assert (code, text[:5]) == (421, b"4.7.0")
    assert refused(gated, "hops", "127.0.0.12") and refused(gated, "messages", "127.0.0.12")
    assert len(gated.wait_for_mail("bob@example.test", count=2)) == 2


def test_load_shedding_per_ip_total_and_rate(gated):
    held = [Raw(gated, source="127.0.0.20") for _ in range(3)]
    for r in held:
        assert r.reply()[0].startswith("220 ")
    extra = Raw(gated, source="127.0.0.20")
    (line,) = extra.reply()
    assert line.startswith("421 4.7.0 ") and "from your address" in line
    assert extra.reply() == []  # closed
    extra.close()
    assert refused(gated, "sessions_per_ip", "127.0.0.20")
    others = [Raw(gated, source="127.0.0.21") for _ in range(3)]
    for r in others:
        assert r.reply()[0].startswith("220 ")
    full = Raw(gated, source="127.0.0.22")
    assert full.reply()[0].startswith("421 4.7.0 ")
    full.close()
    assert refused(gated, "sessions", "127.0.0.22")
    for r in held + others:
        assert r.cmd("QUIT")[0].startswith("221")
        r.close()
    # connection_rate = 4 a minute: 127.0.0.20 has used them all.
    late = Raw(gated, source="127.0.0.20")
    (line,) = late.reply()
    assert line.startswith("421 4.7.0 ") and "per minute" in line
    late.close()
    assert refused(gated, "rate", "127.0.0.20")
