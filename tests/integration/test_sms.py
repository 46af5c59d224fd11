"""sluice-sms against a real SMPP server (the node-smpp SMSC simulator in
../shared/peers/) and a local HTTP server: decoding and UCS-2, concatenated
parts, bind refusal, throttling, a dropped link, quiet hours, the daily cap,
the HTTP gateway transport. Requests come from sluice-local deliveries and
`sluice sms send`, as in production."""
import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from conftest import BIN, PEERS, free_port
from mailtest import wait_for as wait

PHONE = "+8613800138000"


@pytest.fixture(scope="session")
def smpp_prefix(tmp_path_factory):
    """node-smpp installed once per session (the start script would do it
    per work dir)."""
    if not os.path.exists("/usr/bin/node"):
        pytest.fail("nodejs is missing (admin/deps.sh installs it)")
    prefix = tmp_path_factory.mktemp("smpp-npm")
    r = subprocess.run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error",
                        "smpp@0.5.1"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return prefix


class Smsc:
    def __init__(self, workdir, port):
        self.dir, self.port = workdir, port
        self.logfile = workdir / "smsc-sim.jsonl"

    def events(self, kind=None):
        if not self.logfile.exists():
            return []
        evs = [json.loads(l) for l in self.logfile.read_text().splitlines() if l.strip()]
        return [e for e in evs if kind is None or e["event"] == kind]

    def accepted(self):
        return [e for e in self.events("submit_sm") if e.get("command_status") == 0]


