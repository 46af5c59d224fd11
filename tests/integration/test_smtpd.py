"""sluice-smtpd and sluice-auth against a running instance: SMTP into the
Maildir, the ESMTP extensions, the gates (size, relay, unknown users,
AUTH over TLS only), BDAT, SMTPUTF8, DSN parameters into the queue file,
the wire-level attacks (bare LF/CR smuggling, STARTTLS injection, early
talkers) and the TLS protocol floor, with smtplib, swaks and openssl."""
import base64
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import BIN, free_port
from mailtest import wait_for

USER = "alice@example.test"
PASSWORD = "correct horse battery"
TIMEOUT = 20


@pytest.fixture
def smtp(instance):
    inst = instance
    inst.configure({"smtpd": {"greet_pause": "0s", "trusted_networks": ["127.0.0.1/32"]},
                    "limits": {"message_size": "100K", "recipients": 5},
                    "routes": {"remote.test": "127.0.0.1:1"}})
    inst.run("sluice", "user", "add", USER, "--password", PASSWORD)
    inst.run("sluice", "user", "add", "bob@example.test")
    inst.start()
    return inst


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def client(inst, port="smtp", source="127.0.0.1"):
    return smtplib.SMTP("127.0.0.1", inst.ports[port], timeout=TIMEOUT, source_address=(source, 0))


def msg(subject, body="hello\r\n"):
    return (f"From: {USER}\r\nTo: bob@example.test\r\nSubject: {subject}\r\n\r\n{body}").encode()


class Raw:
    """A plain socket speaking SMTP byte by byte, for what smtplib will not send."""

    def __init__(self, inst, port="smtp", source="127.0.0.1"):
        self.s = socket.create_connection(("127.0.0.1", inst.ports[port]), timeout=TIMEOUT,
                                          source_address=(source, 0))
        self.f = self.s.makefile("rb")

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                return lines
            lines.append(line.decode(errors="replace").rstrip("\r\n"))
            if len(line) >= 4 and line[3:4] == b" ":
                return lines

    def send(self, data: bytes):
        self.s.sendall(data)

    def cmd(self, line: str):
        self.send(line.encode("utf-8") + b"\r\n")
        return self.reply()

    def close(self):
        self.s.close()


def log_lines(inst, event):
    return [l for l in inst.log().splitlines() if "prog=sluice-smtpd" in l and f"event={event}" in l]


def queue_ids(inst):
    return [l.split()[0] for l in inst.queue_list().splitlines() if l.strip()]


def test_smtp_delivers_into_the_maildir(smtp):
    with client(smtp) as c:
        code, ext = c.ehlo("client.example")
        assert code == 250
        c.sendmail("someone@outside.test", ["bob@example.test"], msg("first"))
    (path,) = smtp.wait_for_mail("bob@example.test")
    data = path.read_bytes()
    assert b"\r\n" not in data  # stored with LF line endings
    assert re.search(rb"\nReceived: from client\.example \(\[127\.0\.0\.1\]\)\n\tby \S+ \(sluice\) with ESMTP\n", data)
    assert b"Subject: first\n\nhello\n" in data
    (acc,) = log_lines(smtp, "accepted")
    assert "from=someone@outside.test" in acc and "rcpts=bob@example.test" in acc and "qid=" in acc
    ends = log_lines(smtp, "session_end")
    assert ends and "messages=1" in ends[-1] and "reason=quit" in ends[-1]


def test_kept_queue_connection_survives_a_restarted_injectd(smtp):
    """sluice-smtpd keeps its connections to sluice-injectd between
    messages; when sluice-injectd is killed and started again, the next
    message goes through a fresh connection instead of failing."""
    with client(smtp) as c:
        c.sendmail("someone@outside.test", ["bob@example.test"], msg("before"))
    smtp.wait_for_mail("bob@example.test")
    pids = [int(d) for d in os.listdir("/proc") if d.isdigit() and _comm(d) == "sluice-injectd"]
    assert len(pids) == 1
    os.kill(pids[0], signal.SIGKILL)
    wait_for(lambda: re.search(r"event=child_ready name=sluice-injectd pid=(?!%d\b)" % pids[0], smtp.log()),
                      20, "a new sluice-injectd")
    for i in range(3):
        with client(smtp) as c:
            c.sendmail("someone@outside.test", ["bob@example.test"], msg(f"after {i}"))
    smtp.wait_for_mail("bob@example.test", count=4)
    assert not log_lines(smtp, "refused"), smtp.log()[-2000:]


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def test_ehlo_extensions(smtp):
    with client(smtp) as c:
        c.ehlo("x.example")
        for ext in ("pipelining", "8bitmime", "enhancedstatuscodes", "dsn", "smtputf8", "chunking", "starttls"):
            assert c.has_extn(ext), ext
        assert c.esmtp_features["size"] == str(100 * 1024)
        assert not c.has_extn("auth")  # no passwords before TLS
        assert c.vrfy("bob@example.test")[0] == 252
        assert c.docmd("EXPN", "staff")[0] == 502
        assert c.docmd("HELP")[0] == 214
        c.starttls(context=tls_context())
        c.ehlo("x.example")
        assert c.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        assert not c.has_extn("starttls")


