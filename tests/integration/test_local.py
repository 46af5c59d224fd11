"""sluice-local from the command line and as a pool member, on an instance
made by `sluice init`: Maildir++ delivery, refusals, forwarding through the
real sluice-inject, quotas and SMS requests made with the CLI."""
import contextlib
import mailbox
import os
import socket
import subprocess

import pytest

from conftest import BIN

MSG = (b"From: Alice <alice@sender.test>\n"
       b"To: bob@example.test\n"
       b"Subject: hello\n"
       b"\n"
       b"Hi Bob.\n")


def local(inst, *args, input=MSG):
    argv = []
    for a in args:
        argv += ["--rcpt", a]
    return inst.run("sluice-local", "--sender", "alice@sender.test", *argv, input=input, check=False, timeout=30)


def results(r):
    return [line.split(" ", 5) for line in r.stdout.decode().splitlines()]


def test_standalone_delivers_to_a_user(instance):
    instance.run("sluice", "user", "add", "bob@example.test", "--password", "pw")
    r = local(instance, "Bob@Example.Test")
    assert r.returncode == 0, r.stderr
    assert results(r) == [["result", "0", "2", "2.0.0", "-", "delivered to bob@example.test"]]
    [path] = instance.wait_for_mail("bob@example.test", timeout=1)
    assert path.read_bytes() == b"Return-Path: <alice@sender.test>\nDelivered-To: bob@example.test\n" + MSG
    assert b"status=sent" in r.stderr and b"qid=standalone" in r.stderr
    # Python's Maildir reader (as any Maildir++ reader) sees the message.
    md = mailbox.Maildir(instance.maildir("bob@example.test"), create=False)
    assert [m["Subject"] for m in md] == ["hello"]


