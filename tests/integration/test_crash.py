"""Queue property 2: SIGKILL of any or all programs, at any instant, loses
no committed message. 5,000 messages are injected while a killer SIGKILLs
the scheduler, deliverers and now and then the whole instance; afterwards
every message whose injection exited 0 is in a mailbox (duplicates are
allowed and counted, losses are not) and the queue is empty."""
import os
import random
import re
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import BIN

N = 5000
USERS = 10


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
            ppid = int(st.rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")[0].decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append((int(d), os.path.basename(cmd)))
    return out


def inject_one(inst, i):
    msg = (f"From: crash@example.test\nTo: u{i % USERS}@example.test\nSubject: crash {i}\n"
           f"Message-ID: <crash-{i}@test>\n\nbody {i}\n").encode()
    env = f"Fcrash@example.test\0Tu{i % USERS}@example.test\0\0".encode()
    r_env, w_env = os.pipe()
    p = subprocess.Popen([str(BIN / "sluice-inject")], stdin=subprocess.PIPE, stdout=r_env,
                         stderr=subprocess.DEVNULL, env=inst.env)
    os.close(r_env)
    os.write(w_env, env)
    os.close(w_env)
    p.stdin.write(msg)
    p.stdin.close()
    return i if p.wait(timeout=60) == 0 else None


def mailbox_ids(inst):
    ids = {}
    for u in range(USERS):
        for path in inst.messages(f"u{u}@example.test"):
            m = re.search(rb"^Message-ID: <crash-(\d+)@test>", path.read_bytes(), re.M)
            if m:
                ids[int(m.group(1))] = ids.get(int(m.group(1)), 0) + 1
    return ids


def test_sigkill_loses_nothing(instance):
    inst = instance
    inst.configure({"queue": {"retry_first": "1s", "retry_max": "2s", "local_concurrency": 6}})
    for u in range(USERS):
        inst.run("sluice", "user", "add", f"u{u}@example.test")
    inst.start()

    done = threading.Event()
    kills = {"sluice-sched": 0, "sluice-local": 0, "instance": 0}
    rng = random.Random(int(os.environ.get("CRASH_SEED", "0")) or None)

    def killer():
        while not done.is_set():
            time.sleep(rng.uniform(0.05, 0.4))
            if inst.proc is None or inst.proc.poll() is not None:
                continue
            roll = rng.random()
            if roll < 0.05 and kills["instance"] < 3:
                # Everything at once, supervisor included; then a cold restart.
                os.killpg(inst.proc.pid, signal.SIGKILL)
                inst.proc.wait()
                kills["instance"] += 1
                time.sleep(rng.uniform(0, 0.5))
                inst.start(timeout=60)
                continue
            kids = children_of(inst.proc.pid)
            want = "sluice-sched" if roll < 0.3 else "sluice-local"
            victims = [pid for pid, name in kids if name == want]
            if victims:
                try:
                    os.kill(rng.choice(victims), signal.SIGKILL)
                    kills[want] += 1
                except ProcessLookupError:
                    pass

    k = threading.Thread(target=killer)
    k.start()
    try:
        with ThreadPoolExecutor(max_workers=6) as ex:
            accepted = [i for i in ex.map(lambda i: inject_one(inst, i), range(N)) if i is not None]
    finally:
        done.set()
        k.join()
    if inst.proc is None or inst.proc.poll() is not None:
        inst.start(timeout=60)
    inst.wait_queue_empty(timeout=240)

    ids = mailbox_ids(inst)
    lost = [i for i in accepted if i not in ids]
    dups = sum(n - 1 for n in ids.values())
    print(f"crash: accepted={len(accepted)} delivered={len(ids)} duplicates={dups} kills={kills}")
    assert len(accepted) >= N * 0.99, "injection itself should not fail here"
    assert not lost, f"{len(lost)} committed messages lost, e.g. {lost[:10]}"
    assert sum(kills.values()) >= 10
    qdir = inst.root / "queue" / "msg"
    left = [p for p in qdir.rglob("*") if p.is_file()]
    assert not left, left[:5]
