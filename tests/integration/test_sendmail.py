"""bin/sendmail and bin/mailq on a temporary instance with no scheduler
running: what sendmail queued is read back with `sluice queue show`."""
import re
import subprocess

from conftest import BIN

SENDMAIL = str(BIN / "sendmail")


def sendmail(inst, args, message: bytes, prog=SENDMAIL):
    return subprocess.run([prog, *args], input=message, env=inst.env, capture_output=True, timeout=60)


def only_qid(inst):
    lines = inst.queue_list().splitlines()
    assert len(lines) == 1, lines
    return lines[0].split()[0]


def show(inst, qid):
    """(envelope lines, message bytes) of a queued message."""
    out = inst.run("sluice", "queue", "show", qid, input=b"").stdout
    head, _, message = out.partition(b"\n\n")
    return head.decode().splitlines(), message


def rcpts(env_lines):
    return [re.match(r"rcpt: <([^>]*)>", l).group(1) for l in env_lines if l.startswith("rcpt: ")]


def header(message: bytes, name: str):
    head = message.split(b"\n\n", 1)[0].decode()
    return [l.split(":", 1)[1].strip() for l in head.splitlines() if l.lower().startswith(name.lower() + ":")]


def test_t_reads_recipients_and_removes_bcc(instance):
    msg = (b"From: Ann <ann@example.test>\nTo: Bob <bob@example.test>, carol@example.test\n"
           b"Cc: dave@example.test\nBcc: eve@example.test\nSubject: hello\n\nbody\n")
    r = sendmail(instance, ["-t", "-i", "frank@example.test"], msg)
    assert r.returncode == 0, r.stderr
    env, message = show(instance, only_qid(instance))
    assert sorted(rcpts(env)) == ["bob@example.test", "carol@example.test", "dave@example.test",
                                  "eve@example.test", "frank@example.test"]
    assert b"eve@example.test" not in message and b"Bcc" not in message
    assert header(message, "To") == ["Bob <bob@example.test>, carol@example.test"]
    assert message.endswith(b"\n\nbody\n")


def test_sender_name_date_and_message_id(instance):
    r = sendmail(instance, ["-i", "-f", "robot@example.test", "-F", "The Robot", "bob@example.test"],
                 b"Subject: s\n\nbody\n")
    assert r.returncode == 0, r.stderr
    env, message = show(instance, only_qid(instance))
    assert "sender: <robot@example.test>" in env
    assert header(message, "From") == ["The Robot <robot@example.test>"]
    (date,) = header(message, "Date")
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}", date)
    (mid,) = header(message, "Message-ID")
    hostname = instance.read_config()["hostname"]
    assert re.fullmatch(r"<[^@<>]+@" + re.escape(hostname) + ">", mid)


def test_existing_headers_are_kept_and_r_sets_the_sender(instance):
    msg = b"From: x@example.test\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <keep@me>\n\nbody\n"
    r = sendmail(instance, ["-oi", "-rbounces@example.test", "bob@example.test"], msg)
    assert r.returncode == 0, r.stderr
    env, message = show(instance, only_qid(instance))
    assert "sender: <bounces@example.test>" in env
    assert message == msg


def test_default_sender_and_bare_names_use_the_hostname(instance):
    hostname = instance.read_config()["hostname"]
    r = sendmail(instance, ["-i", "root"], b"Subject: cron\n\nout\n")
    assert r.returncode == 0, r.stderr
    env, message = show(instance, only_qid(instance))
    assert rcpts(env) == [f"root@{hostname}"]
    sender = [l for l in env if l.startswith("sender: ")][0]
    assert sender.endswith(f"@{hostname}>")
    assert header(message, "From")[0].endswith(f"@{hostname}>") or header(message, "From")[0].endswith(hostname)


def test_null_sender(instance):
    r = sendmail(instance, ["-i", "-f", "<>", "bob@example.test"], b"Subject: n\n\nb\n")
    assert r.returncode == 0, r.stderr
    env, _ = show(instance, only_qid(instance))
    assert "sender: <>" in env
    assert instance.queue_list().split()[5] == "<>"