def test_standalone_with_c_and_no_environment(instance):
    instance.run("sluice", "user", "add", "bob@example.test", "--password", "pw")
    env = {k: v for k, v in instance.env.items() if k != "SLUICE_CONFIG"}
    r = subprocess.run([str(BIN / "sluice-local"), "-c", str(instance.config), "--sender", "", "--rcpt",
                        "bob@example.test"], input=MSG, env=env, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    [path] = instance.messages("bob@example.test")
    assert path.read_bytes().startswith(b"Return-Path: <>\n")


def test_standalone_exit_codes_follow_qmail_local(instance):
    instance.run("sluice", "user", "add", "bob@example.test", "--password", "pw")
    r = local(instance, "bob@example.test", "nobody@example.test")
    assert r.returncode == 100
    assert results(r)[1][:4] == ["result", "1", "5", "5.1.1"]
    instance.run("sluice", "user", "quota", "bob@example.test", "10")
    r = local(instance, "bob@example.test")
    assert r.returncode == 111
    assert results(r)[0][:4] == ["result", "0", "4", "4.2.2"]
    r = instance.run("sluice-local", "--rcpt", "bob@example.test", input=MSG, check=False)
    assert r.returncode == 64


def test_alias_shares_one_inode_and_plus_tag(instance):
    for u in ("bob", "carol"):
        instance.run("sluice", "user", "add", f"{u}@example.test", "--password", "pw")
    instance.run("sluice", "alias", "add", "team@example.test", "bob@example.test", "carol@example.test")
    r = local(instance, "team@example.test", "carol+x@example.test")
    assert r.returncode == 0, r.stderr
    [b] = instance.messages("bob@example.test")
    [c] = instance.messages("carol@example.test")
    assert os.stat(b).st_ino == os.stat(c).st_ino and os.stat(b).st_nlink == 2
    assert b"Delivered-To:" not in b.read_bytes()


def test_forward_to_an_outside_address_goes_through_sluice_inject(instance):
    if not (BIN / "sluice-inject").exists():
        pytest.fail("bin/sluice-inject is not built")
    instance.run("sluice", "alias", "add", "fwd@example.test", "friend@outside.test")
    r = local(instance, "fwd@example.test")
    assert r.returncode == 0, r.stderr
    line = results(r)[0]
    assert line[:4] == ["result", "0", "2", "2.0.0"]
    assert line[5].startswith("forwarded to friend@outside.test, queued")
    queued = [p for p in (instance.root / "queue" / "msg").glob("*/*") if not p.name.endswith(".tmp")]
    assert len(queued) == 1
    data = queued[0].read_bytes()
    assert b"Delivered-To: fwd@example.test\n" + MSG in data
    assert b"sender alice@sender.test\n" in data
    assert b"friend@outside.test\n" in data
    # Coming back through the same alias is a loop.
    r = local(instance, "fwd@example.test", input=b"Delivered-To: fwd@example.test\n" + MSG)
    assert r.returncode == 100
    assert results(r)[0][3] == "5.4.6"


def test_sms_request_queued_for_a_user_who_asked(instance):
    instance.run("sluice", "user", "add", "bob@example.test", "--password", "pw")
    instance.run("sluice", "user", "sms", "bob@example.test", "--phone", "+8613800138000", "--on")
    r = local(instance, "bob@example.test")
    assert r.returncode == 0, r.stderr
    reqs = list((instance.root / "queue" / "notify" / "new").iterdir())
    assert len(reqs) == 1
    text = reqs[0].read_text()
    assert "to=+2B8613800138000\n" in text and "rcpt=bob@example.test\n" in text
    assert "subject=hello\n" in text and "qid=standalone\n" in text


def listener(path):
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    lsock.bind(str(path))
    lsock.listen(4)
    os.set_inheritable(lsock.fileno(), True)
    return lsock


@contextlib.contextmanager
def pool_member(instance, lsock):
    """sluice-local as sluice-start runs it: LSOCK inherited as the "local"
    listener; yields the process once it said it is ready."""
    ready_r, ready_w = os.pipe()
    env = dict(instance.env, LISTEN_FDS="1", LISTEN_FDNAMES="local", SLUICE_READY_FD=str(ready_w))
    # bash (dash knows fds 0-9 only) puts the listener on fd 3 and sets
    # LISTEN_PID to its own pid, which exec hands to sluice-local.
    script = f'exec 3<&{lsock.fileno()}; LISTEN_PID=$$ exec "$0"'
    p = subprocess.Popen(["bash", "-c", script, str(BIN / "sluice-local")], env=env,
                         pass_fds=(lsock.fileno(), ready_w), stderr=subprocess.PIPE)
    os.close(ready_w)
    lsock.close()
    try:
        if os.read(ready_r, 1) == b"":
            p.wait(timeout=20)
            raise AssertionError(f"sluice-local never became ready: {p.stderr.read().decode()}")
        yield p
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(ready_r)


def job_packet(qid, rcpt, index=3):
    return (f"job {qid} 7 {len(MSG)}\nsender alice@sender.test\n"
            f"rcpt {index} - - {rcpt}\nend\n").encode()


def test_pool_member_serves_jobs_and_exits_after_max_use(instance, tmp_path):
    instance.run("sluice", "user", "add", "bob@example.test", "--password", "pw")
    instance.configure({"local": {"max_use": 2}})
    path = tmp_path / "local.sock"
    msgfile = tmp_path / "queued"
    msgfile.write_bytes(b"HEADER\n" + MSG + b"TRAILER\n")
    with pool_member(instance, listener(path)) as p:
        for n in range(2):
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as c, open(msgfile, "rb") as f:
                c.settimeout(20)
                c.connect(str(path))
                socket.send_fds(c, [job_packet(f"pool{n}", "bob@example.test")], [f.fileno()])
                answer = c.recv(65536).decode()
                assert answer.startswith("result 3 2 2.0.0 - ") and answer.endswith("end\n"), answer
        assert p.wait(timeout=20) == 0
        err = p.stderr.read().decode()
    assert "qid=pool0" in err and "qid=pool1" in err and "event=max_use" in err
    msgs = instance.messages("bob@example.test")
    assert len(msgs) == 2
    assert all(m.read_bytes().endswith(MSG) for m in msgs)


def test_pool_member_delivers_jobs_sent_ahead_as_one_round(instance, tmp_path):
    """The scheduler may send jobs without waiting for answers: the ones
    waiting when the member reads go into one round, and each still gets its
    own answer, in the order sent, with its own outcome."""
    instance.run("sluice", "user", "add", "bob@example.test", "--password", "pw")
    instance.run("sluice", "user", "add", "carol@example.test", "--password", "pw")
    path = tmp_path / "local.sock"
    msgfile = tmp_path / "queued"
    msgfile.write_bytes(b"HEADER\n" + MSG + b"TRAILER\n")
    lsock = listener(path)
    to = ["bob@example.test", "nobody@example.test", "carol@example.test", "bob@example.test"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as c:
        c.settimeout(20)
        # Connected and sent before the member even starts: all four wait in its socket.
        c.connect(str(path))
        for k, rcpt in enumerate(to):
            with open(msgfile, "rb") as f:
                socket.send_fds(c, [job_packet(f"ahead{k}", rcpt, index=k)], [f.fileno()])
        with pool_member(instance, lsock) as p:
            answers = [c.recv(65536).decode() for _ in to]
            c.close()
            p.terminate()
            p.wait(timeout=20)
            err = p.stderr.read().decode()
    assert [a.split(" ")[1:3] for a in answers] == [["0", "2"], ["1", "5"], ["2", "2"], ["3", "2"]], answers
    assert "5.1.1" in answers[1]
    rounds = [line for line in err.splitlines() if "status=sent" in line]
    assert len(rounds) == 3 and all("batch=4" in line for line in rounds), err
    assert len(instance.messages("bob@example.test")) == 2
    assert [m.read_bytes().endswith(MSG) for m in instance.messages("carol@example.test")] == [True]
