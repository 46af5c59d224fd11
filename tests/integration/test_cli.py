"""`sluice` through the real binary on a temporary instance: every command,
and that a refused command changes nothing."""
import os
import re
import sqlite3
import subprocess
import time
import warnings
from pathlib import Path

import pytest

from conftest import BIN

SLUICE = str(BIN / "sluice")


def db_rows(inst, sql, *args):
    con = sqlite3.connect(inst.root / "db" / "sluice.db")
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def xtext_decode(v: str) -> str:
    """RFC 3461 xtext, as the notify spool stores values."""
    return re.sub(r"\+([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), v)


def snapshot(inst):
    """Everything a table command could change."""
    return [db_rows(inst, f"SELECT * FROM {t} ORDER BY 1") for t in ("domains", "users", "aliases", "sms")]


def fails(inst, *args, code=1, input=None, text=""):
    before = snapshot(inst)
    r = inst.run("sluice", *args, check=False, input=input)
    assert r.returncode == code, (args, r.returncode, r.stdout, r.stderr)
    assert text in r.stderr, r.stderr
    assert snapshot(inst) == before, f"sluice {args} changed the tables"
    return r


def queue_one(inst, rcpt="bob@example.test", body=b"Subject: t\n\nhello\n"):
    r = inst.sendmail(body, rcpt, sender="me@example.test")
    assert r.returncode == 0, r.stderr
    lines = inst.queue_list().splitlines()
    return lines[-1].split()[0]


# --- init --------------------------------------------------------------------

def test_init_makes_the_instance(tmp_path):
    d = tmp_path / "new"
    r = subprocess.run([SLUICE, "init", str(d), "--domain", "Example.ORG", "--hostname", "mx.example.org"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert f"export SLUICE_CONFIG={d}/etc/sluice.toml" in r.stdout.splitlines()
    for p in ("etc/sluice.toml", "etc/tls/cert.pem", "etc/tls/key.pem", "queue/msg/0", "queue/msg/f", "queue/hold",
              "mail", "db/sluice.db", "run", "log"):
        assert (d / p).exists(), p
    assert (d / "etc/tls/key.pem").stat().st_mode & 0o077 == 0 or os.getuid() == 0
    text = (d / "etc/sluice.toml").read_text()
    assert 'hostname = "mx.example.org"' in text and "127.0.0.1:2525" in text and "127.0.0.1:2587" in text \
        and "127.0.0.1:2465" in text and "\n#" in text
    for section in ("[queue]", "[local]", "[limits]"):
        assert section in text
    env = dict(os.environ, SLUICE_CONFIG=str(d / "etc/sluice.toml"))
    out = subprocess.run([SLUICE, "domain", "list"], env=env, capture_output=True, text=True).stdout
    assert out == "example.org\n"
    out = subprocess.run([SLUICE, "user", "list"], env=env, capture_output=True, text=True).stdout
    assert out == "postmaster@example.org quota=default password=no\n"
    cert = subprocess.run(["openssl", "x509", "-in", str(d / "etc/tls/cert.pem"), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    assert "CN = mx.example.org" in cert or "CN=mx.example.org" in cert
    assert "DNS:mx.example.org" in cert and "DNS:example.org" in cert
    # Ten years: notAfter lies at least 3650 days ahead.
    assert subprocess.run(["openssl", "x509", "-in", str(d / "etc/tls/cert.pem"), "-noout", "-checkend",
                           str(3649 * 86400)], capture_output=True).returncode == 0
    # The key belongs to the certificate.
    pub_c = subprocess.run(["openssl", "x509", "-in", str(d / "etc/tls/cert.pem"), "-noout", "-pubkey"],
                           capture_output=True, text=True, check=True).stdout
    pub_k = subprocess.run(["openssl", "pkey", "-in", str(d / "etc/tls/key.pem"), "-pubout"],
                           capture_output=True, text=True, check=True).stdout
    assert pub_c == pub_k


def test_init_relative_dir_prints_absolute_path(tmp_path):
    r = subprocess.run([SLUICE, "init", "rel", "--domain", "example.test", "--hostname", "h.example.test"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert f"export SLUICE_CONFIG={tmp_path}/rel/etc/sluice.toml\n" in r.stdout


def test_init_refuses_an_existing_instance_and_bad_input(instance, tmp_path):
    cfg = instance.config.read_bytes()
    r = instance.run("sluice", "init", instance.root, "--domain", "other.test", check=False)
    assert r.returncode == 1 and "already holds an instance" in r.stderr
    assert instance.config.read_bytes() == cfg
    assert db_rows(instance, "SELECT domain FROM domains") == [("example.test",)]

    for args in (["--domain", "bad..domain"], ["--domain", "ok.test", "--hostname", "bad host"]):
        d = tmp_path / "never"
        r = subprocess.run([SLUICE, "init", str(d), *args], capture_output=True, text=True)
        assert r.returncode == 1, r.stderr
        assert not d.exists()
    r = subprocess.run([SLUICE, "init", str(tmp_path / "x")], capture_output=True, text=True)
    assert r.returncode == 64 and "usage" in r.stderr


# --- tables -------------------------------------------------------------------

def test_domains(instance):
    assert instance.run("sluice", "domain", "add", "Second.test").returncode == 0
    assert instance.run("sluice", "domain", "list").stdout == "example.test\nsecond.test\n"
    fails(instance, "domain", "add", "second.test", text="already exists")
    fails(instance, "domain", "add", "not a domain")
    fails(instance, "domain", "del", "nowhere.test", text="unknown domain")
    instance.run("sluice", "user", "add", "u@second.test")
    fails(instance, "domain", "del", "second.test", text="still has users")
    instance.run("sluice", "user", "del", "u@second.test")
    instance.run("sluice", "domain", "del", "second.test")
    assert instance.run("sluice", "domain", "list").stdout == "example.test\n"
    fails(instance, "domain", code=64, text="usage")


def test_users_and_passwords(instance):
    instance.run("sluice", "user", "add", "Bob@Example.test", "--password", "bob pw")
    instance.run("sluice", "user", "add", "carol@example.test", "--password-stdin", input="carol pw\n")
    instance.run("sluice", "user", "add", "dave@example.test", input="")  # no tty, no option: no password
    rows = dict(db_rows(instance, "SELECT address, password_hash FROM users"))
    assert rows["bob@example.test"].startswith("$y$")
    assert rows["carol@example.test"].startswith("$y$")
    assert rows["dave@example.test"] == ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # the system's libxcrypt, as Dovecot would use it
    assert crypt.crypt("bob pw", rows["bob@example.test"]) == rows["bob@example.test"]
    assert crypt.crypt("carol pw", rows["carol@example.test"]) == rows["carol@example.test"]

    fails(instance, "user", "add", "bob@example.test", "--password", "x", text="already exists")
    fails(instance, "user", "add", "eve@unknown.test", "--password", "x", text="unknown domain")
    fails(instance, "user", "add", "not-an-address", "--password", "x")
    fails(instance, "user", "add", "eve@example.test", "--password", "x", "--password-stdin", input="y\n")
    fails(instance, "user", "add", "eve@example.test", "--password-stdin", input="")
    fails(instance, "user", "passwd", "dave@example.test", input="")  # passwd needs a password
    fails(instance, "user", "passwd", "nobody@example.test", "--password", "x", text="no such user")

    instance.run("sluice", "user", "passwd", "dave@example.test", "--password-stdin", input="dave pw\r\n")
    h = db_rows(instance, "SELECT password_hash FROM users WHERE address='dave@example.test'")[0][0]
    assert crypt.crypt("dave pw", h) == h

    instance.run("sluice", "user", "quota", "bob@example.test", "10M")
    instance.run("sluice", "user", "quota", "carol@example.test", "12345")
    fails(instance, "user", "quota", "bob@example.test", "lots", text="quota")
    out = instance.run("sluice", "user", "list", "example.test").stdout.splitlines()
    assert f"bob@example.test quota={10 * 1024 * 1024} password=yes" in out
    assert "carol@example.test quota=12345 password=yes" in out
    assert "postmaster@example.test quota=default password=no" in out
    instance.run("sluice", "user", "del", "carol@example.test")
    fails(instance, "user", "del", "carol@example.test", text="no such user")
    assert "carol" not in instance.run("sluice", "user", "list").stdout


def test_user_sms(instance):
    instance.run("sluice", "user", "add", "bob@example.test")
    fails(instance, "user", "sms", "bob@example.test", "--phone", "13800138000", "--on", text="E.164")
    fails(instance, "user", "sms", "bob@example.test", "--phone", "+0123456789", "--on", text="E.164")
    fails(instance, "user", "sms", "bob@example.test", "--on", text="phone")
    fails(instance, "user", "sms", "bob@example.test", "--phone", "+8613800138000", "--quiet", "22-07",
          text="HH:MM-HH:MM")
    fails(instance, "user", "sms", "bob@example.test", "--phone", "+8613800138000", "--daily-cap", "many")
    fails(instance, "user", "sms", "nobody@example.test", "--phone", "+8613800138000", "--on", text="no such user")
    fails(instance, "user", "sms", "bob@example.test", "--on", "--off", "--phone", "+8613800138000")
    instance.run("sluice", "user", "sms", "bob@example.test", "--phone", "+8613800138000", "--on",
                 "--match", "boss, urgent", "--quiet", "22:00-07:00", "--daily-cap", "5")
    (row,) = db_rows(instance, "SELECT phone, enabled, quiet, daily_cap FROM sms WHERE address='bob@example.test'")
    assert row == ("+8613800138000", 1, "22:00-07:00", 5)
    match = db_rows(instance, "SELECT match FROM sms")[0][0]
    assert "boss" in match and "urgent" in match
    # --off alone keeps the phone and the rules.
    instance.run("sluice", "user", "sms", "bob@example.test", "--off")
    (row,) = db_rows(instance, "SELECT phone, enabled, quiet, daily_cap FROM sms WHERE address='bob@example.test'")
    assert row == ("+8613800138000", 0, "22:00-07:00", 5)


def test_aliases(instance):
    instance.run("sluice", "user", "add", "bob@example.test")
    instance.run("sluice", "alias", "add", "info@example.test", "bob@example.test", "postmaster@example.test")
    instance.run("sluice", "alias", "add", "@example.test", "bob@example.test")
    out = instance.run("sluice", "alias", "list").stdout
    assert "info@example.test: bob@example.test, postmaster@example.test\n" in out
    assert "@example.test: bob@example.test\n" in out
    fails(instance, "alias", "add", "info@example.test", "bob@example.test", text="already has target")
    fails(instance, "alias", "add", "x@unknown.test", "bob@example.test", text="unknown domain")
    fails(instance, "alias", "add", "x@example.test", code=64, text="usage")
    fails(instance, "alias", "del", "none@example.test", text="no such alias")
    instance.run("sluice", "alias", "del", "info@example.test", "postmaster@example.test")
    assert "info@example.test: bob@example.test\n" in instance.run("sluice", "alias", "list").stdout
    instance.run("sluice", "alias", "del", "info@example.test")
    assert "info@" not in instance.run("sluice", "alias", "list").stdout


# --- config check --------------------------------------------------------------------

def test_config_check_prints_every_key(instance):
    r = instance.run("sluice", "config", "check")
    lines = r.stdout.splitlines()
    listen = [l for l in lines if l.startswith("smtpd.listen = ")]
    assert len(listen) == 1 and f"127.0.0.1:{instance.ports['smtp']}" in listen[0] and str(instance.config) in listen[0]
    retry = [l for l in lines if l.startswith("queue.retry_first = ")]
    assert retry and "default" in retry[0]
    sms = [l for l in lines if l.startswith("sms.transport = ")]
    assert sms == ['sms.transport = "smpp"  # default']


def test_config_check_names_file_and_line(instance):
    text = instance.config.read_text()
    # A bad value: a duration that is not one.
    instance.config.write_text(text.replace("[smtpd]", "[smtpd]\ngreet_pause = \"soon\"", 1))
    line = instance.config.read_text().splitlines().index('greet_pause = "soon"') + 1
    r = instance.run("sluice", "config", "check", check=False)
    assert r.returncode == 1
    assert f"{instance.config}:{line}:" in r.stderr and "greet_pause" in r.stderr
    # An unknown key.
    instance.config.write_text(text + "bogus_key = 1\n")
    r = instance.run("sluice", "config", "check", check=False)
    assert r.returncode == 1
    assert f"{instance.config}:{len(text.splitlines()) + 1}:" in r.stderr and "bogus_key" in r.stderr
    # Other commands refuse to work on a broken configuration, naming it too.
    r = instance.run("sluice", "domain", "list", check=False)
    assert r.returncode == 1 and str(instance.config) in r.stderr


# --- status ------------------------------------------------------------------------------

def test_status(instance):
    r = instance.run("sluice", "status", check=False)
    assert r.returncode == 3 and "not running" in r.stdout
    pidfile = instance.root / "run" / "sluice-start.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    r = instance.run("sluice", "status", check=False)
    assert r.returncode == 0 and r.stdout == f"running pid {os.getpid()}\n"
    p = subprocess.Popen(["true"])
    p.wait()
    pidfile.write_text(f"{p.pid}\n")  # a pid that is gone
    r = instance.run("sluice", "status", check=False)
    assert r.returncode == 3


# --- queue ----------------------------------------------------------------------------------

def test_queue_commands(instance):
    assert instance.queue_list() == ""
    qid = queue_one(instance, "bob@example.test")
    (line,) = instance.queue_list().splitlines()
    f = line.split()
    assert f[0] == qid and f[3] == "active" and f[4] == "0" and f[5] == "me@example.test" and f[6:] == ["bob@example.test"]
    assert time.strptime(f[1], "%Y-%m-%dT%H:%M:%SZ")
    assert int(f[2]) > 0

    show = instance.run("sluice", "queue", "show", qid).stdout
    assert f"qid: {qid}\n" in show and "sender: <me@example.test>\n" in show
    assert "rcpt: <bob@example.test> pending\n" in show and show.endswith("\nhello\n")

    instance.run("sluice", "queue", "hold", qid)
    assert instance.queue_list().split()[3] == "held"
    assert (instance.root / "queue" / "hold" / qid).exists()
    r = instance.run("sluice", "queue", "hold", qid, check=False)
    assert r.returncode == 1 and "already held" in r.stderr
    instance.run("sluice", "queue", "release", qid)
    assert instance.queue_list().split()[3] == "active"
    assert not (instance.root / "queue" / "hold" / qid).exists()

    # One unknown id: nothing is deleted.
    r = instance.run("sluice", "queue", "delete", qid, "0123456789ABCDEF0", check=False)
    assert r.returncode == 1 and instance.queue_list().split()[0] == qid
    r = instance.run("sluice", "queue", "show", "0123456789ABCDEF0", check=False)
    assert r.returncode == 1
    instance.run("sluice", "queue", "delete", qid)
    assert instance.queue_list() == ""

    queue_one(instance, "a@example.test")
    queue_one(instance, "b@example.test")
    assert len(instance.queue_list().splitlines()) == 2
    instance.run("sluice", "queue", "delete", "ALL")
    assert instance.queue_list() == ""

    instance.run("sluice", "queue", "flush")
    assert (instance.root / "queue" / "flush").exists()
    assert instance.run("sluice", "queue", check=False).returncode == 64
    assert instance.run("sluice", "queue", "bogus", check=False).returncode == 64


def test_sms_send(instance):
    new = instance.root / "queue" / "notify" / "new"
    r = instance.run("sluice", "sms", "send", "--to", "8613800138000", "--text", "hi", check=False)
    assert r.returncode == 1 and "E.164" in r.stderr
    assert not new.exists() or os.listdir(new) == []
    assert instance.run("sluice", "sms", "send", "--to", "+8613800138000", check=False).returncode == 64
    instance.run("sluice", "sms", "send", "--to", "+8613800138000", "--text", "disk full on mx1")
    (name,) = os.listdir(new)
    fields = dict(line.split("=", 1) for line in (new / name).read_text().splitlines())
    assert xtext_decode(fields["to"]) == "+8613800138000"
    assert xtext_decode(fields["text"]) == "disk full on mx1"
    assert fields["qid"] == "manual"


def test_usage_errors(instance):
    for args in ([], ["frobnicate"], ["user"], ["user", "add"], ["alias", "del"], ["config"],
                 ["queue", "show"], ["sms", "send", "--to"]):
        r = instance.run("sluice", *args, check=False)
        assert r.returncode == 64, (args, r.returncode)
        assert "usage" in r.stderr


# --- setup -----------------------------------------------------------------------------------

def test_setup_refuses_without_root(instance, tmp_path):
    if os.getuid() == 0:
        if subprocess.run(["setpriv", "--help"], capture_output=True).returncode != 0:
            pytest.skip("setpriv missing")
        # The instance is under root's private tmp: copy the config where nobody can read it.
        cfg = Path("/tmp") / f"sluice-setup-test-{os.getpid()}.toml"
        cfg.write_text(instance.config.read_text())
        try:
            cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", SLUICE, "-c", str(cfg), "setup"]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        finally:
            cfg.unlink()
    else:
        r = instance.run("sluice", "setup", check=False)
    assert r.returncode == 1
    assert "root" in r.stderr and "sluice-q" in r.stderr and "sluice-db" in r.stderr


SETUP_SCRIPT = r"""
set -e
# Files that vanish while copying (other tests' lock files) do not matter.
cp -a /etc "$T/etc" 2>/dev/null || true
for f in passwd group shadow gshadow login.defs; do [ -e "$T/etc/$f" ] || [ ! -e "/etc/$f" ]; done
mount --bind "$T/etc" /etc
"$SLUICE" setup >/dev/null
"$SLUICE" setup
for p in "$R" "$R/queue" "$R/queue/msg/0" "$R/queue/hold" "$R/queue/notify" "$R/mail" "$R/db" "$R/db/sluice.db" \
         "$R/run" "$R/etc" "$R/etc/tls/key.pem"; do
  stat -c '%U:%G %a %n' "$p"
done
id -nG sluice-mbox
"""


def test_setup_as_root_in_a_private_etc(instance, tmp_path):
    """Accounts are made in a copy of /etc in a private mount namespace, so
    the test leaves the host's accounts alone."""
    if os.getuid() != 0:
        pytest.skip("needs root")
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot make a mount namespace here")
    t = tmp_path / "priv"
    t.mkdir()
    env = dict(instance.env, T=str(t), SLUICE=SLUICE, R=str(instance.root))
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", SETUP_SCRIPT], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    out = dict()
    for line in r.stdout.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[2].startswith("/"):
            out[parts[2][len(str(instance.root)):] or "/"] = (parts[0], parts[1])
    assert out["/queue"] == ("sluice-q:sluice-q", "2771")
    assert out["/queue/msg/0"] == ("sluice-q:sluice-q", "2770")
    assert out["/queue/hold"] == ("sluice-q:sluice-q", "2770")
    assert out["/queue/notify"] == ("sluice-sms:sluice-notify", "2770")
    assert out["/mail"] == ("sluice-mbox:sluice-mbox", "700")
    assert out["/db"] == ("root:sluice-db", "2770")
    assert out["/db/sluice.db"] == ("root:sluice-db", "660")
    assert out["/run"] == ("root:root", "755")
    assert out["/etc/tls/key.pem"] == ("root:sluice-smtpd", "640")
    assert "sluice-db" in r.stdout.splitlines()[-1]


def test_example_config_loads():
    example = BIN.parent / "config" / "sluice.toml"
    r = subprocess.run([SLUICE, "-c", str(example), "config", "check"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert 'smtpd.listen = "0.0.0.0:25,[::]:25"' in r.stdout
