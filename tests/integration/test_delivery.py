"""The local path through the real programs: sendmail and sluice-inject
into the queue, sluice-sched, the sluice-local pool, Maildir++ (names,
content, single copy), aliases, catch-all, +tag, forwarding, quotas."""
import os
import pwd
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mailtest import (DOMAIN, REMOTE, SENDER, dead_port_config, envelope, log_events, message, name_fields,
                      prepare, queue_lines, queue_reasons, read_report, settle, wait_for, wait_log, FAST_QUEUE)

pytestmark = pytest.mark.timeout(180)

BOB = f"bob@{DOMAIN}"


def staging_files(inst):
    return [p for p in (inst.root / "queue" / "msg").rglob("*") if p.is_file()]


# --- sendmail -> Maildir ----------------------------------------------------------

def test_sendmail_to_maildir(instance):
    inst = instance
    prepare(inst, "bob")
    body = ("first line\n.\n..two dots\nFrom the start of a line\n"
            "tr\u00e8s \u00e9l\u00e8ve, \u4e2d\u6587\n" + "x" * 990 + "\ntrailing space \n\nlast\n")
    msg = message("intact", body, extra="Content-Type: text/plain; charset=utf-8\n"
                  "Content-Transfer-Encoding: 8bit\nMIME-Version: 1.0\n")
    r = inst.sendmail(msg, BOB, sender=SENDER)
    assert r.returncode == 0, r.stderr
    [path] = inst.wait_for_mail(BOB)
    data = path.read_bytes()
    assert data == b"Return-Path: <alice@example.test>\nDelivered-To: bob@example.test\n" + msg

    # Dovecot-style name in new/, S= the file's exact size, the host named.
    assert path.parent == inst.maildir(BOB) / "new"
    f = name_fields(path)
    st = path.stat()
    assert f["size"] == st.st_size == len(data)
    assert abs(f["sec"] - time.time()) < 120 and 0 <= f["usec"] < 1_000_000
    assert f["host"] == inst.read_config().get("hostname", os.uname().nodename).replace("/", "\\057").replace(":", "\\072")
    for sub in ("cur", "new", "tmp"):
        assert (inst.maildir(BOB) / sub).is_dir()
    assert os.listdir(inst.maildir(BOB) / "tmp") == []
    if os.geteuid() == 0:
        # Written by the pool member running as the mailbox account.
        assert st.st_uid == pwd.getpwnam("sluice-mbox").pw_uid
    assert st.st_mode & 0o077 == 0

    inst.wait_queue_empty()
    assert inst.queue_list() == ""
    [ev] = log_events(inst, prog="sluice-sched", event="delivery", rcpt=BOB)
    assert ev["status"] == "sent" and ev["dsn"].startswith("2.")
    qid = ev["qid"]
    assert log_events(inst, prog="sluice-local", qid=qid, status="sent")
    assert log_events(inst, prog="sluice-sched", event="removed", qid=qid)


# --- sluice-inject: the qmail-queue interface ------------------------------------

def test_inject_plain_qmail_envelope(instance):
    inst = instance
    prepare(inst, "bob", "carol")
    msg = message("plain qmail envelope")
    r = inst.inject(msg, b"F" + SENDER.encode() + b"\0TBob@Example.TEST\0Tcarol@example.test\0\0")
    assert r.returncode == 0, r.stderr
    [b] = inst.wait_for_mail(BOB)
    [c] = inst.wait_for_mail(f"carol@{DOMAIN}")
    # One copy for two mailboxes: no Delivered-To naming just one of them.
    assert b.read_bytes() == c.read_bytes() == b"Return-Path: <alice@example.test>\n" + msg
    assert os.stat(b).st_ino == os.stat(c).st_ino
    inst.wait_queue_empty()