@pytest.fixture
def smsc(tmp_path, smpp_prefix):
    started = []

    def start(*opts):
        wd = tmp_path / f"smsc{len(started)}"
        wd.mkdir()
        port = free_port()
        env = dict(os.environ, SMPP_PREFIX=str(smpp_prefix))
        r = subprocess.run([str(PEERS / "smsc-sim-start.sh"), str(wd), str(port), *opts], env=env,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        s = Smsc(wd, port)
        started.append(s)
        return s

    yield start
    for s in started:
        subprocess.run([str(PEERS / "stop-peer.sh"), str(s.dir / "smsc-sim.pid")], timeout=20)


class Sms:
    """bin/sluice-sms as a daemon, stopped (SIGTERM, then SIGKILL) at the end."""

    def __init__(self, inst, env=None):
        self.log = inst.root / "sms.log"
        self.f = open(self.log, "ab")
        self.p = subprocess.Popen([str(BIN / "sluice-sms")], env=dict(inst.env, **(env or {})), stdout=self.f,
                                  stderr=self.f, stdin=subprocess.DEVNULL)

    def text(self):
        return self.log.read_text(errors="replace")

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.f.close()
        return self.p.returncode


@pytest.fixture
def sms(instance):
    running = []

    def start(env=None):
        s = Sms(instance, env)
        running.append(s)
        return s

    yield start
    for s in running:
        s.stop()


def smpp_config(inst, smsc, **extra):
    smpp = {"host": "127.0.0.1", "port": smsc.port, "system_id": "mta", "password": "secret"}
    smpp.update(extra.pop("smpp", {}))
    inst.configure({"sms": dict({"transport": "smpp", "retry_first": "1s", "retry_max": "2s", "smpp": smpp}, **extra)})


def spool(inst):
    d = inst.root / "queue" / "notify" / "new"
    return sorted(d.iterdir()) if d.exists() else []


def deliver(inst, rcpt, frm, subject):
    msg = f"From: {frm}\nTo: {rcpt}\nSubject: {subject}\n\nbody\n".encode()
    r = inst.run("sluice-local", "--sender", "a@sender.test", "--rcpt", rcpt, input=msg, check=False, timeout=30)
    assert r.returncode == 0, r.stderr


def add_user(inst, addr, phone=PHONE, *sms_args):
    inst.run("sluice", "user", "add", addr, "--password", "pw")
    inst.run("sluice", "user", "sms", addr, "--phone", phone, "--on", *sms_args)


def test_chinese_sender_arrives_as_ucs2_with_a_receipt(instance, smsc, sms):
    s = smsc("--dlr")
    smpp_config(instance, s, smpp={"receipts": True})
    add_user(instance, "bob@example.test")
    # From and Subject as a Chinese mail client writes them: GB2312, base64.
    deliver(instance, "bob@example.test", "=?GB2312?B?1cXI/Q==?= <zhangsan@example.cn>", "=?GB2312?B?u+HS6c2o1qo=?=")
    assert len(spool(instance)) == 1
    d = sms()
    (sub,) = wait(lambda: s.accepted(), 15, "submit_sm")
    want = "From: 张三 <zhangsan@example.cn> Subj: 会议通知"
    assert sub["data_coding"] == 8
    assert sub["hex"] == want.encode("utf-16-be").hex()
    assert sub["text"] == want
    assert (sub["destination_addr"], sub["dest_addr_ton"], sub["dest_addr_npi"]) == ("8613800138000", 1, 1)
    assert sub["registered_delivery"] == 1
    assert s.events("bind_transceiver")[0]["ok"]
    wait(lambda: not spool(instance), 10, "the request to leave the spool")
    wait(lambda: "event=sms_receipt" in d.text(), 10, "the receipt logged")
    line = [l for l in d.text().splitlines() if "event=sms_receipt" in l][0]
    assert "stat=DELIVRD" in line and "message_id=" + sub["message_id"] in line and "qid=standalone" in line
    assert d.stop() == 0
    assert s.events("unbind"), "unbind on shutdown"


def test_long_text_arrives_as_concatenated_parts(instance, smsc, sms):
    s = smsc()
    smpp_config(instance, s, max_parts=4)
    text = "; ".join(f"line {i:03d} of a long notice" for i in range(20))  # 538 GSM characters
    instance.run("sluice", "sms", "send", "--to", PHONE, "--text", text)
    sms()
    parts = wait(lambda: len(s.accepted()) >= 4 and s.accepted(), 15, "4 parts")
    assert len(parts) == 4
    ref = None
    body = b""
    for i, p in enumerate(parts, 1):
        raw = bytes.fromhex(p["hex"])
        assert p["esm_class"] & 0x40 and p["data_coding"] == 0
        assert raw[:3] == b"\x05\x00\x03" and raw[4] == 4 and raw[5] == i
        ref = raw[3] if ref is None else ref
        assert raw[3] == ref
        assert len(raw) - 6 <= 153
        body += raw[6:]
    assert body.decode("ascii") == text  # ASCII letters are their own GSM septets


def test_too_long_text_is_trimmed_to_one_sms(instance, smsc, sms):
    s = smsc()
    smpp_config(instance, s, max_parts=1)
    instance.run("sluice", "sms", "send", "--to", PHONE, "--text", "x" * 400)
    sms()
    (p,) = wait(lambda: s.accepted(), 15, "submit_sm")
    assert p["esm_class"] == 0 and bytes.fromhex(p["hex"]) == b"x" * 157 + b"..."


def test_bind_refused_is_logged_and_retried(instance, smsc, sms):
    s = smsc()
    smpp_config(instance, s, smpp={"password": "wrong"})
    instance.run("sluice", "sms", "send", "--to", PHONE, "--text", "hello")
    d = sms()
    wait(lambda: len(s.events("bind_transmitter")) >= 2, 15, "a second bind attempt")
    assert all(not e["ok"] and e["command_status"] == 0x0E for e in s.events("bind_transmitter"))
    assert "event=smpp_bind_refused" in d.text() and "name=ESME_RINVPASWD" in d.text()
    assert not s.accepted() and len(spool(instance)) == 1  # kept for when the password is fixed


def test_throttling_is_obeyed_and_nothing_lost(instance, smsc, sms):
    s = smsc("--throttle-every", "3")
    smpp_config(instance, s, smpp={"throttle_backoff": "1s"})
    phones = [f"+86138001380{i:02d}" for i in range(6)]
    for ph in phones:
        instance.run("sluice", "sms", "send", "--to", ph, "--text", "ping " + ph)
    d = sms()
    wait(lambda: not spool(instance), 40, "the spool to drain")
    assert sorted(e["destination_addr"] for e in s.accepted()) == sorted(p[1:] for p in phones)
    evs = s.events("submit_sm")
    throttled = [i for i, e in enumerate(evs) if e["command_status"] == 0x58]
    assert throttled
    assert "event=smpp_retry" in d.text() and "ESME_RTHROTTLED" in d.text()
    # A throttled submit goes again only after the back-off (1s), and no
    # submit_sm at all leaves in that pause (those already in the window
    # arrive within milliseconds of the throttle answer).
    ts = lambda e: time.mktime(time.strptime(e["ts"][:19], "%Y-%m-%dT%H:%M:%S")) + float("0." + e["ts"][20:23])
    first = evs[throttled[0]]
    again = [e for e in s.accepted() if e["destination_addr"] == first["destination_addr"]]
    assert again and ts(again[0]) - ts(first) >= 0.9
    assert not [e for e in evs if 0.1 < ts(e) - ts(first) < 0.9]


def test_dropped_link_loses_nothing(instance, smsc, sms):
    s = smsc("--drop-after", "2")
    smpp_config(instance, s)
    phones = [f"+86138001381{i:02d}" for i in range(5)]
    for ph in phones:
        instance.run("sluice", "sms", "send", "--to", ph, "--text", "drop " + ph)
    d = sms()
    wait(lambda: not spool(instance), 40, "the spool to drain after the drop")
    assert s.events("drop")
    assert set(e["destination_addr"] for e in s.accepted()) == set(p[1:] for p in phones)
    assert len(s.events("bind_transmitter")) >= 2  # reconnected
    assert "event=smpp_link_lost" in d.text()


def test_quiet_hours_hold_until_they_end(instance, smsc, sms):
    s = smsc()
    smpp_config(instance, s)
    now = time.gmtime()
    start, end = (now.tm_hour * 60 + now.tm_min - 60) % 1440, (now.tm_hour * 60 + now.tm_min + 60) % 1440
    quiet = f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
    add_user(instance, "carol@example.test", PHONE, "--quiet", quiet)
    deliver(instance, "carol@example.test", "Alice <alice@x.test>", "lunch")
    d = sms(env={"TZ": "UTC"})  # inside the quiet hours
    wait(lambda: "event=sms_quiet_hours" in d.text(), 10, "the quiet hours line")
    time.sleep(1.5)
    assert not s.accepted() and len(spool(instance)) == 1
    d.stop()
    # Three hours later in local time (POSIX TZ "UTC-3" is UTC+3) the hours are over.
    sms(env={"TZ": "UTC-3"})
    (p,) = wait(lambda: s.accepted(), 15, "the notice after the quiet hours")
    assert p["text"] == "From: Alice <alice@x.test> Subj: lunch"
    wait(lambda: not spool(instance), 10, "the spool to drain")


def test_daily_cap_and_match_words(instance, smsc, sms):
    s = smsc()
    smpp_config(instance, s)
    add_user(instance, "dave@example.test", PHONE, "--daily-cap", "2", "--match", "urgent")
    deliver(instance, "dave@example.test", "boss@x.test", "lunch menu")      # no match word: no SMS
    for i in range(3):
        deliver(instance, "dave@example.test", "boss@x.test", f"URGENT {i}")  # the third is over the cap
    d = sms()
    wait(lambda: not spool(instance), 15, "the spool to drain")
    time.sleep(0.5)
    assert [p["text"] for p in s.accepted()] == ["From: boss@x.test Subj: URGENT 0", "From: boss@x.test Subj: URGENT 1"]
    assert "event=sms_not_wanted" in d.text() and "event=sms_daily_cap" in d.text()
    # The count survives a restart: a fourth notice the same day is capped too.
    d.stop()
    deliver(instance, "dave@example.test", "boss@x.test", "URGENT 3")
    d2 = sms()
    wait(lambda: "event=sms_daily_cap" in d2.text(), 10, "the cap after a restart")
    assert len(s.accepted()) == 2


def test_expired_request_is_dropped_with_a_log_line(instance, smsc, sms):
    s = smsc()
    smpp_config(instance, s, max_age="1h")
    instance.run("sluice", "sms", "send", "--to", PHONE, "--text", "old news")
    (f,) = spool(instance)
    text = f.read_text()
    created = int([l for l in text.splitlines() if l.startswith("created=")][0].split("=")[1])
    f.write_text(text.replace(f"created={created}", f"created={created - 7200}"))
    d = sms()
    wait(lambda: "event=sms_expired" in d.text(), 10, "the expiry line")
    assert not spool(instance) and not s.accepted()


class Gateway(BaseHTTPRequestHandler):
    posts = []
    fail_first = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Gateway.posts.append((self.path, dict(self.headers), body))
        code = 503 if Gateway.fail_first > 0 else 200
        Gateway.fail_first -= 1
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def test_http_gateway_posts_json_and_retries_a_503(instance, sms):
    Gateway.posts, Gateway.fail_first = [], 1
    srv = HTTPServer(("127.0.0.1", free_port()), Gateway)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        instance.configure({"sms": {"transport": "http", "retry_first": "1s", "source_addr": "Sluice",
                                    "http": {"url": f"http://127.0.0.1:{srv.server_port}/send",
                                             "headers": {"Authorization": "Bearer t0k"},
                                             "body": '{"from":"{from}","to":"{to}","text":"{text}"}'}}})
        instance.run("sluice", "sms", "send", "--to", PHONE, "--text", 'say "hi" 你好')
        d = sms()
        wait(lambda: not spool(instance), 15, "the spool to drain")
        assert len(Gateway.posts) == 2  # the 503 was retried
        path, headers, body = Gateway.posts[1]
        assert path == "/send" and headers["Authorization"] == "Bearer t0k"
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"from": "Sluice", "to": PHONE, "text": 'say "hi" 你好'}
        assert "event=sms_deferred" in d.text() and "HTTP 503" in d.text()
    finally:
        srv.shutdown()
        srv.server_close()


