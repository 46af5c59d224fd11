"""What sluice-local writes is a Maildir++ that a real Dovecot reads: a
private Dovecot on the instance's mail directory and user table (the sql
queries of docs/tables.md) serves the delivered messages over IMAP, whole,
with the size sluice put in the file name."""
import imaplib
import os
import pwd
import subprocess
import time

import pytest

from conftest import free_port
from test_tables import _dovecot_conf, _have_dovecot, _sql_conf


@pytest.mark.skipif(not _have_dovecot(), reason="needs dovecot-core, dovecot-imapd and dovecot-sqlite")
def test_dovecot_reads_what_sluice_local_delivered(instance, tmp_path):
    inst = instance
    inst.run("sluice", "user", "add", "bob@example.test", "--password", "bob pw")
    inst.start()
    bodies = [f"Subject: msg {i}\nMessage-ID: <dove-{i}@test>\n\nline one of {i}\nline two\n".encode()
              for i in range(3)]
    for b in bodies:
        assert inst.sendmail(b, "bob@example.test").returncode == 0
    inst.wait_for_mail("bob@example.test", 3)
    inst.wait_queue_empty()

    wd = tmp_path / "dove"
    (wd / "run").mkdir(parents=True)
    (wd / "state").mkdir()
    for p in (wd, wd / "run"):
        os.chmod(p, 0o755)
    if os.getuid() == 0:
        # Dovecot's auth worker runs as "dovecot"; the mail as the mailbox account.
        db = inst.root / "db"
        os.chmod(db, 0o777)
        for f in db.iterdir():
            os.chmod(f, 0o666)
        mbox = pwd.getpwnam("sluice-mbox")
        uid, gid = mbox.pw_uid, mbox.pw_gid
    else:
        uid, gid = os.getuid(), os.getgid()
    sql = wd / "sql.conf"
    sql.write_text(_sql_conf(inst.root / "db" / "sluice.db", inst.root / "mail", uid, gid))
    port = free_port()
    conf = wd / "dovecot.conf"
    conf.write_text(_dovecot_conf(wd, sql, port).replace("first_valid_uid = 1", "first_valid_uid = 1\nmail_privileged_group =\n"))
    proc = subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 15
        while True:
            try:
                imap = imaplib.IMAP4("127.0.0.1", port)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        imap.login("bob@example.test", "bob pw")
        typ, data = imap.select("INBOX")
        assert typ == "OK" and int(data[0]) == 3, (typ, data, (wd / "dovecot.log").read_text())
        got = []
        for i in range(1, 4):
            typ, msg = imap.fetch(str(i), "(RFC822 RFC822.SIZE)")
            assert typ == "OK"
            raw = msg[0][1].replace(b"\r\n", b"\n")
            got.append(raw)
            size = int(msg[0][0].split(b"RFC822.SIZE ")[1].split(b")")[0].split()[0])
            assert size == len(msg[0][1])  # CRLF size, as IMAP counts it
        for i, b in enumerate(bodies):
            match = [g for g in got if f"Message-ID: <dove-{i}@test>".encode() in g]
            assert len(match) == 1, (b, got)
            assert match[0].startswith(b"Return-Path: <")
            assert match[0].endswith(b.split(b"\n\n", 1)[1])  # the body, byte for byte
        imap.logout()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