def test_inject_extra_records(instance):
    """R, E, N and O records are kept in the queue file and reach the reports."""
    inst = instance
    for u in ("alice", "bob"):
        inst.run("sluice", "user", "add", f"{u}@{DOMAIN}")
    inst.configure({"queue": FAST_QUEUE, **dead_port_config(inst)})
    msg = message("extra records", "the body must not come back\n")
    env = envelope(SENDER, (BOB, "SUCCESS,FAILURE", "rfc822;bob-orig@elsewhere.test"),
                   (f"nobody@{DOMAIN}", "FAILURE", "rfc822;nobody-orig@elsewhere.test"),
                   ret="HDRS", envid="ENV-42")
    r = inst.inject(msg, env)
    assert r.returncode == 0, r.stderr
    [line] = queue_lines(inst)
    shown = inst.run("sluice", "queue", "show", line[0]).stdout
    assert "param: ret=HDRS" in shown and "param: envid=ENV-42" in shown
    assert f"rcpt: <{BOB}> pending notify=SUCCESS,FAILURE orcpt=rfc822;bob-orig@elsewhere.test" in shown
    assert f"rcpt: <nobody@{DOMAIN}> pending notify=FAILURE orcpt=rfc822;nobody-orig@elsewhere.test" in shown

    inst.start()
    inst.wait_for_mail(BOB)
    reports = [read_report(p) for p in inst.wait_for_mail(SENDER, 2)]
    settle(inst)
    assert len(inst.messages(SENDER)) == 2
    by_action = {r[2][0]["Action"]: r for r in reports}
    assert set(by_action) == {"delivered", "failed"}
    for action, (msg_, per_msg, rcpts, third) in by_action.items():
        assert per_msg["Original-Envelope-Id"] == "ENV-42"
        [rc] = rcpts
        # RET=HDRS: the headers come back, never the body.
        assert third.get_content_type() == "text/rfc822-headers"
        assert b"the body must not come back" not in bytes(third)
    assert by_action["delivered"][2][0]["Original-Recipient"] == "rfc822;bob-orig@elsewhere.test"
    assert by_action["failed"][2][0]["Original-Recipient"] == "rfc822;nobody-orig@elsewhere.test"


