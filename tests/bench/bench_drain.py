#!/usr/bin/env python3
"""Queue -> Maildir drain rate: N messages of SIZE bytes are queued with the
instance stopped, then it is started and the time and CPU until every one is
in a Maildir are measured. This is the scheduler and deliverer cost alone,
without any client's exec; it prints one line:
  path=queue-maildir n=N msg_per_s=R cpu_ms_per_msg=X"""
import argparse
import os
import subprocess
import sys
import time

from benchlib import BIN, BenchInstance, message


def cpu_of_tree(root_pid):
    """CPU seconds of ROOT_PID (with its reaped children) and its live children."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(d), int(st[1])
        if pid == root_pid:
            total += sum(int(x) for x in st[11:15])
        elif ppid == root_pid:
            total += int(st[11]) + int(st[12])
    return total / tick


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=2000)
    p.add_argument("--size", type=int, default=10240)
    args = p.parse_args()
    inst = BenchInstance()
    for i in range(args.n):
        to = f"{inst.users[i % len(inst.users)]}@example.test"
        r_env, w_env = os.pipe()
        proc = subprocess.Popen([str(BIN / "sluice-inject")], stdin=subprocess.PIPE, stdout=r_env, env=inst.env)
        os.close(r_env)
        os.write(w_env, f"Fbench@example.test\0T{to}\0\0".encode())
        os.close(w_env)
        proc.stdin.write(message(i, args.size, to))
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError("sluice-inject failed")
    t0 = time.time()
    inst.start()
    ok = inst.wait_delivered(args.n)
    elapsed = time.time() - t0
    cpu = cpu_of_tree(inst.proc.pid)
    inst.stop()
    print(f"path=queue-maildir n={args.n} size={args.size} msg_per_s={args.n / elapsed:.0f} "
          f"cpu_ms_per_msg={1000 * cpu / args.n:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
