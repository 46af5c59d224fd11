#!/usr/bin/python3
"""SMTP -> Maildir, sluice beside Postfix: PAIRS interleaved runs of each
(bench_smtp.py, then bench_postfix.py) at one concurrency, every line they
print passed through, then one summary line with the medians.

Why pairs and medians: on the shared virtual machine we measure on, the
host's speed drifts by a tenth or more within minutes (smtp-source's own CPU
per message, the same work every time, ranged from 0.12 to 0.23 ms within
one session). One run of each side can land on a fast and a slow minute, and
the ratio between them then says more about the host than about either MTA.
Each pair runs back to back, so its ratio compares the two under the same
conditions; the median of the pairs' ratios is the figure the issue's "three
times Postfix" is read from, and the median rates are printed beside it.

Each run starts PAUSE seconds after a sync: ext4 without a journal steps
over every inode freed in the last 30 s when it allocates one, and Postfix
unlinks a queue file per message, so whichever ran right after the other
would pay for its deletions (tests/bench/run-all says more).
"""
import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(script, n, conc, extra=()):
    """Runs one bench script, echoes its output, returns its e2e_rate or None."""
    p = subprocess.run([sys.executable, str(HERE / script), "-n", str(n), "-c", str(conc), *extra],
                       capture_output=True, text=True)
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr)
    sys.stdout.flush()
    m = re.search(r"\be2e_rate=(\d+)", p.stdout)
    return int(m.group(1)) if m and "complete=no" not in p.stdout else None


def settle(pause):
    subprocess.run(["sync"])
    time.sleep(pause)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=6000)
    ap.add_argument("-c", type=int, default=20)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--pause", type=float, default=40)
    a = ap.parse_args()
    ours, theirs, ratios = [], [], []
    for _ in range(a.pairs):
        settle(a.pause)
        s = run("bench_smtp.py", a.n, a.c, ["--skip-idle"])
        settle(a.pause)
        p = run("bench_postfix.py", a.n, a.c)
        if s is not None:
            ours.append(s)
        if p is not None:
            theirs.append(p)
        if s is not None and p is not None:
            ratios.append(s / p)

    def med(xs, fmt):
        return format(statistics.median(xs), fmt) if xs else "-"

    print(f"bench=smtp_vs_postfix conc={a.c} pairs={a.pairs} sluice_median={med(ours, '.0f')} "
          f"postfix_median={med(theirs, '.0f')} ratio_median={med(ratios, '.2f')} "
          f"ratios={','.join(f'{r:.2f}' for r in ratios) or '-'}", flush=True)
    return 0 if ours else 1


if __name__ == "__main__":
    sys.exit(main())
