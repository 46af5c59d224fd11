"""A throw-away instance for benchmarks, started as a child so that the
CPU time of every sluice process comes back in RUSAGE_CHILDREN when it is
stopped."""
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / "bin"


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Machine:
    """The whole machine's CPU over a run, from /proc/stat: what the MTA,
    the load tool, kernel threads (the block layer's kworkers dispatch
    every flush) and interrupts took together, and how much of the time
    the CPUs were idle or waiting for the disk. The MTA's own CPU (rusage
    or cgroup) misses the kworkers, and interrupt work is charged to
    whatever process it interrupted, the load tool included."""

    def __init__(self):
        self.t0 = self._read()

    @staticmethod
    def _read():
        with open("/proc/stat") as stat:
            f = [int(x) for x in stat.readline().split()[1:9]]
        idle = f[3] + f[4]  # idle, iowait
        return sum(f) - idle, idle

    def report(self, n):
        """'machine_busy_ms_per_msg=... machine_idle_pct=...' since creation."""
        busy, idle = (b - a for a, b in zip(self.t0, self._read()))
        hz = os.sysconf("SC_CLK_TCK")
        return (f"machine_busy_ms_per_msg={1000 * busy / hz / n:.2f} "
                f"machine_idle_pct={100 * idle / max(1, busy + idle):.1f}")


def message(i, size, to="user@example.test"):
    head = (f"From: bench@example.test\nTo: {to}\nSubject: bench {i}\n"
            f"Message-ID: <bench-{i}-{os.getpid()}@example.test>\n\n")
    line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n"
    body = (line * (size // len(line) + 1))[: max(0, size - len(head))]
    return (head + body).encode()


TRASH = Path(tempfile.gettempdir()) / "sluice-bench-trash"


def discard(path):
    """Sets a finished instance aside; tests/bench/run-all deletes them all at
    the end. Deleting thousands of files between two benchmarks would make
    the next one pay for it: ext4 without a journal steps over every inode
    freed in the last minutes when it allocates one."""
    if os.environ.get("SLUICE_BENCH_TRASH"):
        TRASH.mkdir(exist_ok=True)
        os.rename(path, TRASH / Path(path).name)
    else:
        shutil.rmtree(path, ignore_errors=True)


class BenchInstance:
    PORT_SHIFT = 30000

    def __init__(self, users=20, base_dir=None, extra_toml=""):
        self.base = Path(tempfile.mkdtemp(prefix="sluice-bench-", dir=base_dir))
        self.root = self.base / "inst"
        self.cfg = self.root / "etc" / "sluice.toml"
        self.env = dict(os.environ, SLUICE_CONFIG=str(self.cfg), PATH=f"{BIN}:{os.environ['PATH']}")
        self.run("sluice", "init", self.root, "--domain", "example.test")
        self.users = [f"u{i}" for i in range(users)]
        for u in self.users:
            self.run("sluice", "user", "add", f"{u}@example.test", "--password", "x")
        # Off the development ports, so a running `make run` instance does not collide.
        text = self.cfg.read_text()
        for port in ("2525", "2587", "2465", "2110", "2995"):
            text = text.replace(f":{port}\"", f":{int(port) + self.PORT_SHIFT}\"")
        self.cfg.write_text(text + extra_toml)
        if os.geteuid() == 0:
            # As root the programs run under their own accounts, as in production.
            p = self.root
            while p != p.parent:
                os.chmod(p, os.stat(p).st_mode | 0o011)
                p = p.parent
            self.run("sluice", "setup")
        self.smtp_port = 2525 + self.PORT_SHIFT
        self.proc = None

    def run(self, prog, *args):
        return subprocess.run([BIN / prog, *map(str, args)], check=True, env=self.env, capture_output=True)

    def start(self, prefix=()):
        self.log = open(self.base / "sluice.log", "wb")
        self.proc = subprocess.Popen(list(prefix) + [BIN / "sluice-start", "-c", self.cfg], stdout=self.log,
                                     stderr=self.log, env=self.env, start_new_session=True)
        deadline = time.time() + 30
        while subprocess.run([BIN / "sluice", "status"], env=self.env, capture_output=True).returncode != 0:
            if time.time() > deadline or self.proc.poll() is not None:
                sys.stderr.write((self.base / "sluice.log").read_text()[-3000:])
                raise RuntimeError("bench: instance did not start")
            time.sleep(0.1)

    def delivered(self):
        n = 0
        for u in self.users:
            d = self.root / "mail" / "example.test" / u / "new"
            if d.is_dir():
                n += len(os.listdir(d))
        return n

    def wait_delivered(self, n, timeout=600):
        deadline = time.time() + timeout
        while self.delivered() < n:
            if time.time() > deadline:
                sys.stderr.write(f"bench: only {self.delivered()} of {n} delivered\n")
                return False
            time.sleep(0.01)
        return True

    def cpu_by_program(self):
        """Seconds of CPU each running program of the instance has used so
        far, summed over its processes (by name)."""
        tick = os.sysconf("SC_CLK_TCK")
        out = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
                if os.getsid(int(d)) != self.proc.pid:
                    continue
            except OSError:
                continue
            name = st[st.index("(") + 1:st.rindex(")")]
            fields = st[st.rindex(")") + 2:].split()
            out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
        return out

    def stop(self, keep=False):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.proc = None
        if not keep:
            discard(self.base)