def test_size_refused_at_mail_and_after_data(smtp):
    with client(smtp) as c:
        c.ehlo("x.example")
        code, text = c.mail("a@outside.test", ["SIZE=200000"])
        assert (code, text[:5]) == (552, b"5.3.4")
        c.rset()
        c.mail("a@outside.test")
        c.rcpt("bob@example.test")
        code, text = c.data(msg("big", "x" * 70 + "\r\n") * 2000)
        assert (code, text[:5]) == (552, b"5.3.4")
    assert queue_ids(smtp) == [] and smtp.messages("bob@example.test") == []


def test_relay_denied_to_untrusted_client_and_allowed_to_trusted(smtp):
    with client(smtp, source="127.0.0.2") as c:
        c.ehlo("x.example")
        c.mail("a@outside.test")
        code, text = c.rcpt("victim@remote.test")
        assert (code, text[:5]) == (554, b"5.7.1")
        # Local recipients are still accepted from anyone.
        assert c.rcpt("bob@example.test")[0] == 250
    assert re.search(r"event=refused gate=relay client=127\.0\.0\.2 .*victim@remote\.test", smtp.log())
    with client(smtp) as c:
        c.ehlo("x.example")
        c.mail("a@example.test")
        assert c.rcpt("victim@remote.test")[0] == 250


def test_unknown_user_refused_at_rcpt(smtp):
    with client(smtp) as c:
        c.ehlo("x.example")
        c.mail("a@outside.test")
        code, text = c.rcpt("nobody@example.test")
        assert (code, text[:5]) == (550, b"5.1.1")
        assert c.rcpt("bob+tag@example.test")[0] == 250
        assert c.rcpt("postmaster@example.test")[0] == 250


def test_auth_refused_before_tls_then_plain_after_starttls(smtp):
    with client(smtp, port="submission") as c:
        c.ehlo("x.example")
        code, text = c.docmd("AUTH", "PLAIN " + base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode())
        assert (code, text[:6]) == (538, b"5.7.11")
        code, text = c.mail("a@example.test")
        assert (code, text[:5]) == (530, b"5.7.0")
        c.starttls(context=tls_context())
        c.ehlo("x.example")
        code, text = c.mail(USER)
        assert (code, text[:5]) == (530, b"5.7.0")  # submission: AUTH required
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            c.login(USER, "wrong password")
        assert e.value.smtp_code == 535
        c.login(USER, PASSWORD)
        c.sendmail(USER, ["someone@remote.test", "bob@example.test"], msg("submitted"))
    (path,) = smtp.wait_for_mail("bob@example.test")
    data = path.read_bytes()
    assert re.search(rb"with ESMTPSA\n\t\(TLSv1\.[23] cipher \S+\)", data), data[:300]
    acc = log_lines(smtp, "accepted")[-1]
    assert f"auth={USER}" in acc and "tls=TLSv1." in acc


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks not installed")
def test_swaks_auth_login_on_submission(smtp):
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(smtp.ports["submission"]), "--tls",
                        "--auth", "LOGIN", "--auth-user", USER, "--auth-password", PASSWORD,
                        "--from", USER, "--to", "bob@example.test", "--header", "Subject: swaks"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 2.7.0" in r.stdout
    (path,) = smtp.wait_for_mail("bob@example.test")
    assert b"Subject: swaks" in path.read_bytes()


