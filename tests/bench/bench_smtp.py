#!/usr/bin/env python3
"""make bench: sluice-smtpd figures (issue 3), one key=value line each.

1. SMTP -> Maildir rate for 10 KB messages, a new session per message, at
   20 and 100 concurrent clients, driven by Postfix's smtp-source (found in
   PATH or /usr/sbin, else fetched once with `apt-get download postfix` and
   unpacked under build/postfix, never installed); CPU ms per message of
   every sluice process (the load tool's own CPU excluded).
2. Memory with 10,000 idle sessions (connect, banner, EHLO, sit):
   /work/shared/bench/idle_sessions.py, the RSS and PSS sums of the
   sluice-smtpd workers.
Usage: bench_smtp.py [-n MESSAGES] [-c CLIENTS]... [--idle N] [--skip-idle | --idle-only]"""
import argparse
import glob
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchlib import REPO, BenchInstance, Machine, cpu_children

IDLE_TOOL = REPO.parent / "shared" / "bench" / "idle_sessions.py"


def smtp_source():
    """(argv0, env) for smtp-source."""
    for p in (shutil.which("smtp-source"), "/usr/sbin/smtp-source"):
        if p and os.access(p, os.X_OK):
            return p, dict(os.environ)
    cache = REPO / "build" / "postfix"
    exe = cache / "usr" / "sbin" / "smtp-source"
    if not exe.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "postfix"], cwd=cache, check=True, capture_output=True)
        (deb,) = glob.glob(str(cache / "postfix_*.deb"))
        subprocess.run(["dpkg-deb", "-x", deb, str(cache)], check=True)
    return str(exe), dict(os.environ, LD_LIBRARY_PATH=str(cache / "usr" / "lib" / "postfix"))


def set_keys(cfg: Path, section: str, keys: dict):
    """Adds KEYS at the top of [SECTION] of the instance's sluice.toml."""
    text = cfg.read_text()
    lines = "".join(f"{k} = {v}\n" for k, v in keys.items())
    head = f"[{section}]\n"
    assert head in text, section
    cfg.write_text(text.replace(head, head + lines, 1))


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def throughput(n, conc):
    exe, env = smtp_source()
    inst = BenchInstance(users=1)
    set_keys(inst.cfg, "smtpd", {"greet_pause": '"0s"'})
    set_keys(inst.cfg, "limits", {"sessions_per_ip": conc * 4})
    cpu0 = cpu_children()
    inst.start()
    try:
        t0 = time.time()
        c0 = cpu_children()
        machine = Machine()
        r = subprocess.run([exe, "-s", str(conc), "-m", str(n), "-l", "10240", "-f", "bench@bench.test",
                            "-t", "u0@example.test", f"127.0.0.1:{inst.smtp_port}"],
                           env=env, capture_output=True, text=True, timeout=900)
        accept = time.time() - t0
        tool_cpu = cpu_children() - c0
        if r.returncode != 0:
            sys.stderr.write(r.stdout + r.stderr)
        ok = inst.wait_delivered(n)
        e2e = time.time() - t0
        whole = machine.report(n)
        progs = inst.cpu_by_program()
    finally:
        inst.stop()
    sluice_cpu = cpu_children() - cpu0 - tool_cpu
    print(f"bench=smtp_maildir n={n} size=10240 conc={conc} accept_rate={n / accept:.0f} "
          f"e2e_rate={n / e2e:.0f} cpu_ms_per_msg={1000 * sluice_cpu / n:.2f} tool_cpu_ms_per_msg={1000 * tool_cpu / n:.3f} "
          f"{whole} complete={'yes' if ok else 'no'}",
          flush=True)
    # Where the CPU went: processes still running at the end (start-up
    # included), and exited= the rest, mostly sluice-local members that
    # left after local.max_use jobs (with rounds, one member does most of
    # the deliveries and leaves every thousand).
    top = sorted(progs.items(), key=lambda kv: -kv[1])
    exited = max(0.0, sluice_cpu - sum(progs.values()))
    print(f"bench=smtp_maildir_by_program conc={conc} " +
          " ".join(f"{k.removeprefix('sluice-')}_ms={1000 * v / n:.3f}" for k, v in top if v > 0) +
          f" exited_ms={1000 * exited / n:.3f}", flush=True)


def idle(n):
    inst = BenchInstance(users=1)
    set_keys(inst.cfg, "smtpd", {"greet_pause": '"0s"'})
    set_keys(inst.cfg, "limits", {"sessions_per_ip": n + 1000, "sessions": n + 1000})
    raise_nofile()  # sluice-start and the workers inherit it
    inst.start()
    try:
        r = subprocess.run([sys.executable, str(IDLE_TOOL), "--port", str(inst.smtp_port), "-n", str(n),
                            "--rate", "2000", "--hold", "5", "--tick", "60", "--procname", "sluice-smtpd"],
                           capture_output=True, text=True, timeout=300)
    finally:
        inst.stop()
    final = [l for l in r.stdout.splitlines() if l.startswith("final ")]
    if not final:
        sys.stderr.write(r.stdout[-2000:] + r.stderr[-2000:])
        print(f"bench=smtp_idle sessions={n} error=no_report", flush=True)
        return
    f = dict(kv.split("=", 1) for kv in final[0].split() if "=" in kv)
    print(f"bench=smtp_idle sessions={n} open={f['ehlo_ok_open']} procs={f['procs']} "
          f"rss_sum_mib={f['rss_sum_mib']} pss_sum_mib={f['pss_sum_mib']}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=3000)
    ap.add_argument("-c", type=int, action="append", help="concurrent clients (repeatable; default 20 and 100)")
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--skip-idle", action="store_true")
    ap.add_argument("--idle-only", action="store_true")
    a = ap.parse_args()
    for conc in () if a.idle_only else a.c or (20, 100):
        throughput(a.n, conc)
    if not a.skip_idle:
        idle(a.idle)


if __name__ == "__main__":
    main()
