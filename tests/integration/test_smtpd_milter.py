"""sluice-smtpd as a milter client, against real milters: OpenDKIM signs
what leaves through it (and the signature verifies), and a libmilter
milter (pymilter) refuses at connect, MAIL and RCPT, edits headers, body
and recipients, discards, and is left out or fails the session as
smtpd.milter_default_action says when it dies."""
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PEERS, free_port
from test_smtpd import Raw, USER, client, msg

HERE = Path(__file__).resolve().parent


def wait_port(port, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


@pytest.fixture
def test_milter():
    port = free_port()
    p = subprocess.Popen(["/usr/bin/python3", str(HERE / "milter_peer.py"), str(port)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    wait_port(port)
    yield port, p
    p.kill()
    p.wait()


def start(inst, milters, **smtpd):
    inst.configure({"smtpd": {"greet_pause": "0s", "milters": milters, **smtpd}})
    inst.run("sluice", "user", "add", USER, "--password", "x")
    for u in ("bob", "carol", "dave", "blocked"):
        inst.run("sluice", "user", "add", f"{u}@example.test")
    inst.start()


def delivered(inst, addr, count=1):
    return [p.read_bytes() for p in inst.wait_for_mail(addr, count=count)]


def test_opendkim_signs_and_the_signature_verifies(instance, tmp_path):
    dkim = pytest.importorskip("dkim")
    port = free_port()
    work = tmp_path / "opendkim"
    work.mkdir()
    subprocess.run(["bash", str(PEERS / "opendkim-start.sh"), str(work), str(port)], check=True,
                   capture_output=True, timeout=60)
    try:
        start(instance, [f"inet:{port}@127.0.0.1"])
        body = "A signed message.\r\n" * 20
        with client(instance) as c:
            c.sendmail(USER, ["bob@example.test"], msg("dkim", body))
        [m] = delivered(instance, "bob@example.test")
        assert b"DKIM-Signature:" in m
        name, value = (work / "dkim.testdns").read_text().split(None, 1)
        wire = m.replace(b"\n", b"\r\n")
        ok = dkim.verify(wire, dnsfunc=lambda n, timeout=5: value.strip().encode())
        assert ok, m.decode(errors="replace")
        # A changed body no longer verifies: the signature covers it.
        assert not dkim.verify(wire.replace(b"A signed message.", b"A forged message.", 1),
                               dnsfunc=lambda n, timeout=5: value.strip().encode())
    finally:
        pid = (work / "opendkim.pid").read_text().strip()
        os.kill(int(pid), signal.SIGTERM)


def test_milter_refuses_at_each_stage(instance, test_milter):
    port, _ = test_milter
    start(instance, [f"inet:127.0.0.1:{port}"])
    raw = Raw(instance, source="127.0.0.5")
    assert raw.reply() == ["554 5.7.1 your address is refused by the test milter"]
    assert raw.cmd("EHLO x.example")[0].startswith("503 5.7.1")
    raw.close()
    with client(instance) as c:
        c.ehlo("client.example")
        code, text = c.mail("tempfail@outside.test")
        assert (code, text[:5]) == (451, b"4.7.1")
        assert c.mail("a@outside.test")[0] == 250
        assert c.rcpt("blocked@example.test") == (550, b"5.7.1 blocked by the test milter")
        assert c.rcpt("bob@example.test")[0] == 250
        code, text = c.data(msg("please reject this"))
        assert (code, text) == (554, b"5.7.1 rejected by the test milter")
        # The session goes on, and the milter starts afresh.
        c.sendmail("a@outside.test", ["bob@example.test"], msg("plain"))
    [m] = delivered(instance, "bob@example.test")
    assert b"X-Test-Milter: seen <bob@example.test>" in m
    log = instance.log()
    assert re.search(r"event=refused gate=milter client=127.0.0.1 .*detail=\"rcpt blocked@example.test by inet:127", log)


def test_milter_edits_headers_body_and_recipients(instance, test_milter):
    port, _ = test_milter
    start(instance, [f"inet:{port}@127.0.0.1"])
    with client(instance) as c:
        c.sendmail("a@outside.test", ["carol@example.test", "dave@example.test"],
                   msg("change replace addrcpt delrcpt", "original body\r\n"))
    [m] = delivered(instance, "bob@example.test")
    assert b"Subject: changed by the milter\n" in m
    assert m.endswith(b"\n\nthe milter wrote this body\n")
    assert b"original body" not in m
    assert len(delivered(instance, "dave@example.test")) == 1
    time.sleep(1)
    assert instance.messages("carol@example.test") == []  # removed by the milter


def test_milter_discard_and_a_header_that_would_inject_a_field(instance, test_milter):
    port, _ = test_milter
    start(instance, [f"inet:{port}@127.0.0.1"])
    with client(instance) as c:
        assert c.sendmail("a@outside.test", ["dave@example.test"], msg("discard me")) == {}  # 250 to the client
        c.sendmail("a@outside.test", ["dave@example.test"], msg("evil"))
    [m] = delivered(instance, "dave@example.test")
    assert b"Subject: evil" in m and b"Bcc:" not in m
    log = instance.log()
    assert "event=discarded" in log and "event=milter_edit_refused" in log


@pytest.mark.parametrize("action", ["tempfail", "accept"])
def test_dead_milter_follows_the_default_action(instance, action):
    port = free_port()  # nothing listens there
    start(instance, [f"inet:127.0.0.1:{port}"], milter_default_action=action)
    raw = Raw(instance)
    (line,) = raw.reply()
    raw.close()
    if action == "tempfail":
        assert line.startswith("421 4.7.1 ")
    else:
        assert line.startswith("220 ")
        with client(instance) as c:
            c.sendmail("a@outside.test", ["bob@example.test"], msg("no milter"))
        assert len(delivered(instance, "bob@example.test")) == 1
    assert "event=milter_failed" in instance.log()


def test_quarantined_message_waits_in_hold_until_released(instance, test_milter):
    port, _ = test_milter
    start(instance, [f"inet:{port}@127.0.0.1"])
    with client(instance) as c:
        assert c.sendmail("a@outside.test", ["dave@example.test"], msg("quarantine this")) == {}
    time.sleep(1)
    assert instance.messages("dave@example.test") == []
    listing = instance.run("sluice", "queue", "list").stdout
    [line] = [l for l in listing.splitlines() if l.strip()]
    assert "held" in line, listing
    qid = line.split()[0]
    instance.run("sluice", "queue", "release", qid)
    [m] = delivered(instance, "dave@example.test")
    assert b"Subject: quarantine this" in m
    assert "event=milter_quarantine" in instance.log()


def test_silent_milter_times_out(instance):
    """A milter that accepts the connection and never answers holds the
    session only for smtpd.milter_command_timeout."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(16)
    port = lst.getsockname()[1]
    try:
        start(instance, [f"inet:127.0.0.1:{port}"], milter_command_timeout="1s")
        t0 = time.time()
        raw = Raw(instance)
        (line,) = raw.reply()
        raw.close()
        assert line.startswith("421 4.7.1 ")
        assert time.time() - t0 < 10
        assert re.search(r"event=milter_failed .*error=\"option negotiation failed\"", instance.log())
    finally:
        lst.close()
