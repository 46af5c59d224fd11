"""sluice-remote against real peers on loopback: dnsmasq serves MX, A and
AAAA for the test domains; aiosmtpd receivers (remote_peer.py) listen on
127.0.0.x at remote.mx_port. One sending instance (domain local.test) and
its peers serve every test of this file, each test with its own sender so
that its bounces are its own.

Not here: a second sluice instance as the receiver (needs sluice-smtpd)."""
import email
import email.policy
import socket
import subprocess
import threading
import time

import pytest

from conftest import PEERS, free_port, make_instance
from mailtest import envelope, log_events, read_report, wait_for
from remote_peer import Peer

DNS_EXTRA = """
mx-host=fallback.test,dead.fallback.test,10
mx-host=fallback.test,mail.example.test,20
host-record=dead.fallback.test,127.0.0.5
dns-rr=nullmx.test,15,000000
mx-host=many.test,mx.many.test,10
host-record=mx.many.test,127.0.0.6
mx-host=silent.test,mx.silent.test,10
host-record=mx.silent.test,127.0.0.7
mx-host=temp.test,mx.temp.test,10
host-record=mx.temp.test,127.0.0.8
mx-host=nobit.test,mx.nobit.test,10
host-record=mx.nobit.test,127.0.0.9
mx-host=size.test,mx.size.test,10
host-record=mx.size.test,127.0.0.10
mx-host=tls.test,mail.tls.test,10
mx-host=ver.test,mail.tls.test,10
host-record=mail.tls.test,127.0.0.11
mx-host=verbad.test,mail.tlsbad.test,10
host-record=mail.tlsbad.test,127.0.0.12
host-record=relay.auth.test,127.0.0.13
"""


class Silent:
    """Accepts connections and never says a word: a peer that hangs."""

    def __init__(self, host, port):
        self.sock = socket.create_server((host, port))
        self.sock.settimeout(0.2)
        self.held, self.connections, self.running = [], 0, True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.connections += 1
            self.held.append(c)

    def stop(self):
        self.running = False
        self.thread.join()
        for c in self.held:
            c.close()
        self.sock.close()


def make_cert(d, name):
    cert, key = d / f"{name}.crt", d / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}"],
                   check=True, capture_output=True)
    return str(cert), str(key)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("remote")
    dns_port, mx_port = free_port(), free_port()
    (base / "dns").mkdir()
    (base / "extra.conf").write_text(DNS_EXTRA)
    stopped = []
    subprocess.run([PEERS / "dnsmasq-start.sh", base / "dns", str(dns_port), base / "extra.conf"], check=True,
                   capture_output=True)
    stopped.append(lambda: subprocess.run(["kill", (base / "dns" / "dnsmasq.pid").read_text().strip()]))
    good = make_cert(base, "mail.tls.test")
    bad = make_cert(base, "mail.tlsbad.test")
    peers = {
        "main": Peer("127.0.0.1", mx_port, dsn=True,
                     reject={"bad@example.test": "550 5.1.1 <bad@example.test>: user unknown"}),
        "other": Peer("127.0.0.3", mx_port),
        "nomx": Peer("127.0.0.4", mx_port),
        "many": Peer("127.0.0.6", mx_port),
        "temp": Peer("127.0.0.8", mx_port, tempfail=1),
        "nobit": Peer("127.0.0.9", mx_port, eightbit=False),
        "size": Peer("127.0.0.10", mx_port, size=2000),
        "tls": Peer("127.0.0.11", mx_port, cert=good[0], key=good[1]),
        "tlsbad": Peer("127.0.0.12", mx_port, cert=bad[0], key=bad[1]),
        "auth": Peer("127.0.0.13", mx_port, auth=("bob", "s3cret")),
    }
    try:
        for p in peers.values():
            p.start()
            stopped.append(p.stop)
            p.connections = 0  # the controller's own start-up probe
        silent = Silent("127.0.0.7", mx_port)
        stopped.append(silent.stop)
        peers["silent"] = silent
        inst = make_instance(base, domain="local.test")
        stopped.append(inst.stop)
        inst.configure({
            "queue": {"retry_first": "1s", "retry_max": "2s", "lifetime": "8s", "remote_concurrency": 2},
            "dns": {"servers": [f"127.0.0.1:{dns_port}"]},
            "routes": {"auth.test": "bob:s3cret@relay.auth.test"},
            "remote": {"mx_port": mx_port, "connect_timeout": "2s", "greeting_timeout": "1s", "mail_timeout": "2s",
                       "rcpt_timeout": "2s", "data_init_timeout": "2s", "data_block_timeout": "2s",
                       "data_done_timeout": "2s", "dns_timeout": "3s", "cache_idle": "3s",
                       "tls_ca_file": good[0],
                       "tls_policy": {"tls.test": "encrypt", "ver.test": "verify", "verbad.test": "verify"}},
        })
        inst.start()
        yield inst, peers
    finally:
        for stop in reversed(stopped):
            stop()


