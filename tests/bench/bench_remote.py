"""Relay throughput: sluice-inject -> queue -> sluice-remote -> a local sink.

Injects N messages of SIZE bytes (CONC parallel sluice-inject calls) for a
domain routed to an aiosmtpd sink on loopback (tests/integration/
remote_peer.py), at the default remote concurrency, waits until the sink
has them all, and prints one line:
  path=inject-remote-sink n=N msg_per_s=R conns_per_1000=C cpu_ms_per_msg=X
conns_per_1000 is the number of SMTP connections the sink saw per 1,000
messages: the connection cache's effect. The sink is Python and shares the
CPU, so msg_per_s is a lower bound of what sluice-remote can do."""
import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchlib import BIN, BenchInstance, cpu_children, message

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from conftest import free_port  # noqa: E402
from remote_peer import Peer  # noqa: E402


def envelope(rcpt):
    return b"Fbench@example.test\0T" + rcpt.encode() + b"\0\0"


def inject(inst, msg, env):
    r_env, w_env = os.pipe()
    p = subprocess.Popen([str(BIN / "sluice-inject")], stdin=subprocess.PIPE, stdout=r_env, stderr=subprocess.PIPE,
                         env=inst.env)
    os.close(r_env)
    os.write(w_env, env)
    os.close(w_env)
    _, err = p.communicate(msg)
    if p.returncode != 0:
        raise RuntimeError(f"sluice-inject exited {p.returncode}: {err.decode()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("-c", "--conc", type=int, default=8)
    ap.add_argument("--size", type=int, default=10240)
    args = ap.parse_args()
    port = free_port()
    sink = Peer("127.0.0.1", port)
    sink.start()
    sink.connections = 0
    inst = BenchInstance(users=1, extra_toml=f'\n[routes]\n"sink.test" = "127.0.0.1:{port}"\n')
    try:
        inst.start()
        msgs = [message(i, args.size, to=f"r{i}@sink.test") for i in range(args.n)]
        cpu0 = cpu_children()
        t0 = time.time()
        with ThreadPoolExecutor(max_workers=args.conc) as ex:
            list(ex.map(lambda i: inject(inst, msgs[i], envelope(f"r{i % 50}@sink.test")), range(args.n)))
        deadline = time.time() + 600
        while len(sink.messages) < args.n and time.time() < deadline:
            time.sleep(0.01)
        elapsed = time.time() - t0
        got = len(sink.messages)
    finally:
        inst.stop()
        sink.stop()
    cpu = cpu_children() - cpu0
    print(f"path=inject-remote-sink n={args.n} size={args.size} delivered={got} msg_per_s={got / elapsed:.0f} "
          f"conns_per_1000={1000 * sink.connections / max(got, 1):.1f} cpu_ms_per_msg={1000 * cpu / max(got, 1):.2f}")
    return 0 if got == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
