#!/usr/bin/env python3
"""sendmail -> Maildir throughput of a fresh instance.

Injects N messages of SIZE bytes with CONC parallel `sendmail` calls spread
over 20 users, waits until every one is in a Maildir, stops the instance
and prints one line:
  path=sendmail-maildir conc=C n=N msg_per_s=R cpu_ms_per_msg=X
CPU time is that of every process involved (sendmail, sluice-inject, the
scheduler and deliverers), so it includes the two execs a script pays.
With --fsyncs it counts fsync and fdatasync calls machine-wide with
`perf stat` while the messages go through (run it on a quiet machine) and
prints fsyncs_per_msg."""
import argparse
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from benchlib import BIN, BenchInstance, cpu_children, message

PERF = ["perf", "stat", "-a", "-x", ",", "-e", "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync", "-o"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=2000)
    p.add_argument("-c", "--conc", type=int, default=1)
    p.add_argument("--size", type=int, default=10240)
    p.add_argument("--fsyncs", action="store_true")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()

    inst = BenchInstance()
    inst.start()
    msgs = [message(i, args.size) for i in range(args.n)]
    perf = None
    if args.fsyncs:
        perf = subprocess.Popen(PERF + [str(inst.base / "perf.csv")], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # perf attaches its counters

    def send(i):
        cmd = [str(BIN / "sendmail"), "-i", f"{inst.users[i % len(inst.users)]}@example.test"]
        r = subprocess.run(cmd, input=msgs[i], env=inst.env, capture_output=True)
        if r.returncode != 0:
            raise RuntimeError(f"sendmail exited {r.returncode}: {r.stderr.decode()}")

    cpu0 = cpu_children()
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=args.conc) as ex:
        list(ex.map(send, range(args.n)))
    ok = inst.wait_delivered(args.n)
    elapsed = time.time() - t0
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait()
        total = sum(int(line.split(",")[0]) for line in (inst.base / "perf.csv").read_text().splitlines()
                    if "sys_enter_f" in line and line.split(",")[0].isdigit())
        inst.stop(keep=args.keep)
        print(f"path=sendmail-maildir n={args.n} fsyncs_per_msg={total / args.n:.2f}")
    else:
        inst.stop(keep=args.keep)
        cpu = cpu_children() - cpu0
        print(f"path=sendmail-maildir conc={args.conc} n={args.n} size={args.size} "
              f"msg_per_s={args.n / elapsed:.0f} cpu_ms_per_msg={1000 * cpu / args.n:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