MALFORMED = {
    "no F record first": b"T" + BOB.encode() + b"\0\0",
    "no terminating record": b"F" + SENDER.encode() + b"\0T" + BOB.encode() + b"\0",
    "record without NUL": b"F" + SENDER.encode() + b"\0T" + BOB.encode(),
    "no recipient": b"F" + SENDER.encode() + b"\0\0",
    "two F records": b"F" + SENDER.encode() + b"\0F" + SENDER.encode() + b"\0T" + BOB.encode() + b"\0\0",
    "unknown record": b"F" + SENDER.encode() + b"\0T" + BOB.encode() + b"\0Zjunk\0\0",
    "bad NOTIFY": b"F" + SENDER.encode() + b"\0T" + BOB.encode() + b"\0NSOMETIMES\0\0",
    "N before any T": b"F" + SENDER.encode() + b"\0NNEVER\0T" + BOB.encode() + b"\0\0",
    "bad RET": b"F" + SENDER.encode() + b"\0RPARTIAL\0T" + BOB.encode() + b"\0\0",
    "data after the end": b"F" + SENDER.encode() + b"\0T" + BOB.encode() + b"\0\0junk",
    "recipient not an address": b"F" + SENDER.encode() + b"\0Tnot an address\0\0",
    "empty envelope": b"",
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_inject_malformed_envelope_exits_91(instance, case):
    r = instance.inject(message("malformed"), MALFORMED[case])
    assert r.returncode == 91, (case, r.returncode, r.stderr)
    # The refusal is one reply line for sluice-smtpd to relay.
    assert r.stderr.count(b"\n") == 1 and r.stderr[:2] in (b"4.", b"5."), r.stderr
    assert instance.queue_list() == ""
    assert staging_files(instance) == []


def _address(length):
    """A syntactically valid address of LENGTH octets (local part 64)."""
    rest = length - 65
    labels = []
    while rest > 0:
        n = min(63, rest)
        if rest - n == 1:  # would leave a dot with no label after it
            n -= 1
        labels.append("abcdefgh"[len(labels)] * n)
        rest -= n + 1
    a = "l" * 64 + "@" + ".".join(labels)
    assert len(a) == length, (length, len(a))
    return a


def test_inject_address_over_256_octets_exits_11(instance):
    inst = instance
    over = _address(257)
    for env in (envelope(SENDER, over), envelope(over, BOB), envelope(SENDER, BOB, over)):
        r = inst.inject(message("too long"), env)
        assert r.returncode == 11, (r.returncode, r.stderr)
        assert r.stderr.startswith(b"5.1.") and r.stderr.count(b"\n") == 1, r.stderr
    assert inst.queue_list() == ""
    assert staging_files(inst) == []
    # The longest address RFC 5321 allows (a 256-octet path with its brackets) is queued.
    at_limit = _address(254)
    r = inst.inject(message("just fits"), envelope(at_limit, at_limit))
    assert r.returncode == 0, r.stderr
    [line] = queue_lines(inst)
    assert line[5:] == [at_limit, at_limit]


@pytest.mark.parametrize("length", [255, 256])
def test_inject_address_of_255_or_256_octets_is_too_long_exit_11(instance, length):
    r = instance.inject(message("too long"), envelope(SENDER, _address(length)))
    assert r.returncode == 11, (r.returncode, r.stderr)


# --- single copy --------------------------------------------------------------

def test_thousand_recipients_share_one_inode(instance):
    inst = instance
    users = [f"u{i:04d}@{DOMAIN}" for i in range(1000)]
    t0 = time.time()
    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda u: inst.run("sluice", "user", "add", u, check=False), users))
    assert [r.stderr for r in results if r.returncode != 0] == []
    assert time.time() - t0 < 60, "creating 1000 users with `sluice user add` took too long"
    prepare(inst)
    msg = message("to a thousand", "one copy\n")
    r = inst.inject(msg, envelope(SENDER, *users))
    assert r.returncode == 0, r.stderr
    inst.wait_queue_empty(timeout=120)
    inodes = set()
    for u in users:
        [p] = inst.messages(u)
        st = p.stat()
        inodes.add((st.st_dev, st.st_ino))
        assert st.st_nlink == 1000, (u, st.st_nlink)
    assert len(inodes) == 1
    assert p.read_bytes() == b"Return-Path: <alice@example.test>\n" + msg
    assert len(log_events(inst, prog="sluice-sched", event="delivery", status="sent")) == 1000
    assert inst.messages(SENDER) == []  # no report of any kind


# --- aliases, catch-all, +tag ------------------------------------------------------

def test_alias_with_several_targets(instance):
    inst = instance
    inst.run("sluice", "alias", "add", f"team@{DOMAIN}", BOB, f"carol@{DOMAIN}", f"dave@{DOMAIN}")
    prepare(inst, "bob", "carol", "dave")
    msg = message("to the team")
    assert inst.sendmail(msg, f"team@{DOMAIN}", sender=SENDER).returncode == 0
    paths = [inst.wait_for_mail(f"{u}@{DOMAIN}")[0] for u in ("bob", "carol", "dave")]
    settle(inst, 0.5)
    assert {p.stat().st_ino for p in paths} == {paths[0].stat().st_ino}
    assert all(len(inst.messages(f"{u}@{DOMAIN}")) == 1 for u in ("bob", "carol", "dave"))
    assert paths[0].read_bytes() == b"Return-Path: <alice@example.test>\n" + msg
    assert inst.messages(SENDER) == []
    assert not (inst.root / "mail" / DOMAIN / "team").exists()


