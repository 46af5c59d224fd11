#!/usr/bin/env python3
"""sendmail -> Maildir throughput of a fresh instance.

Injects N messages of SIZE bytes with CONC parallel `sendmail` calls to a
set of users, waits until every one is in a Maildir, stops the instance and
prints one line:
  path=sendmail-maildir conc=C n=N msg_per_s=R cpu_ms_per_msg=X
CPU time is that of every process involved (sendmail, sluice-inject, the
scheduler and deliverers), taken from the rusage of reaped children, so it
includes the exec of sendmail and sluice-inject that a script pays.
With --fsyncs the run is made under strace and prints fsyncs_per_msg instead."""
import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / "bin"


def message(i, size):
    head = (f"From: bench@example.test\nTo: user@example.test\nSubject: bench {i}\n"
            f"Message-ID: <bench-{i}-{os.getpid()}@example.test>\n\n")
    line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n"
    body = (line * (size // len(line) + 1))[: max(0, size - len(head))]
    return (head + body).encode()


def count_delivered(root, users):
    n = 0
    for u in users:
        d = root / "mail" / "example.test" / u / "new"
        if d.is_dir():
            n += len(os.listdir(d))
    return n


def run(args):
    base = Path(tempfile.mkdtemp(prefix="sluice-bench-", dir=args.dir))
    root = base / "inst"
    env = dict(os.environ, SLUICE_CONFIG=str(root / "etc" / "sluice.toml"), PATH=f"{BIN}:{os.environ['PATH']}")
    subprocess.run([BIN / "sluice", "init", root, "--domain", "example.test"], check=True, env=env,
                   capture_output=True)
    users = [f"u{i}" for i in range(args.users)]
    for u in users:
        subprocess.run([BIN / "sluice", "user", "add", f"{u}@example.test", "--password", "x"], check=True,
                       env=env, capture_output=True)
    cfg = root / "etc" / "sluice.toml"
    # Keep the listeners off the development ports so a running `make run`
    # instance does not collide with the benchmark.
    text = cfg.read_text()
    for port in ("2525", "2587", "2465", "2110", "2995"):
        text = text.replace(f":{port}\"", f":{int(port) + 30000}\"")
    cfg.write_text(text)
    log = open(base / "sluice.log", "wb")
    pre = [] if not args.fsyncs else ["strace", "-f", "-qq", "-c", "-e", "trace=fsync,fdatasync,syncfs,sync_file_range",
                                      "-o", str(base / "strace.start")]
    start = subprocess.Popen(pre + [BIN / "sluice-start", "-c", cfg], stdout=log, stderr=log, env=env,
                             start_new_session=True)
    deadline = time.time() + 30
    while subprocess.run([BIN / "sluice", "status"], env=env, capture_output=True).returncode != 0:
        if time.time() > deadline or start.poll() is not None:
            print("bench: instance did not start", file=sys.stderr)
            print((base / "sluice.log").read_text()[-3000:], file=sys.stderr)
            return 1
        time.sleep(0.1)
    msgs = [message(i, args.size) for i in range(args.n)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)

    def send(i):
        cmd = [str(BIN / "sendmail"), "-i", f"{users[i % len(users)]}@example.test"]
        if args.fsyncs:
            cmd = ["strace", "-f", "-qq", "-c", "-e", "trace=fsync,fdatasync,syncfs,sync_file_range",
                   "-o", str(base / f"strace.send.{i}")] + cmd
        r = subprocess.run(cmd, input=msgs[i], env=env, capture_output=True)
        if r.returncode != 0:
            raise RuntimeError(f"sendmail exited {r.returncode}: {r.stderr.decode()}")

    t0 = time.time()
    with ThreadPoolExecutor(max_workers=args.conc) as ex:
        list(ex.map(send, range(args.n)))
    deadline = time.time() + 600
    while count_delivered(root, users) < args.n:
        if time.time() > deadline:
            print(f"bench: only {count_delivered(root, users)} of {args.n} delivered", file=sys.stderr)
            break
        time.sleep(0.01)
    elapsed = time.time() - t0
    start.send_signal(signal.SIGTERM)
    start.wait(timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if args.fsyncs:
        total = 0
        for f in base.glob("strace.*"):
            for line in f.read_text().splitlines():
                parts = line.split()
                if parts and parts[-1] in ("fsync", "fdatasync", "syncfs", "sync_file_range"):
                    total += int(parts[3]) if len(parts) >= 6 else int(parts[2])
        print(f"path=sendmail-maildir n={args.n} fsyncs_per_msg={total / args.n:.2f}")
    else:
        print(f"path=sendmail-maildir conc={args.conc} n={args.n} size={args.size} "
              f"msg_per_s={args.n / elapsed:.0f} cpu_ms_per_msg={1000 * cpu / args.n:.2f}")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=2000)
    p.add_argument("-c", "--conc", type=int, default=1)
    p.add_argument("--size", type=int, default=10240)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--fsyncs", action="store_true")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--dir", default=None)
    sys.exit(run(p.parse_args()))


if __name__ == "__main__":
    main()