def test_whole_chain_sendmail_to_sms_under_sluice_start(instance, smsc):
    """sendmail -> sluice-sched -> sluice-local (request in the spool) ->
    sluice-sms started by sluice-start under its own account -> the SMSC;
    the queue id of the mail is on the SMS lines of the log."""
    s = smsc()
    smpp_config(instance, s)
    add_user(instance, "bob@example.test")
    instance.start()
    assert "name=sluice-sms" in instance.log()
    msg = ("From: =?GB2312?B?1cXI/Q==?= <zhangsan@example.cn>\nTo: bob@example.test\n"
           "Subject: =?GB2312?B?u+HS6c2o1qo=?=\n\nbody\n").encode()
    r = instance.sendmail(msg, "bob@example.test", sender="zhangsan@example.cn")
    assert r.returncode == 0, r.stderr
    (sub,) = wait(lambda: s.accepted(), 20, "submit_sm from the running instance")
    assert sub["text"] == "From: 张三 <zhangsan@example.cn> Subj: 会议通知"
    wait(lambda: not spool(instance), 10, "the request to leave the spool")
    qid = [l for l in instance.log().splitlines() if "prog=sluice-sched" in l and "event=new" in l][0]
    qid = qid.split("qid=")[1].split()[0]
    sms_lines = [l for l in instance.log().splitlines() if "prog=sluice-sms" in l and f"qid={qid}" in l]
    assert sms_lines, instance.log()[-3000:]


def test_sigkill_mid_drain_loses_no_request(instance, smsc, sms):
    """A request leaves the spool only after the SMSC accepted it: SIGKILL
    of sluice-sms in the middle of a drain, then a restart, and every
    request reaches the SMSC (a repeat is allowed, a loss is not)."""
    s = smsc("--throttle-every", "2")  # slow enough to be caught mid-way
    smpp_config(instance, s, smpp={"throttle_backoff": "1s", "window": 1})
    phones = [f"+86138001382{i:02d}" for i in range(6)]
    for ph in phones:
        instance.run("sluice", "sms", "send", "--to", ph, "--text", "crash " + ph)
    d = sms()
    wait(lambda: len(spool(instance)) <= len(phones) - 2, 20, "the first SMS to leave the spool")
    d.p.kill()
    d.p.wait()
    left = len(spool(instance))
    assert 0 < left < len(phones), left
    sms()
    wait(lambda: not spool(instance), 40, "the spool to drain after the restart")
    got = {e["destination_addr"] for e in s.accepted()}
    assert got == {p[1:] for p in phones}