def test_catch_all(instance):
    inst = instance
    inst.run("sluice", "alias", "add", f"@{DOMAIN}", f"catch@{DOMAIN}")
    prepare(inst, "bob", "catch")
    assert inst.sendmail(message("to nobody in particular"), f"whoever@{DOMAIN}", sender=SENDER).returncode == 0
    assert inst.sendmail(message("to bob"), BOB, sender=SENDER).returncode == 0
    [c] = inst.wait_for_mail(f"catch@{DOMAIN}")
    [b] = inst.wait_for_mail(BOB)
    settle(inst, 0.5)
    assert b"Subject: to nobody in particular" in c.read_bytes()
    assert b"Delivered-To: catch@example.test\n" in c.read_bytes()
    # A real user is never caught by the catch-all.
    assert b"Subject: to bob" in b.read_bytes() and len(inst.messages(f"catch@{DOMAIN}")) == 1
    assert inst.messages(SENDER) == []


def test_plus_tag(instance):
    inst = instance
    prepare(inst, "bob")
    assert inst.sendmail(message("tagged"), f"bob+lists@{DOMAIN}", sender=SENDER).returncode == 0
    [p] = inst.wait_for_mail(BOB)
    assert b"Delivered-To: bob@example.test\n" in p.read_bytes()
    inst.wait_queue_empty()
    [ev] = log_events(inst, prog="sluice-sched", event="delivery")
    assert ev["rcpt"] == f"bob+lists@{DOMAIN}" and ev["status"] == "sent"
    assert not (inst.root / "mail" / DOMAIN / "bob+lists").exists()


def test_forward_to_remote_address_is_queued_for_remote_delivery(instance):
    inst = instance
    target = f"far@{REMOTE}"
    inst.run("sluice", "alias", "add", f"fwd@{DOMAIN}", target, BOB)
    prepare(inst, "bob")
    msg = message("forward me")
    assert inst.sendmail(msg, f"fwd@{DOMAIN}", sender=SENDER).returncode == 0
    inst.wait_for_mail(BOB)

    def forwarded():
        lines = queue_lines(inst)
        return lines if len(lines) == 1 and lines[0][3] == "deferred" else None

    [line] = wait_for(forwarded, 20, "the forwarded copy deferred in the queue", inst)
    qid = line[0]
    # The forward keeps the envelope sender and names only the outside target.
    assert line[5:] == [SENDER, target]
    ev = wait_log(inst, prog="sluice-sched", event="delivery", qid=qid, rcpt=target)[0]
    assert ev["status"] == "deferred" and ev["dsn"] == "4.4.1", ev
    shown = inst.run("sluice", "queue", "show", qid).stdout
    assert "Delivered-To: fwd@example.test\n" in shown and "Subject: forward me" in shown
    # The original is done: its local recipient was delivered and forwarded.
    orig = log_events(inst, prog="sluice-sched", event="delivery", rcpt=f"fwd@{DOMAIN}")
    assert [e["status"] for e in orig] == ["sent"]
    assert log_events(inst, prog="sluice-sched", event="removed", qid=orig[0]["qid"])
    assert inst.messages(SENDER) == []


# --- quotas -------------------------------------------------------------------

def test_quota_defer_then_delivered_after_raise(instance):
    inst = instance
    prepare(inst, "bob")
    inst.run("sluice", "user", "quota", BOB, "200")
    msg = message("big", "x" * 1000 + "\n")
    assert inst.sendmail(msg, BOB, sender=SENDER).returncode == 0
    # Deferred, and tried again after the backoff.
    evs = wait_log(inst, count=2, prog="sluice-sched", event="delivery", rcpt=BOB, status="deferred")
    assert all(e["dsn"] == "4.2.2" for e in evs), evs
    assert log_events(inst, prog="sluice-local", rcpt=BOB, status="deferred", dsn="4.2.2")
    [line] = queue_lines(inst)
    assert line[3] == "deferred" and int(line[4]) >= 1 and line[5:] == [SENDER, BOB]
    assert inst.messages(BOB) == []
    inst.run("sluice", "user", "quota", BOB, "1M")
    [p] = inst.wait_for_mail(BOB, timeout=15)
    assert p.read_bytes().endswith(msg)
    inst.wait_queue_empty()
    assert inst.messages(SENDER) == []  # a deferral is no bounce