def test_lone_dot_ends_input_without_i(instance):
    r = sendmail(instance, ["bob@example.test"], b"Subject: d\n\nline one\n.\nnot part of it\n")
    assert r.returncode == 0, r.stderr
    _, message = show(instance, only_qid(instance))
    assert message.endswith(b"\n\nline one\n")
    instance.run("sluice", "queue", "delete", "ALL")
    r = sendmail(instance, ["-i", "bob@example.test"], b"Subject: d\n\nline one\n.\nstill part\n")
    assert r.returncode == 0
    _, message = show(instance, only_qid(instance))
    assert message.endswith(b"\n\nline one\n.\nstill part\n")


def test_crlf_becomes_lf_in_the_queue_file(instance):
    r = sendmail(instance, ["-i", "bob@example.test"], b"Subject: c\r\nTo: bob@example.test\r\n\r\nl1\r\nl2\r\n")
    assert r.returncode == 0, r.stderr
    qid = only_qid(instance)
    _, message = show(instance, qid)
    assert b"\r" not in message and message.endswith(b"\n\nl1\nl2\n")
    path = next(p for p in (instance.root / "queue" / "msg").rglob(qid))
    assert b"\r" not in path.read_bytes()


def test_refusals_queue_nothing(instance):
    cases = [(["-i", "bad@@address"], 65), (["-i", "-f", "a b@x..y", "bob@example.test"], 65),
             (["-i"], 64), (["-t", "-i"], 64), (["-k", "bob@example.test"], 64), (["-bs"], 64),
             (["-i", "-N", "sometimes", "bob@example.test"], 64)]
    for args, code in cases:
        r = sendmail(instance, args, b"Subject: no recipients here\n\nb\n")
        assert r.returncode == code, (args, r.returncode, r.stderr)
        assert r.stderr.startswith(b"sendmail: ")
    assert instance.queue_list() == ""


def test_tolerated_options_and_dsn(instance):
    r = sendmail(instance, ["-oem", "-odb", "-v", "-B8BITMIME", "-N", "success,failure", "-R", "hdrs",
                            "-V", "env-1", "-i", "--", "bob@example.test"], b"Subject: o\n\nb\n")
    assert r.returncode == 0, r.stderr
    env, _ = show(instance, only_qid(instance))
    assert "param: ret=HDRS" in env and "param: envid=env-1" in env
    assert any(l.startswith("rcpt: <bob@example.test>") and "notify=SUCCESS,FAILURE" in l for l in env)


def test_mailq_and_bp(instance):
    mailq = str(BIN / "mailq")
    for prog, args in ((mailq, []), (SENDMAIL, ["-bp"])):
        r = subprocess.run([prog, *args], env=instance.env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout == "Mail queue is empty\n"
    sendmail(instance, ["-i", "bob@example.test"], b"Subject: 1\n\nb\n")
    sendmail(instance, ["-i", "carol@example.test"], b"Subject: 2\n\nb\n")
    listing = instance.queue_list()
    assert len(listing.splitlines()) == 2
    for prog, args in ((mailq, []), (SENDMAIL, ["-bp"])):
        r = subprocess.run([prog, *args], env=instance.env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout == listing


def test_temporary_injection_failure_is_ex_tempfail(instance):
    # More free space than any disk has: sluice-inject refuses with 53.
    instance.configure({"queue": {"min_free": "1000000G"}})
    r = sendmail(instance, ["-i", "bob@example.test"], b"Subject: full\n\nb\n")
    assert r.returncode == 75, r.stderr
    assert b"sendmail: " in r.stderr
    assert instance.queue_list() == ""


def test_config_option_C(instance, tmp_path):
    env = dict(instance.env)
    del env["SLUICE_CONFIG"]
    r = subprocess.run([SENDMAIL, "-C", str(instance.config), "-i", "bob@example.test"], input=b"Subject: c\n\nb\n",
                       env=env, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert len(instance.queue_list().splitlines()) == 1
