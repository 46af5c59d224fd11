#!/usr/bin/env python3
"""sendmail -> Maildir throughput of a fresh instance.

Injects N messages of SIZE bytes with CONC parallel `sendmail` calls spread
over 20 users, waits until every one is in a Maildir, stops the instance
and prints one line:
  path=sendmail-maildir conc=C n=N msg_per_s=R cpu_ms_per_msg=X
CPU time is that of every process involved (sendmail, sluice-inject, the
scheduler and deliverers), so it includes the two execs a script pays.
With --fsyncs the run is made under strace and prints fsyncs_per_msg."""
import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from benchlib import BIN, BenchInstance, cpu_children, message, strace_count

STRACE = ["strace", "-f", "-qq", "-c", "-e", "trace=fsync,fdatasync,syncfs,sync_file_range", "-o"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=2000)
    p.add_argument("-c", "--conc", type=int, default=1)
    p.add_argument("--size", type=int, default=10240)
    p.add_argument("--fsyncs", action="store_true")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()

    inst = BenchInstance()
    inst.start(prefix=STRACE + [str(inst.base / "strace.start")] if args.fsyncs else ())
    msgs = [message(i, args.size) for i in range(args.n)]

    def send(i):
        cmd = [str(BIN / "sendmail"), "-i", f"{inst.users[i % len(inst.users)]}@example.test"]
        if args.fsyncs:
            cmd = STRACE + [str(inst.base / f"strace.send.{i}")] + cmd
        r = subprocess.run(cmd, input=msgs[i], env=inst.env, capture_output=True)
        if r.returncode != 0:
            raise RuntimeError(f"sendmail exited {r.returncode}: {r.stderr.decode()}")

    cpu0 = cpu_children()
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=args.conc) as ex:
        list(ex.map(send, range(args.n)))
    ok = inst.wait_delivered(args.n)
    elapsed = time.time() - t0
    if args.fsyncs:
        inst.stop(keep=True)
        total = strace_count(inst.base.glob("strace.*"))
        print(f"path=sendmail-maildir n={args.n} fsyncs_per_msg={total / args.n:.2f}")
        inst.stop(keep=args.keep)
    else:
        inst.stop(keep=args.keep)
        cpu = cpu_children() - cpu0
        print(f"path=sendmail-maildir conc={args.conc} n={args.n} size={args.size} "
              f"msg_per_s={args.n / elapsed:.0f} cpu_ms_per_msg={1000 * cpu / args.n:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