def test_quota_bounce_mode(instance):
    inst = instance
    prepare(inst, "bob", local={"quota_exceeded": "bounce"})
    inst.run("sluice", "user", "quota", BOB, "200")
    assert inst.sendmail(message("too big", "y" * 1000 + "\n"), BOB, sender=SENDER).returncode == 0
    [p] = inst.wait_for_mail(SENDER)
    settle(inst)
    _, _, [rc], _ = read_report(p)
    assert rc["Action"] == "failed" and rc["Status"] == "5.2.2"
    assert rc["Final-Recipient"].lower() == f"rfc822; {BOB}"
    assert "quota" in rc["Diagnostic-Code"]
    assert inst.messages(BOB) == [] and len(inst.messages(SENDER)) == 1


def test_quota_counts_what_was_delivered(instance):
    """The second message no longer fits once the first is in the mailbox."""
    inst = instance
    prepare(inst, "bob")
    inst.run("sluice", "user", "quota", BOB, "2000")
    assert inst.sendmail(message("first", "1" * 1200 + "\n"), BOB, sender=SENDER).returncode == 0
    [first] = inst.wait_for_mail(BOB)
    inst.wait_queue_empty()
    assert inst.sendmail(message("second", "2" * 1200 + "\n"), BOB, sender=SENDER).returncode == 0
    ev = wait_log(inst, prog="sluice-sched", event="delivery", rcpt=BOB, status="deferred")[0]
    assert ev["dsn"] == "4.2.2"
    assert inst.messages(BOB) == [first]
    # Bob's mail client makes room the Maildir++ way: it removes the file and
    # appends the negative delta to maildirsize (as Dovecot does). The retry delivers.
    size = name_fields(first)["size"]
    first.unlink()
    with open(inst.maildir(BOB) / "maildirsize", "a") as f:
        f.write(f"-{size} -1\n")
    [p] = inst.wait_for_mail(BOB, timeout=15)
    assert b"Subject: second" in p.read_bytes()
    inst.wait_queue_empty()


@pytest.mark.parametrize("kind", ["quota", "remote"])
def test_queue_list_shows_the_deferral_reason(instance, kind):
    inst = instance
    prepare(inst, "bob")
    inst.run("sluice", "user", "quota", BOB, "200")
    rcpt, code = (BOB, "4.2.2") if kind == "quota" else (f"far@{REMOTE}", "4.4.1")
    assert inst.sendmail(message("why", "z" * 1000 + "\n"), rcpt, sender=SENDER).returncode == 0
    wait_log(inst, prog="sluice-sched", event="delivery", rcpt=rcpt, status="deferred")
    # The reason is written with the retry time, just after the log line.
    deadline = time.time() + 10
    while not queue_reasons(inst) and time.time() < deadline:
        time.sleep(0.05)
    [reason] = queue_reasons(inst)
    assert reason.startswith(f"{rcpt}: {code} "), reason


# --- the deliverer pool ---------------------------------------------------------------

def test_pool_members_are_reused(instance):
    inst = instance
    prepare(inst, "bob")
    n = 40
    for i in range(n):
        assert inst.sendmail(message(f"pool {i}"), BOB, sender=SENDER).returncode == 0
    paths = inst.wait_for_mail(BOB, n)
    inst.wait_queue_empty()
    pids = {name_fields(p)["pid"] for p in paths}
    started = {int(e["pid"]) for e in log_events(inst, prog="sluice-start", event="started", name="sluice-local")}
    assert pids <= started, (pids, started)
    assert len(pids) <= 2, f"{n} messages took {len(pids)} sluice-local processes (pool of 2, max_use 1000)"