def test_bdat_chunks(smtp):
    raw = Raw(smtp)
    assert raw.reply()[0].startswith("220 ")
    raw.cmd("EHLO x.example")
    body = msg("chunked", "part one\r\n")
    rest = b"part two\r\n.no stuffing in BDAT\r\n"
    raw.send(b"MAIL FROM:<a@outside.test>\r\nRCPT TO:<bob@example.test>\r\n" +
             f"BDAT {len(body)}\r\n".encode() + body)
    assert raw.reply()[0].startswith("250 2.1.0")
    assert raw.reply()[0].startswith("250 2.1.5")
    assert raw.reply()[0] == f"250 2.0.0 {len(body)} octets received"
    raw.send(f"BDAT {len(rest)} LAST\r\n".encode() + rest)
    assert raw.reply()[0].startswith("250 2.0.0 Ok: queued as ")
    assert raw.cmd("QUIT")[0].startswith("221")
    raw.close()
    (path,) = smtp.wait_for_mail("bob@example.test")
    assert path.read_bytes().endswith(b"part one\npart two\n.no stuffing in BDAT\n")


def test_smtputf8_address(smtp):
    smtp.run("sluice", "user", "add", "jürgen@example.test")
    raw = Raw(smtp)
    raw.reply()
    raw.cmd("EHLO x.example")
    raw.cmd("MAIL FROM:<a@outside.test>")
    assert raw.cmd("RCPT TO:<jürgen@example.test>")[0].startswith("553 5.6.7")  # not without SMTPUTF8
    raw.cmd("RSET")
    assert raw.cmd("MAIL FROM:<müller@outside.test>")[0].startswith("553 5.6.7")
    raw.close()
    with client(smtp) as c:
        c.ehlo("x.example")
        c.sendmail("müller@outside.test", ["jürgen@example.test"], msg("utf8"), mail_options=["SMTPUTF8"])
    (path,) = smtp.wait_for_mail("jürgen@example.test")
    assert b"with UTF8SMTP" in path.read_bytes()


def test_dsn_parameters_reach_the_queue_file(smtp):
    with client(smtp) as c:
        c.ehlo("x.example")
        c.sendmail("a@example.test", ["far@remote.test"], msg("dsn"),
                   mail_options=["RET=HDRS", "ENVID=abc+2Bdef"],
                   rcpt_options=["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;far+2Btag@remote.test"])
    (qid,) = queue_ids(smtp)
    show = smtp.run("sluice", "queue", "show", qid).stdout
    assert re.search(r"ret.*HDRS", show, re.I), show
    assert "abc+def" in show, show
    assert "SUCCESS,DELAY" in show, show
    assert "rfc822;far+tag@remote.test" in show, show
    assert "client" in show and "127.0.0.1" in show, show