_n = [0]


def sender(inst):
    """A fresh local mailbox to send from: its bounces are this test's."""
    _n[0] += 1
    addr = f"s{_n[0]}@local.test"
    inst.run("sluice", "user", "add", addr, "--password", "x")
    return addr


def msg(subject, body="hello\n", extra=""):
    return (f"From: someone@local.test\nTo: x@example.test\nSubject: {subject}\n"
            f"Message-ID: <{subject}.{time.time_ns()}@local.test>\n{extra}\n{body}").encode()


def inject(inst, frm, *rcpts, body="hello\n", subject="t", extra=""):
    m = msg(subject, body, extra) if isinstance(body, str) else body
    r = inst.inject(m, envelope(frm, *rcpts))
    assert r.returncode == 0, r.stderr


def received(peer, subject, count=1, timeout=20):
    def got():
        ms = [m for m in peer.messages if f"Subject: {subject}\r\n".encode() in m["data"]]
        return ms if len(ms) >= count else None
    return wait_for(got, timeout, f"{count} message(s) '{subject}' at the peer")


def reports(inst, addr, count=1, timeout=20):
    wait_for(lambda: len(inst.messages(addr)) >= count, timeout, f"{count} report(s) to {addr}", inst)
    return [read_report(p) for p in inst.messages(addr)]


def test_mx_delivery_one_bounce_of_three_and_dsn_passed_on(world):
    inst, peers = world
    s = sender(inst)
    inject(inst, s, ("a@example.test", "SUCCESS"), "bad@example.test", "c@example.test", subject="three")
    m = received(peers["main"], "three")[0]
    assert m["rcpts"] == ["a@example.test", "c@example.test"]
    assert m["dsn_rcpt"][0]["NOTIFY"] == "SUCCESS"  # passed on to a peer that speaks DSN
    (_, _, rcpts, _), = reports(inst, s)
    assert len(rcpts) == 1
    r = rcpts[0]
    assert r["Final-Recipient"] == "rfc822; bad@example.test"
    assert r["Action"] == "failed"
    assert r["Remote-MTA"] == "dns; mail.example.test"
    assert r["Diagnostic-Code"] == "smtp; 550 5.1.1 <bad@example.test>: user unknown"
    time.sleep(1)
    assert len(inst.messages(s)) == 1  # the peer reports success itself: none from us
    # mail.example.test has AAAA ::1 too, where nobody listens: tried, then IPv4.
    assert log_events(inst, event="connect_failed", host="mail.example.test", addr="::1")


def test_relayed_report_when_the_peer_has_no_dsn(world):
    inst, peers = world
    s = sender(inst)
    inject(inst, s, ("x@other.test", "SUCCESS"), subject="relayed")
    received(peers["other"], "relayed")
    (_, _, rcpts, _), = reports(inst, s)
    assert rcpts[0]["Action"] == "relayed"
    assert rcpts[0]["Final-Recipient"] == "rfc822; x@other.test"


def test_implicit_mx_from_the_a_record(world):
    inst, peers = world
    inject(inst, sender(inst), "x@nomx.test", subject="nomx")
    received(peers["nomx"], "nomx")


def test_mx_preference_and_fallback_when_the_first_refuses(world):
    inst, peers = world
    inject(inst, sender(inst), "x@fallback.test", subject="fallback")
    received(peers["main"], "fallback")
    [sent] = log_events(inst, event="sent", rcpt="x@fallback.test")
    assert sent["relay"].startswith("mail.example.test[")
    # The preference 10 host was tried first and refused; then preference 20.
    lines = [l for l in inst.log().splitlines() if f"qid={sent['qid']}" in l and "sluice-remote" in l]
    failed = [i for i, l in enumerate(lines) if "event=connect_failed" in l and "host=dead.fallback.test" in l]
    connected = [i for i, l in enumerate(lines) if "event=connected" in l and "host=mail.example.test" in l]
    assert failed and connected and failed[0] < connected[0]
    assert "Connection refused" in lines[failed[0]]


