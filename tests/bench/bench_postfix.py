#!/usr/bin/env python3
"""make bench: Postfix measured beside sluice in the same run, so "three
times Postfix" (issue 3) compares figures from one machine at one moment.

A private Postfix instance (its own config, queue and mail directories
under a temporary directory, port 127.0.0.1:32526, no chroot) with its
durable defaults delivers to a Maildir through virtual(8); the load is the
same smtp-source command as bench_smtp.py: 10 KB messages, a new session
per message, at 20 and 100 clients. CPU per message is the CPU of every
Postfix process, read from a cpuacct cgroup the master starts in (or, where
cgroups cannot be made, summed from /proc before the processes exit).

Postfix is installed from Debian when missing (apt-get, not started:
policy-rc.d refuses, and the package is left unconfigured); the system's
own Postfix, if any, is not touched.
Usage: bench_postfix.py [-n MESSAGES] [-c CLIENTS]..."""
import argparse
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import Machine

PORT = 32526
CGROUP = Path("/sys/fs/cgroup/cpuacct/sluice-bench-postfix")


def ensure_postfix():
    if os.path.exists("/usr/sbin/postfix"):
        return True
    if os.geteuid() != 0:
        print("bench=postfix_reference error=postfix_missing (run as root to install it)", flush=True)
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["debconf-set-selections"], input=b"postfix postfix/main_mailer_type select No configuration\n",
                   check=False)
    guard = Path("/usr/sbin/policy-rc.d")
    had_guard = guard.exists()
    if not had_guard:
        guard.write_text("#!/bin/sh\nexit 101\n")
        guard.chmod(0o755)
    try:
        r = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "postfix"], env=env,
                           capture_output=True, text=True)
    finally:
        if not had_guard:
            guard.unlink()
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-2000:] + r.stderr[-2000:])
        print("bench=postfix_reference error=install_failed", flush=True)
        return False
    return True


