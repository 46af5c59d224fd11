"""The scheduler's timing and the operator's queue commands on a running
instance: a retry comes after its backoff, not before; `sluice queue hold`,
`release`, `delete` and `flush`. A recipient over quota (local.quota_exceeded
= "defer") is the deferral: it fails on every attempt until the quota is
raised, without any remote peer."""
import calendar
import threading
import time

import pytest

from mailtest import DOMAIN, SENDER, log_events, message, parse_line, prepare, queue_lines, settle, wait_for, wait_log

pytestmark = pytest.mark.timeout(120)

BOB = f"bob@{DOMAIN}"


class LogWatch:
    """Notes the wall-clock time each log line appears (the lines carry no
    time: multilog or journald adds it)."""

    def __init__(self, inst):
        self.path = inst.root / "log" / "sluice.log"
        self.lines = []  # (time, fields)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        pos, buf = 0, b""
        while not self._stop.is_set():
            with open(self.path, "rb") as f:
                f.seek(pos)
                data = f.read()
            now = time.time()
            pos += len(data)
            buf += data
            *done, buf = buf.split(b"\n")
            self.lines += [(now, parse_line(l.decode(errors="replace"))) for l in done]
            time.sleep(0.005)

    def times(self, **match):
        return [t for t, f in list(self.lines) if all(f.get(k) == v for k, v in match.items())]

    def stop(self):
        self._stop.set()
        self._t.join()


def over_quota(inst, subject="over quota", **queue):
    """Starts INST with bob over his quota and sends him a message; returns
    its qid once the first attempt has been deferred."""
    prepare(inst, "bob", queue=queue)
    inst.run("sluice", "user", "quota", BOB, "200")
    assert inst.sendmail(message(subject, "q" * 1000 + "\n"), BOB, sender=SENDER).returncode == 0
    ev = wait_log(inst, prog="sluice-sched", event="delivery", rcpt=BOB, status="deferred")[0]
    assert ev["dsn"] == "4.2.2"
    return ev["qid"]


def attempts(inst, qid):
    return len(log_events(inst, prog="sluice-sched", event="delivery", qid=qid))


def show_field(inst, qid, name):
    for line in inst.run("sluice", "queue", "show", qid).stdout.splitlines():
        if line.startswith(name + ": "):
            return line.split(": ", 1)[1]
    return None


def test_retry_comes_after_the_backoff_not_before(instance):
    inst = instance
    prepare(inst, "bob", queue={"retry_first": "2s", "retry_max": "4s"})
    inst.run("sluice", "user", "quota", BOB, "200")
    watch = LogWatch(inst)
    try:
        assert inst.sendmail(message("retry timing", "r" * 1000 + "\n"), BOB, sender=SENDER).returncode == 0
        deferred = dict(prog="sluice-sched", event="delivery", rcpt=BOB, status="deferred")
        [t1] = wait_for(lambda: watch.times(**deferred) or None, 20, "the first attempt", inst)
        qid = log_events(inst, **deferred)[0]["qid"]
        # The scheduler's own record of when it will try again (whole seconds).
        next_try = calendar.timegm(time.strptime(show_field(inst, qid, "next_try"), "%Y-%m-%dT%H:%M:%SZ"))
        assert show_field(inst, qid, "tries") == "1"
        assert 1 - 0.2 < next_try - t1 <= 2 + 0.05, (next_try, t1)
        t = wait_for(lambda: (lambda v: v if len(v) >= 3 else None)(watch.times(**deferred)), 20,
                     "three attempts", inst)
    finally:
        watch.stop()
    t1, t2, t3 = t[:3]
    # Not before the recorded retry time (observation only ever lags), nor much after it.
    assert t2 >= next_try - 0.05, (t2, next_try)
    assert t2 - next_try < 1.5
    # The scheduler counts in whole seconds: a 2 s backoff is over 1 s and at most 2 s of
    # real time; the next one doubles (4 s: over 3 s).
    assert 1.0 < t2 - t1 < 2.0 + 1.0, t
    assert 3.0 < t3 - t2 < 4.0 + 1.0, t


def test_hold_keeps_a_message_out_of_delivery_and_release_delivers_it(instance):
    inst = instance
    qid = over_quota(inst)
    r = inst.run("sluice", "queue", "hold", qid)
    assert r.stdout.strip() == f"{qid}: held"
    [line] = queue_lines(inst)
    assert line[0] == qid and line[3] == "held"
    before = attempts(inst, qid)
    inst.run("sluice", "user", "quota", BOB, "none")
    # Neither the retry timer (1 s) nor a flush may touch a held message.
    inst.run("sluice", "queue", "flush")
    wait_log(inst, prog="sluice-sched", event="flush")
    time.sleep(3)
    assert inst.messages(BOB) == []
    assert attempts(inst, qid) <= before + 1  # at most the attempt already in flight
    assert queue_lines(inst)[0][3] == "held"
    r = inst.run("sluice", "queue", "release", qid)
    assert r.stdout.strip() == f"{qid}: released"
    [p] = inst.wait_for_mail(BOB, timeout=15)
    assert b"Subject: over quota" in p.read_bytes()
    settle(inst, 0.5)
    assert inst.messages(SENDER) == []


def test_hold_before_start_then_release(instance):
    """A message held while nothing runs stays held when the scheduler starts."""
    inst = instance
    inst.run("sluice", "user", "add", BOB)
    assert inst.sendmail(message("held early"), BOB, sender=SENDER).returncode == 0
    [line] = queue_lines(inst)
    qid = line[0]
    inst.run("sluice", "queue", "hold", qid)
    prepare(inst)
    time.sleep(2)
    assert inst.messages(BOB) == [] and queue_lines(inst)[0][3] == "held"
    inst.run("sluice", "queue", "release", qid)
    inst.wait_for_mail(BOB, timeout=15)
    inst.wait_queue_empty()


def test_delete_removes_a_queued_message(instance):
    inst = instance
    qid = over_quota(inst)
    r = inst.run("sluice", "queue", "delete", qid)
    assert r.stdout.strip() == f"{qid}: deleted"
    assert inst.queue_list() == ""
    inst.run("sluice", "user", "quota", BOB, "none")
    inst.run("sluice", "queue", "flush")
    time.sleep(3)
    assert inst.messages(BOB) == [] and inst.messages(SENDER) == []  # gone, and no bounce
    assert inst.queue_list() == ""
    r = inst.run("sluice", "queue", "show", qid, check=False)
    assert r.returncode != 0


def test_flush_retries_now(instance):
    inst = instance
    qid = over_quota(inst, retry_first="1h", retry_max="1h")
    inst.run("sluice", "user", "quota", BOB, "none")
    time.sleep(2)
    # The next retry is an hour away.
    assert inst.messages(BOB) == [] and attempts(inst, qid) == 1
    t0 = time.time()
    inst.run("sluice", "queue", "flush")
    inst.wait_for_mail(BOB, timeout=10)
    assert time.time() - t0 < 5
    inst.wait_queue_empty()
    assert log_events(inst, prog="sluice-sched", event="flush")
    [ev] = log_events(inst, prog="sluice-sched", event="delivery", qid=qid, status="sent")