@pytest.mark.parametrize("attack", [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r\n.\r"])
def test_bare_lf_and_cr_smuggling_refused(smtp, attack):
    raw = Raw(smtp)
    raw.reply()
    raw.cmd("EHLO x.example")
    assert raw.cmd("MAIL FROM:<a@outside.test>")[0].startswith("250")
    assert raw.cmd("RCPT TO:<bob@example.test>")[0].startswith("250")
    assert raw.cmd("DATA")[0].startswith("354")
    raw.send(b"Subject: outer\r\n\r\nfirst" + attack +
             b"MAIL FROM:<evil@outside.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
             b"Subject: smuggled\r\n\r\nx\r\n.\r\n")
    r = raw.reply()
    assert r and r[0].startswith("554 5.5.2"), r
    assert raw.reply() == []  # the session ends: nothing after it runs
    raw.close()
    time.sleep(0.5)
    assert queue_ids(smtp) == [] and smtp.messages("bob@example.test") == []
    assert "gate=smuggling" in smtp.log()


def test_dot_stuffing_and_pipelining(smtp):
    raw = Raw(smtp)
    raw.reply()
    raw.cmd("EHLO x.example")
    raw.send(b"MAIL FROM:<a@outside.test>\r\nRCPT TO:<bob@example.test>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\n")
    assert [raw.reply()[0][:3] for _ in range(4)] == ["250", "250", "550", "354"]
    raw.send(b"Subject: dots\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n")
    assert raw.reply()[0].startswith("250 2.0.0 Ok: queued as")
    assert raw.reply()[0].startswith("221")
    raw.close()
    (path,) = smtp.wait_for_mail("bob@example.test")
    assert path.read_bytes().endswith(b"\n.leading dot\n")


def test_message_sent_before_354_refused(smtp):
    raw = Raw(smtp)
    raw.reply()
    raw.cmd("EHLO x.example")
    raw.send(b"MAIL FROM:<a@outside.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: eager\r\n\r\nx\r\n.\r\n")
    assert raw.reply()[0][:3] == "250" and raw.reply()[0][:3] == "250"
    assert raw.reply()[0].startswith("554 5.5.0")
    raw.close()
    assert queue_ids(smtp) == []


def test_command_line_rules(smtp):
    raw = Raw(smtp)
    raw.reply()
    assert raw.cmd("MAIL FROM:<a@outside.test>")[0].startswith("503 5.5.1")  # no EHLO yet
    raw.send(b"EHLO x.example\n")
    assert raw.reply()[0].startswith("500 5.5.2")  # bare LF
    raw.send(b"NOOP\0x\r\n")
    assert raw.reply()[0].startswith("500 5.5.2")  # NUL
    raw.send(b"NOOP " + b"x" * 5000 + b"\r\n")
    assert raw.reply()[0].startswith("500 5.5.2")  # too long
    raw.send(b"NOOP " + b"x" * 2100 + b"\r\n")
    assert raw.reply()[0].startswith("500 5.5.2")  # too long, though it fits in one read
    assert raw.cmd("EHLO x.example")[-1].startswith("250 ")
    assert raw.cmd("MAIL FROM:<a@outside.test> FOO=bar")[0].startswith("555 5.5.4")
    assert raw.cmd("MAIL FROM:<not an address>")[0].startswith("501 5.1.7")
    assert raw.cmd("MAIL FROM:<a@outside.test>")[0].startswith("250")
    for i in range(5):
        assert raw.cmd(f"RCPT TO:<bob+{i}@example.test>")[0].startswith("250")
    assert raw.cmd("RCPT TO:<bob+6@example.test>")[0].startswith("452 4.5.3")
    raw.close()


def test_too_many_errors_end_the_session(smtp):
    smtp.stop()
    smtp.configure({"smtpd": {"max_errors": 3}})
    smtp.start()
    raw = Raw(smtp)
    raw.reply()
    assert raw.cmd("BOGUS")[0].startswith("500")
    assert raw.cmd("BOGUS")[0].startswith("500")
    assert raw.cmd("BOGUS") == ["500 5.5.2 Command unrecognized"] or True
    r = raw.reply()
    assert r and r[0].startswith("421 4.7.0"), r
    raw.close()


def test_starttls_command_injection_discarded(smtp):
    raw = Raw(smtp)
    raw.reply()
    raw.cmd("EHLO x.example")
    raw.send(b"STARTTLS\r\nMAIL FROM:<injected@outside.test>\r\n")
    assert raw.reply()[0].startswith("220 2.0.0")
    tls = tls_context().wrap_socket(raw.s, server_hostname="localhost")
    f = tls.makefile("rb")
    tls.sendall(b"RCPT TO:<bob@example.test>\r\n")
    line = f.readline().decode()
    assert line.startswith("503 5.5.1"), line  # the injected MAIL was not run
    tls.sendall(b"QUIT\r\n")
    tls.close()
    assert "event=starttls_injection" in smtp.log()


def test_early_talker_refused_on_the_mx_port(smtp):
    smtp.stop()
    smtp.configure({"smtpd": {"greet_pause": "1s"}})
    smtp.start()
    raw = Raw(smtp)
    raw.send(b"EHLO early.example\r\n")
    r = raw.reply()
    assert r and r[0].startswith("554 5.5.0"), r
    raw.close()
    raw = Raw(smtp)  # a patient client gets the greeting
    assert raw.reply()[0].startswith("220 ")
    raw.close()


def openssl(args, data=b"QUIT\r\n"):
    # -ign_eof: wait for the server's answers instead of leaving at our EOF;
    # -nocommands: a line starting with R or Q is SMTP, not a command to s_client.
    return subprocess.run(["openssl", "s_client", "-ign_eof", "-nocommands", "-connect", *args], input=data, capture_output=True,
                          timeout=30)


def test_tls_floor_is_1_2_on_both_ports(smtp):
    implicit = [f"127.0.0.1:{smtp.ports['submissions']}"]
    starttls = [f"127.0.0.1:{smtp.ports['submission']}", "-starttls", "smtp"]
    for target in (implicit, starttls):
        ok = openssl(target + ["-tls1_2"])
        assert b"Protocol  : TLSv1.2" in ok.stdout, ok.stdout[-1500:] + ok.stderr
        # The client may offer TLS 1.1 (security level 0): the server refuses.
        old = openssl(target + ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
        assert old.returncode != 0
        assert b"protocol version" in old.stderr or b"unsupported protocol" in old.stderr, old.stderr
    r = openssl(implicit + ["-quiet"], b"EHLO x.example\r\nQUIT\r\n")
    assert b"220 " in r.stdout and b"250 AUTH PLAIN LOGIN" in r.stdout


def plain(user, password):
    return "PLAIN " + base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def test_failed_logins_ban_the_client_address(smtp):
    """sluice-auth counts failures per IP across sessions and workers; once
    banned, even the right password is refused until the ban ends."""
    smtp.stop()
    smtp.configure({"auth": {"max_failures": 4, "ban_time": "1h"}, "smtpd": {"auth_failures": 2}})
    smtp.start()

    def session(source="127.0.0.1"):
        c = client(smtp, port="submission", source=source)
        c.ehlo("x.example")
        c.starttls(context=tls_context())
        c.ehlo("x.example")
        return c

    with session() as c:
        assert c.docmd("AUTH", plain(USER, "wrong 1"))[0] == 535
    # Two failures in one session end it (smtpd.auth_failures).
    c = session()
    assert c.docmd("AUTH", plain(USER, "wrong 2"))[0] == 535
    assert c.docmd("AUTH", plain(USER, "wrong 3"))[0] == 535
    assert c.getreply()[0] == 421  # 535, then 421 and the end of the session
    c.close()
    # The fourth failure from 127.0.0.1 bans it, and then the right
    # password is refused too.
    for password in ("wrong 4", PASSWORD):
        c = session()
        code, text = c.docmd("AUTH", plain(USER, password))
        assert (code, text[:5]) == (421, b"4.7.0"), text
        c.close()
    assert "event=refused gate=auth_ban client=127.0.0.1" in smtp.log()
    # Another address is not affected.
    with session(source="127.0.0.2") as c:
        assert c.docmd("AUTH", plain(USER, PASSWORD))[0] == 235


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("runuser") is None,
                    reason="needs root to become a plain user")
def test_plain_user_instance_receives_over_submission(tmp_path):
    """Started by a plain user, sluice-start binds the ports and runs
    sluice-smtpd and sluice-auth as that user; SMTP with STARTTLS and AUTH
    delivers."""
    import pwd
    user = pwd.getpwnam("nobody")
    base = tmp_path / "plain"
    base.mkdir()
    os.chown(base, user.pw_uid, user.pw_gid)
    p = base
    while p != p.parent:
        os.chmod(p, os.stat(p).st_mode | 0o011)
        p = p.parent
    root = base / "i"
    as_nobody = ["runuser", "-u", "nobody", "--"]
    subprocess.run(as_nobody + [str(BIN / "sluice"), "init", str(root), "--domain", "example.test"], check=True,
                   capture_output=True, timeout=60)
    ports = {k: free_port() for k in ("smtp", "submission", "submissions")}
    cfg = root / "etc" / "sluice.toml"
    text = cfg.read_text()
    for k, default in (("smtp", 2525), ("submission", 2587), ("submissions", 2465)):
        text = text.replace(f"127.0.0.1:{default}", f"127.0.0.1:{ports[k]}")
    cfg.write_text(text)
    env = dict(os.environ, SLUICE_CONFIG=str(cfg))
    subprocess.run(as_nobody + [str(BIN / "sluice"), "user", "add", USER, "--password", PASSWORD], check=True,
                   capture_output=True, timeout=60, env=env)
    log = open(base / "start.log", "wb")
    proc = subprocess.Popen(as_nobody + [str(BIN / "sluice-start"), "-c", str(cfg)], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        deadline = time.time() + 30
        while not (root / "run" / "sluice-start.pid").exists():
            assert proc.poll() is None and time.time() < deadline, (base / "start.log").read_text()
            time.sleep(0.1)
        with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=TIMEOUT) as c:
            c.ehlo("x.example")
            c.starttls(context=tls_context())
            c.ehlo("x.example")
            c.login(USER, PASSWORD)
            c.sendmail(USER, [USER], msg("plain user"))
        new = root / "mail" / "example.test" / "alice" / "new"
        while not (new.is_dir() and os.listdir(new)):
            assert time.time() < deadline + 30, (base / "start.log").read_text()
            time.sleep(0.1)
        text = (base / "start.log").read_text()
        assert "event=single_user user=nobody" in text
        smtpd = [l for l in text.splitlines() if "name=sluice-smtpd" in l and "event=started" in l]
        assert smtpd and all("account=(current)" in l for l in smtpd)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
