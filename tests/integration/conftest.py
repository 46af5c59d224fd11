"""Fixtures shared by the integration tests: a temporary sluice instance
driven through the real programs in bin/ (see tests/integration/README.md)."""
import errno
import os
import random
import signal
import socket
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / "bin"
PEERS = REPO.parent / "shared" / "peers"


# Ports are drawn below the kernel's ephemeral range (net.ipv4.ip_local_port_range,
# 32768-60999 by default). A port the kernel hands out for bind(0) can be handed
# out again, to this process or to any outgoing connection, between the check
# here and the moment sluice-start binds it; CI once lost a run to that. A port
# below the range is never taken by an outgoing connection, and _handed_out
# keeps this process from giving the same port to two listeners.
_PORT_RANGE = (20000, 32768)
_handed_out: set[int] = set()
_rng = random.Random(os.getpid() ^ time.time_ns())


def _bindable(family, host, port) -> bool:
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, port))
        return True
    except OSError as e:
        if family == socket.AF_INET6 and e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
            return True  # no ::1 on this host: only 127.0.0.1 matters
        return False


def free_port() -> int:
    """A TCP port free on 127.0.0.1 and ::1, not yet given out by this process."""
    for _ in range(200):
        port = _rng.randrange(*_PORT_RANGE)
        if port in _handed_out:
            continue
        if _bindable(socket.AF_INET, "127.0.0.1", port) and _bindable(socket.AF_INET6, "::1", port):
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port")


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def dump_toml(data: dict) -> str:
    """A small TOML writer: scalars first, then tables, nested as [a.b]."""
    out = []

    def emit(table, prefix):
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in table.items() if isinstance(v, dict)}
        if prefix and (scalars or not tables):
            out.append(f"\n[{prefix}]")
        for k, v in scalars.items():
            out.append(f"{_quote_key(k)} = {_toml_value(v)}")
        for k, v in tables.items():
            emit(v, f"{prefix}.{_quote_key(k)}" if prefix else _quote_key(k))

    emit(data, "")
    return "\n".join(out).lstrip("\n") + "\n"


def _quote_key(k: str) -> str:
    if k and all(c.isalnum() or c in "_-" for c in k):
        return k
    return '"' + k.replace('"', '\\"') + '"'


def _merge(dst: dict, src: dict):
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = v


