"""Helpers of the delivery tests (test_delivery.py, test_dsn.py,
test_queue_admin.py): envelopes for sluice-inject, the key=value log,
Maildir file names and RFC 3464 reports read with Python's email package."""
import email
import re
import time
from pathlib import Path

DOMAIN = "example.test"
# A domain that is not local. Its route points at a port nobody listens on
# and DNS at a dead resolver, so once sluice-remote exists its attempts
# still fail temporarily and never leave the machine.
REMOTE = "remote.test"
SENDER = f"alice@{DOMAIN}"

# Short backoffs so that every retry of these tests happens within seconds.
FAST_QUEUE = {"retry_first": "1s", "retry_max": "2s", "local_concurrency": 2}


def dead_port_config(inst):
    from conftest import free_port
    port = free_port()
    return {"routes": {REMOTE: f"127.0.0.1:{port}"}, "dns": {"servers": [f"127.0.0.1:{port}"]}}


def prepare(inst, *users, queue=None, local=None, **sections):
    """Users (alice, the usual sender, always), short backoffs, a dead route
    for REMOTE; then starts the instance."""
    for u in ("alice",) + users:
        inst.run("sluice", "user", "add", u if "@" in u else f"{u}@{DOMAIN}")
    changes = {"queue": dict(FAST_QUEUE, **(queue or {}))}
    changes.update(dead_port_config(inst))
    if local:
        changes["local"] = local
    changes.update(sections)
    inst.configure(changes)
    inst.start()


def envelope(sender, *rcpts, ret=None, envid=None, extra=b""):
    """The fd 1 bytes of sluice-inject. A recipient is an address or a tuple
    (address, notify, orcpt) for the N and O records."""
    out = b"F" + sender.encode() + b"\0"
    if ret:
        out += b"R" + ret.encode() + b"\0"
    if envid:
        out += b"E" + envid.encode() + b"\0"
    out += extra
    for r in rcpts:
        addr, notify, orcpt = (r, None, None) if isinstance(r, str) else (tuple(r) + (None, None))[:3]
        out += b"T" + addr.encode() + b"\0"
        if notify:
            out += b"N" + notify.encode() + b"\0"
        if orcpt:
            out += b"O" + orcpt.encode() + b"\0"
    return out + b"\0"


def message(subject="test", body="hello\n", frm=SENDER, to="bob@example.test", extra=""):
    return (f"From: {frm}\nTo: {to}\nSubject: {subject}\nDate: Mon, 02 Mar 2026 10:00:00 +0000\n"
            f"Message-ID: <{subject.replace(' ', '.')}.{time.time_ns()}@{DOMAIN}>\n{extra}\n{body}").encode()


# --- the log ----------------------------------------------------------------

_FIELD = re.compile(r'([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_line(line):
    out = {}
    for k, v in _FIELD.findall(line):
        if v.startswith('"'):
            v = re.sub(r'\\(.)', r'\1', v[1:-1])
        out[k] = v
    return out


def log_events(inst, **match):
    """Parsed log lines whose fields include every KEY=VALUE of MATCH."""
    out = []
    for line in inst.log().splitlines():
        f = parse_line(line)
        if all(f.get(k) == v for k, v in match.items()):
            out.append(f)
    return out


def wait_for(pred, timeout, what, inst=None):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            tail = ("\n" + inst.log()[-4000:]) if inst else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{tail}")
        time.sleep(0.05)


def wait_log(inst, timeout=20, count=1, **match):
    return wait_for(lambda: (lambda ev: ev if len(ev) >= count else None)(log_events(inst, **match)), timeout,
                    f"{count} log line(s) with {match}", inst)


def queue_lines(inst):
    """`sluice queue list` split into lines of fields: qid date size state tries sender rcpts...
    (the trailing "(reason)" of a deferred message left out; queue_reasons() has it)."""
    return [l.split(" (", 1)[0].split() for l in inst.queue_list().splitlines() if l.strip()]


def queue_reasons(inst):
    """The "(rcpt: 4.x.x text)" reason at the end of each deferred line, without parentheses."""
    return [l.split(" (", 1)[1].rstrip(")") for l in inst.queue_list().splitlines() if " (" in l]


# --- Maildir ------------------------------------------------------------------

# Dovecot's unique name: SEC.M<usec>P<pid>Q<n>.<host>,S=<size> (":2,flags" in cur/).
MAILDIR_NAME = re.compile(r"^(\d+)\.M(\d+)P(\d+)Q(\d+)\.([^,/]+),S=(\d+)(:2,[A-Za-z]*)?$")


def name_fields(path: Path):
    m = MAILDIR_NAME.match(path.name)
    assert m, f"not a Dovecot-style Maildir name: {path.name}"
    return {"sec": int(m[1]), "usec": int(m[2]), "pid": int(m[3]), "q": int(m[4]), "host": m[5],
            "size": int(m[6])}


def settle(inst, seconds=1.5):
    """Waits until the queue is empty, then a little more so that a message
    that should NOT arrive (a second bounce, a report to <>) has had time to."""
    inst.wait_queue_empty()
    time.sleep(seconds)
    inst.wait_queue_empty()


# --- reports --------------------------------------------------------------------

def read_report(path: Path):
    """Parses PATH as an RFC 6522 report and checks its structure. Returns
    (message, per-message fields, [per-recipient fields], third part)."""
    data = path.read_bytes()
    msg = email.message_from_bytes(data)
    assert not msg.defects, msg.defects
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert isinstance(parts, list) and len(parts) >= 2, parts
    for p in msg.walk():
        assert not p.defects, (p.get_content_type(), p.defects)
    assert parts[0].get_content_type() == "text/plain"
    assert parts[1].get_content_type() == "message/delivery-status"
    blocks = parts[1].get_payload()
    assert len(blocks) >= 2, "a delivery-status part needs a per-message and a per-recipient block"
    third = parts[2] if len(parts) > 2 else None
    return msg, blocks[0], blocks[1:], third


def reports_in(inst, addr):
    return [read_report(p) for p in inst.messages(addr)]