def test_pool_members_exit_after_max_use_and_come_back(instance):
    inst = instance
    prepare(inst, "bob", local={"max_use": 3}, queue={"local_concurrency": 1})
    n = 10
    for i in range(n):
        assert inst.sendmail(message(f"recycle {i}"), BOB, sender=SENDER).returncode == 0
    paths = inst.wait_for_mail(BOB, n, timeout=60)
    inst.wait_queue_empty()
    pids = {name_fields(p)["pid"] for p in paths}
    started = {int(e["pid"]) for e in log_events(inst, prog="sluice-start", event="started", name="sluice-local")}
    assert pids <= started
    # A member serves at most max_use jobs; so 10 messages need at least 4 of them.
    per_pid = {pid: sum(1 for p in paths if name_fields(p)["pid"] == pid) for pid in pids}
    assert max(per_pid.values()) <= 3 and len(pids) >= 4, per_pid


def test_messages_waiting_at_start_go_out_in_rounds_once_each(instance):
    """Messages found at start are handed out without waiting for answers:
    a pool member takes the jobs waiting in its socket as one round (one
    sync of new/ for all), and every message still arrives exactly once."""
    inst = instance
    prepare(inst, "bob")
    inst.stop()
    n = 24
    for i in range(n):
        assert inst.sendmail(message(f"round {i}"), BOB, sender=SENDER).returncode == 0
    inst.start()
    paths = inst.wait_for_mail(BOB, n)
    inst.wait_queue_empty()
    settle(inst)
    subjects = sorted(p.read_bytes().split(b"Subject: ")[1].split(b"\n")[0].decode() for p in inst.messages(BOB))
    assert subjects == sorted(f"round {i}" for i in range(n))
    sent = log_events(inst, prog="sluice-local", status="sent")
    assert len(sent) == n and len(log_events(inst, prog="sluice-sched", event="delivery", status="sent")) == n
    rounds = [int(e["batch"]) for e in sent]
    assert max(rounds) > 1, rounds


def test_sendmail_crlf_input_is_stored_with_lf(instance):
    inst = instance
    prepare(inst, "bob")
    msg = message("crlf", "line one\nline two\n")
    assert inst.sendmail(msg.replace(b"\n", b"\r\n"), BOB, sender=SENDER).returncode == 0
    [p] = inst.wait_for_mail(BOB)
    assert p.read_bytes() == b"Return-Path: <alice@example.test>\nDelivered-To: bob@example.test\n" + msg


def test_delivered_recipient_is_not_delivered_again_on_retry(instance):
    """Bob is over quota, carol is not: carol's copy is recorded as done at the
    first attempt and the retries (and the final delivery) are bob's alone."""
    inst = instance
    carol = f"carol@{DOMAIN}"
    prepare(inst, "bob", "carol")
    inst.run("sluice", "user", "quota", BOB, "200")
    assert inst.sendmail(message("one each", "e" * 1000 + "\n"), BOB, carol, sender=SENDER).returncode == 0
    inst.wait_for_mail(carol)
    wait_log(inst, count=3, prog="sluice-sched", event="delivery", rcpt=BOB, status="deferred")
    [line] = queue_lines(inst)
    assert line[5:] == [SENDER, BOB]  # carol is no longer pending
    inst.run("sluice", "user", "quota", BOB, "none")
    inst.wait_for_mail(BOB, timeout=15)
    settle(inst)
    assert len(inst.messages(carol)) == 1 and len(inst.messages(BOB)) == 1
    assert len(log_events(inst, prog="sluice-sched", event="delivery", rcpt=carol)) == 1


def test_restart_picks_up_a_deferred_message(instance):
    inst = instance
    prepare(inst, "bob")
    inst.run("sluice", "user", "quota", BOB, "200")
    assert inst.sendmail(message("survives a restart", "s" * 1000 + "\n"), BOB, sender=SENDER).returncode == 0
    wait_log(inst, prog="sluice-sched", event="delivery", rcpt=BOB, status="deferred")
    inst.stop()
    [line] = queue_lines(inst)
    assert line[3] == "deferred" and line[5:] == [SENDER, BOB]
    inst.run("sluice", "user", "quota", BOB, "none")
    inst.start()
    [p] = inst.wait_for_mail(BOB, timeout=15)
    assert b"Subject: survives a restart" in p.read_bytes()
    inst.wait_queue_empty()