def test_null_mx_bounces_with_5_1_10(world):
    inst, _ = world
    s = sender(inst)
    inject(inst, s, "x@nullmx.test", subject="nullmx")
    (_, _, rcpts, _), = reports(inst, s)
    assert rcpts[0]["Status"] == "5.1.10"
    assert rcpts[0]["Action"] == "failed"


def test_4xx_is_retried_then_delivered(world):
    inst, peers = world
    s = sender(inst)
    inject(inst, s, "x@temp.test", subject="tempfail")
    received(peers["temp"], "tempfail")
    assert log_events(inst, event="deferred", rcpt="x@temp.test")
    assert log_events(inst, event="sent", rcpt="x@temp.test")
    inst.wait_queue_empty()
    assert inst.messages(s) == []


def test_8bit_to_a_peer_without_8bitmime_goes_quoted_printable(world):
    inst, peers = world
    body = "Grüße aus Köln, ça va?\n" * 3
    inject(inst, sender(inst), "x@nobit.test", subject="eightbit", body=body,
           extra="MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n")
    m = received(peers["nobit"], "eightbit")[0]
    assert max(m["data"]) < 128
    parsed = email.message_from_bytes(m["data"], policy=email.policy.default)
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
    assert parsed.get_content().replace("\r\n", "\n") == body
    assert "BODY=8BITMIME" not in m["mail_options"]


def test_size_limit_refused_before_data(world):
    inst, peers = world
    s = sender(inst)
    inject(inst, s, "x@size.test", subject="big", body="x" * 70 + "\n" * 0 + ("y" * 70 + "\n") * 60)
    (_, _, rcpts, _), = reports(inst, s)
    assert rcpts[0]["Status"] == "5.3.4"
    assert peers["size"].messages == []


def test_tls_encrypt_and_verify_policies(world):
    inst, peers = world
    inject(inst, sender(inst), "x@tls.test", subject="encrypt")
    inject(inst, sender(inst), "x@ver.test", subject="verify")
    s = sender(inst)
    inject(inst, s, "x@verbad.test", subject="verifybad")
    a = received(peers["tls"], "encrypt")[0]
    b = received(peers["tls"], "verify")[0]
    assert a["tls"] and b["tls"]
    tls = log_events(inst, event="tls", host="mail.tls.test", verified="yes")
    assert tls and tls[0]["version"].startswith("TLSv1") and tls[0]["cipher"]
    wait_for(lambda: log_events(inst, event="connect_failed", host="mail.tlsbad.test"), 10, "verify failure", inst)
    failed = log_events(inst, event="connect_failed", host="mail.tlsbad.test")[0]
    assert "certificate verification failed" in failed["error"]
    assert peers["tlsbad"].messages == []
    assert "verbad.test" in inst.queue_list()  # deferred, not bounced


def test_static_route_with_auth(world):
    inst, peers = world
    inject(inst, sender(inst), "x@auth.test", subject="auth")
    m = received(peers["auth"], "auth")[0]
    assert m["auth"] == "bob"


def test_many_messages_share_one_connection(world):
    inst, peers = world
    s = sender(inst)
    for i in range(20):
        inject(inst, s, f"u{i}@many.test", subject="many")
    received(peers["many"], "many", count=20, timeout=30)
    # remote_concurrency is 2: at most one cached connection per member.
    assert 1 <= peers["many"].connections <= 2
    assert len(log_events(inst, event="connected", host="mx.many.test")) <= 2


def test_smtputf8_needed_but_not_offered(world):
    inst, _ = world
    s = sender(inst)
    inject(inst, s, "jörg@example.test", subject="utf8")
    wait_for(lambda: inst.messages(s), 20, "the bounce", inst)
    # A UTF-8 recipient: the report is message/global-delivery-status (RFC 6533).
    data = inst.messages(s)[0].read_bytes()
    assert b"Final-Recipient: utf-8; j\xc3\xb6rg@example.test" in data or b"j\xc3\xb6rg@example.test" in data
    assert b"Status: 5.6.7" in data
    assert b"Diagnostic-Code: x-sluice; SMTPUTF8 is required" in data  # ours, not a reply of the peer
    assert b"Remote-MTA" not in data


def test_unreachable_destination_expires_without_a_time_out_each(world):
    inst, peers = world
    s = sender(inst)
    for _ in range(3):
        inject(inst, s, "x@silent.test", subject="silent")
    got = reports(inst, s, count=3, timeout=40)
    for _, _, rcpts, _ in got:
        assert rcpts[0]["Action"] == "failed"
        assert rcpts[0]["Status"] == "4.4.7"
    # Marked down after the first time-out: the other attempts wait for nothing.
    assert 1 <= peers["silent"].connections <= 2
