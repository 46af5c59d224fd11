"""The SQLite user table as `sluice user add` fills it is read by a real
Dovecot through the sql passdb/userdb queries docs/tables.md documents."""
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import free_port

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"


def _have_dovecot():
    return (os.path.exists(DOVECOT) and os.path.exists(DOVEADM) and
            any(os.path.exists(p) for p in ("/usr/lib/dovecot/modules/auth/libdriver_sqlite.so",
                                            "/usr/lib/dovecot/modules/libdriver_sqlite.so")))


def _sql_conf(db: Path, mail: Path, uid: int, gid: int) -> str:
    # Kept identical to docs/tables.md (ROOT, UID, GID filled in).
    return f"""driver = sqlite
connect = {db}
default_pass_scheme = CRYPT

password_query = SELECT address AS user, password_hash AS password \\
  FROM users WHERE address = '%Lu' AND password_hash <> ''

user_query = SELECT '{mail}/' || domain || '/' || \\
    substr(address, 1, length(address) - length(domain) - 1) AS home, \\
  'maildir:~' AS mail, '{uid}' AS uid, '{gid}' AS gid, \\
  CASE WHEN quota_bytes > 0 THEN '*:bytes=' || quota_bytes END AS quota_rule \\
  FROM users WHERE address = '%Lu'

iterate_query = SELECT address AS user FROM users
"""


def _dovecot_conf(wd: Path, sql: Path, port: int) -> str:
    root = os.getuid() == 0
    login, internal = ("dovenull", "dovecot") if root else (os.environ.get("USER", "root"),) * 2
    return f"""instance_name = sluice-tables-{port}
base_dir = {wd}/run
state_dir = {wd}/state
log_path = {wd}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_failure_delay = 0
default_login_user = {login}
default_internal_user = {internal}
default_internal_group = {internal}
first_valid_uid = 1
first_valid_gid = 1
passdb {{
  driver = sql
  args = {sql}
}}
userdb {{
  driver = sql
  args = {sql}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


def check_dovecot_reads(db: Path, mail: Path, wd: Path, lowered_user: str, password: str,
                        quota_rule: str, others=()):
    """Starts a private Dovecot on DB and checks logins and user lookups."""
    (wd / "run").mkdir(parents=True)
    (wd / "state").mkdir()
    for p in (wd, wd / "run"):
        os.chmod(p, 0o755)
    if os.getuid() == 0:  # dovecot's auth worker runs as "dovecot": let it read the db
        p = db.parent
        while p != p.parent:
            os.chmod(p, os.stat(p).st_mode | 0o005)
            p = p.parent
        os.chmod(db.parent, 0o777)
        for f in db.parent.iterdir():
            os.chmod(f, 0o666)
    uid, gid = (65534, 65534) if os.getuid() == 0 else (os.getuid(), os.getgid())
    sql = wd / "sql.conf"
    sql.write_text(_sql_conf(db, mail, uid, gid))
    conf = wd / "dovecot.conf"
    conf.write_text(_dovecot_conf(wd, sql, free_port()))
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        def doveadm(*args):
            return subprocess.run([DOVEADM, "-c", str(conf), *args], capture_output=True, text=True,
                                  timeout=20)
        deadline = time.time() + 15
        while True:
            r = doveadm("auth", "test", lowered_user, password)
            if r.returncode == 0 or time.time() > deadline:
                break
            time.sleep(0.2)
        log = wd / "dovecot.log"
        assert r.returncode == 0, r.stdout + r.stderr + (log.read_text() if log.exists() else "")
        # Login names are lowercased (%Lu) as sluice stores them.
        assert doveadm("auth", "test", lowered_user.upper(), password).returncode == 0
        assert doveadm("auth", "test", lowered_user, password + "x").returncode != 0
        assert doveadm("auth", "test", "nobody-here@" + lowered_user.split("@")[1], password).returncode != 0
        u = doveadm("user", lowered_user)
        assert u.returncode == 0, u.stderr
        fields = dict(line.split("\t", 1) for line in u.stdout.splitlines()[1:])
        local, domain = lowered_user.split("@")
        assert fields["home"] == str(mail / domain / local)
        assert fields["mail"] == "maildir:~"
        assert fields.get("quota_rule") == quota_rule
        listed = doveadm("user", "*").stdout.split()
        for a in (lowered_user, *others):
            assert a in listed, listed
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.mark.skipif(not _have_dovecot(), reason="needs dovecot-core and dovecot-sqlite")
def test_dovecot_reads_the_user_table(instance, tmp_path):
    inst = instance
    inst.run("sluice", "user", "add", "Bob@Example.test", "--password", "bob pw")
    inst.run("sluice", "user", "quota", "bob@example.test", "1000000")
    check_dovecot_reads(inst.root / "db" / "sluice.db", inst.root / "mail", tmp_path / "dove",
                        "bob@example.test", "bob pw", "*:bytes=1000000",
                        others=("postmaster@example.test",))