class Postfix:
    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="sluice-bench-postfix-"))
        os.chmod(self.base, 0o755)
        self.etc, self.spool, self.data, self.mail = (self.base / d for d in ("etc", "spool", "data", "mail"))
        for d in (self.etc, self.spool, self.data, self.mail):
            d.mkdir()
        nobody = pwd.getpwnam("nobody")
        shutil.chown(self.mail, nobody.pw_uid, nobody.pw_gid)
        shutil.chown(self.data, "postfix")
        (self.etc / "vmailbox").write_text("u0@bench.test u0/\n")
        (self.etc / "main.cf").write_text(f"""compatibility_level = 3.6
myhostname = postfix-bench.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
queue_directory = {self.spool}
data_directory = {self.data}
virtual_mailbox_domains = bench.test
virtual_mailbox_base = {self.mail}
virtual_mailbox_maps = texthash:{self.etc}/vmailbox
virtual_uid_maps = static:{nobody.pw_uid}
virtual_gid_maps = static:{nobody.pw_gid}
smtpd_banner = $myhostname ESMTP
# No DNS on the bench machine; sluice-smtpd does no client name lookups either.
smtpd_peername_lookup = no
# Postfix's own log file (postlogd), as sluice writes its log: a Postfix
# that logs nowhere would be measured cheaper than it runs anywhere.
maillog_file = {self.base}/maillog
maillog_file_prefixes = {self.base}
biff = no
alias_maps =
alias_database =
""")
        # Debian's master.cf, with no chroot and the MX service on our port.
        lines = []
        for line in Path("/usr/share/postfix/master.cf.dist").read_text().splitlines():
            f = line.split()
            if f and not line.startswith(("#", " ", "\t")) and len(f) >= 8:
                if f[0] == "smtp" and f[1] == "inet":
                    f[0] = f"127.0.0.1:{PORT}"
                f[4] = "n"  # chroot
                line = " ".join(f)
            lines.append(line)
        (self.etc / "master.cf").write_text("\n".join(lines) + "\n")
        self.cg = None

    def postfix(self, *args, check=True):
        return subprocess.run(["/usr/sbin/postfix", "-c", str(self.etc), *args], capture_output=True, text=True,
                              check=check)

    def start(self):
        self.postfix("check")  # makes the queue directories
        try:
            CGROUP.mkdir(exist_ok=True)
            self.cg = CGROUP
        except OSError:
            self.cg = None
        if self.cg:
            # The shell joins the cgroup before it execs postfix, so the master
            # and every process it starts are counted there.
            cmd = f"echo $$ > {self.cg}/cgroup.procs && exec /usr/sbin/postfix -c {self.etc} start"
            subprocess.run(["sh", "-c", cmd], check=True, capture_output=True)
        else:
            self.postfix("start")
        deadline = time.time() + 30
        while time.time() < deadline:
            r = subprocess.run(["sh", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{PORT}"], executable="/bin/bash",
                               capture_output=True)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postfix did not start: " + self.postfix("status", check=False).stderr)

    def cpu_seconds(self):
        if self.cg:
            return int((self.cg / "cpuacct.usage").read_text()) / 1e9
        # Without a cgroup: live processes of the instance, plus what the
        # master collected from children that exited.
        hz = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                cmd = (d / "cmdline").read_bytes()
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if str(self.etc).encode() not in cmd and b"postfix" not in cmd:
                continue
            f = stat[stat.rindex(")") + 2:].split()
            total += (int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / hz
        return total

    def delivered(self):
        d = self.mail / "u0" / "new"
        return len(os.listdir(d)) if d.is_dir() else 0

    def stop(self):
        self.postfix("stop", check=False)
        # A master left behind would keep the port and take the next run's
        # connections.
        pid_file = self.spool / "pid" / "master.pid"
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                pid = int(pid_file.read_text().split()[0])
                os.kill(pid, 0)
            except (OSError, ValueError, IndexError):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        while self.cg and (self.cg / "cgroup.procs").read_text().strip() and time.time() < deadline:
            time.sleep(0.1)
        if self.cg:
            try:
                self.cg.rmdir()
            except OSError:
                pass
        if os.environ.get("SLUICE_BENCH_TRASH"):
            trash = Path(tempfile.gettempdir()) / "sluice-bench-trash"
            trash.mkdir(exist_ok=True)
            os.rename(self.base, trash / self.base.name)
        else:
            shutil.rmtree(self.base, ignore_errors=True)


def throughput(n, conc):
    pf = Postfix()
    try:
        pf.start()
        cpu0 = pf.cpu_seconds()
        t0 = time.time()
        machine = Machine()
        r = subprocess.run(["/usr/sbin/smtp-source", "-s", str(conc), "-m", str(n), "-l", "10240",
                            "-f", "bench@bench.test", "-t", "u0@bench.test", f"127.0.0.1:{PORT}"],
                           capture_output=True, text=True, timeout=900)
        accept = time.time() - t0
        if r.returncode != 0:
            sys.stderr.write(r.stdout + r.stderr)
        deadline = time.time() + 600
        while pf.delivered() < n and time.time() < deadline:
            time.sleep(0.01)
        e2e = time.time() - t0
        whole = machine.report(n)
        ok = pf.delivered() >= n
        cpu = pf.cpu_seconds() - cpu0
    finally:
        pf.stop()
    print(f"bench=postfix_maildir n={n} size=10240 conc={conc} accept_rate={n / accept:.0f} "
          f"e2e_rate={n / e2e:.0f} cpu_ms_per_msg={1000 * cpu / n:.2f} {whole} complete={'yes' if ok else 'no'}",
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=3000)
    ap.add_argument("-c", type=int, action="append", help="concurrent clients (repeatable; default 20 and 100)")
    a = ap.parse_args()
    if not ensure_postfix():
        return
    for conc in a.c or (20, 100):
        throughput(a.n, conc)


if __name__ == "__main__":
    main()