class Instance:
    def __init__(self, root: Path, domain: str):
        self.root = root
        self.domain = domain
        self.config = root / "etc" / "sluice.toml"
        self.env = dict(os.environ)
        self.env["SLUICE_CONFIG"] = str(self.config)
        self.env["PATH"] = f"{BIN}:{self.env.get('PATH', '/usr/bin:/bin')}"
        self.proc = None
        self.logfile = None
        self.ports = {}

    # --- configuration -----------------------------------------------------
    def read_config(self) -> dict:
        with open(self.config, "rb") as f:
            return tomllib.load(f)

    def configure(self, changes: dict):
        """Merges CHANGES into etc/sluice.toml (comments are not kept)."""
        data = self.read_config()
        _merge(data, changes)
        self.config.write_text(dump_toml(data))

    # --- running programs ----------------------------------------------------
    def run(self, prog, *args, input=None, check=True, timeout=60, **kw):
        exe = str(BIN / prog) if (BIN / prog).exists() else prog
        r = subprocess.run([exe, *map(str, args)], input=input, env=self.env, capture_output=True,
                           text=not isinstance(input, bytes), timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise AssertionError(f"{prog} {' '.join(map(str, args))} exited {r.returncode}\n"
                                 f"stdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def sendmail(self, message: bytes, *rcpts, sender=None, timeout=60):
        args = [str(BIN / "sendmail"), "-i"]
        if sender is not None:
            args += ["-f", sender]
        return subprocess.run(args + list(rcpts), input=message, env=self.env, capture_output=True,
                              timeout=timeout)

    def inject(self, message: bytes, envelope: bytes, timeout=60):
        """bin/sluice-inject with the message on fd 0 and the envelope on fd 1."""
        r_env, w_env = os.pipe()
        r_msg, w_msg = os.pipe()
        p = subprocess.Popen([str(BIN / "sluice-inject")], stdin=r_msg, stdout=r_env, stderr=subprocess.PIPE,
                             env=self.env)
        os.close(r_env)
        os.close(r_msg)
        try:
            with os.fdopen(w_msg, "wb") as f:
                f.write(message)
        except BrokenPipeError:
            pass
        try:
            with os.fdopen(w_env, "wb") as f:
                f.write(envelope)
        except BrokenPipeError:
            pass
        err = p.stderr.read()
        p.stderr.close()
        rc = p.wait(timeout=timeout)
        return subprocess.CompletedProcess(p.args, rc, b"", err)

    def start(self, timeout=30):
        (self.root / "log").mkdir(exist_ok=True)
        self.logfile = open(self.root / "log" / "sluice.log", "ab")
        self.proc = subprocess.Popen([str(BIN / "sluice-start"), "-c", str(self.config)], stdin=subprocess.DEVNULL,
                                     stdout=self.logfile, stderr=self.logfile, env=self.env,
                                     start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"sluice-start exited {self.proc.returncode}:\n{self.log()}")
            if self.run("sluice", "status", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise AssertionError(f"instance not ready after {timeout}s:\n{self.log()}")

    def stop(self, timeout=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc:
            # Nothing of the instance may outlive the test.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None
        if self.logfile:
            self.logfile.close()
            self.logfile = None

    def log(self) -> str:
        p = self.root / "log" / "sluice.log"
        return p.read_text(errors="replace") if p.exists() else ""

    # --- mailboxes and queue ---------------------------------------------------
    def maildir(self, addr: str) -> Path:
        local, domain = addr.rsplit("@", 1)
        return self.root / "mail" / domain.lower() / local.lower()

    def messages(self, addr: str):
        md = self.maildir(addr)
        out = []
        for sub in ("new", "cur"):
            d = md / sub
            if d.is_dir():
                out += sorted(d / n for n in os.listdir(d))
        return out

    def wait_for_mail(self, addr: str, count=1, timeout=30):
        deadline = time.time() + timeout
        while True:
            msgs = self.messages(addr)
            if len(msgs) >= count:
                return msgs
            if time.time() > deadline:
                raise AssertionError(f"{addr}: {len(msgs)} of {count} messages after {timeout}s\n{self.log()[-4000:]}")
            time.sleep(0.05)

    def queue_list(self) -> str:
        return self.run("sluice", "queue", "list").stdout

    def wait_queue_empty(self, timeout=30):
        deadline = time.time() + timeout
        while True:
            out = self.queue_list()
            if out.strip() == "":
                return
            if time.time() > deadline:
                raise AssertionError(f"queue not empty after {timeout}s:\n{out}\n{self.log()[-4000:]}")
            time.sleep(0.1)


def make_instance(base: Path, domain="example.test") -> Instance:
    root = base / "inst"
    r = subprocess.run([str(BIN / "sluice"), "init", str(root), "--domain", domain], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"sluice init failed: {r.stdout}{r.stderr}")
    inst = Instance(root, domain)
    inst.ports = {k: free_port() for k in ("smtp", "submission", "submissions", "pop3", "pop3s")}
    changes = {"smtpd": {"listen": [f"127.0.0.1:{inst.ports['smtp']}"],
                         "submission_listen": [f"127.0.0.1:{inst.ports['submission']}"],
                         "submissions_listen": [f"127.0.0.1:{inst.ports['submissions']}"]}}
    if "pop3" in inst.read_config():
        changes["pop3"] = {"listen": [f"127.0.0.1:{inst.ports['pop3']}"],
                           "pop3s_listen": [f"127.0.0.1:{inst.ports['pop3s']}"]}
    inst.configure(changes)
    if os.geteuid() == 0:
        setup_as_root(inst)
    return inst


def setup_as_root(inst: Instance):
    """As root (CI), the instance runs as DESIGN.md says: each program under
    its own account. The accounts must be able to reach the instance inside
    pytest's private temporary directories."""
    p = inst.root
    while p != p.parent:
        os.chmod(p, os.stat(p).st_mode | 0o011)
        p = p.parent
    inst.run("sluice", "setup")


@pytest.fixture
def instance(tmp_path):
    inst = make_instance(tmp_path)
    yield inst
    inst.stop()


@pytest.fixture
def make_instance_at(tmp_path):
    """For tests that need two instances (sender and receiver)."""
    made = []

    def make(name, domain="example.test"):
        d = tmp_path / name
        d.mkdir()
        inst = make_instance(d, domain)
        made.append(inst)
        return inst

    yield make
    for inst in made:
        inst.stop()
