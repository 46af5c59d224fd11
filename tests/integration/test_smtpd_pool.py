"""The sluice-smtpd workers as one pool: session limits count across
workers (shared memory from sluice-start), a killed worker's sessions stop
counting, and a reload never stops the listener from accepting (the old
workers drain while fresh ones take the sockets).

Which worker accepts a connection is the kernel's choice, so the tests
pick it: a worker stopped with SIGSTOP accepts nothing, and the other one
takes every connection meanwhile."""
import os
import re
import signal
import time
from pathlib import Path

import pytest

from test_smtpd import Raw

IP = "127.0.0.30"


@pytest.fixture
def pool(instance):
    instance.configure({"smtpd": {"greet_pause": "0s", "workers": 2},
                        "limits": {"sessions": 100, "sessions_per_ip": 3, "connection_rate": 0}})
    instance.start()
    return instance


def start_pid(inst):
    return int((inst.root / "run" / "sluice-start.pid").read_text())


def workers(inst, want=2, timeout=20):
    """The pids of the running sluice-smtpd workers, children of sluice-start."""
    parent = start_pid(inst)
    deadline = time.time() + timeout
    while True:
        found = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            if ppid == parent and name == "sluice-smtpd":
                found.append(int(d.name))
        if len(found) == want or time.time() > deadline:
            return sorted(found)
        time.sleep(0.1)


def greet(inst, source=IP):
    r = Raw(inst, source=source)
    return r, r.reply()[0]


def only_on(pid_serving, pid_stopped, fn):
    """Runs FN while PID_STOPPED cannot accept, so PID_SERVING takes every connection."""
    os.kill(pid_stopped, signal.SIGSTOP)
    try:
        return fn()
    finally:
        os.kill(pid_stopped, signal.SIGCONT)


def test_sessions_per_ip_count_across_workers(pool):
    a, b = workers(pool)
    on_a = only_on(a, b, lambda: [greet(pool) for _ in range(2)])
    assert [line[:4] for _, line in on_a] == ["220 ", "220 "]

    def two_on_b():
        first = greet(pool)
        second = greet(pool)
        return first, second
    (r1, l1), (r2, l2) = only_on(b, a, two_on_b)
    assert l1.startswith("220 ")
    # Worker b holds one session of this client, a holds two: the limit of
    # 3 is the pool's, so b refuses the fourth.
    assert l2.startswith("421 4.7.0 ") and "from your address" in l2
    assert re.search(rf"event=refused gate=sessions_per_ip client={re.escape(IP)} ", pool.log())
    for r, _ in on_a + [(r1, l1), (r2, l2)]:
        r.close()


def test_killed_worker_releases_its_sessions(pool):
    a, b = workers(pool)
    held_a = only_on(a, b, lambda: [greet(pool) for _ in range(2)])
    held_b = only_on(b, a, lambda: [greet(pool)])
    assert all(line.startswith("220 ") for _, line in held_a + held_b)
    _, refused = greet(pool)
    assert refused.startswith("421 ")

    os.kill(a, signal.SIGKILL)  # its two sessions die with it
    for r, _ in held_a:
        r.close()
    workers(pool)  # sluice-start has reaped it and started another
    deadline = time.time() + 20
    while True:
        r, line = greet(pool)
        if line.startswith("220 "):
            break
        r.close()
        assert time.time() < deadline, "the killed worker's sessions still count\n" + pool.log()[-2000:]
        time.sleep(0.2)
    r2, line2 = greet(pool)
    assert line2.startswith("220 ")  # b's one, and these two: 3
    r3, line3 = greet(pool)
    assert line3.startswith("421 ")
    for x in (r, r2, r3) + tuple(h for h, _ in held_b):
        x.close()


def test_reload_keeps_accepting_while_old_sessions_drain(pool):
    a, b = workers(pool)
    old_a = only_on(a, b, lambda: greet(pool, "127.0.0.31"))
    old_b = only_on(b, a, lambda: greet(pool, "127.0.0.32"))
    assert old_a[1].startswith("220 ") and old_b[1].startswith("220 ")

    os.kill(start_pid(pool), signal.SIGHUP)
    # Both old workers still have a session; fresh workers take the sockets.
    fresh = workers(pool, want=4)
    assert len(fresh) == 4, pool.log()[-3000:]
    r, line = greet(pool, "127.0.0.33")
    assert line.startswith("220 ")
    assert r.cmd("EHLO new.example")[0].startswith("250")
    r.cmd("QUIT")
    r.close()
    assert len(re.findall(r"prog=sluice-start .*event=draining name=sluice-smtpd", pool.log())) == 2

    # The old sessions still work, and their workers exit after them.
    for old, _ in (old_a, old_b):
        assert old.cmd("EHLO old.example")[0].startswith("250")
        assert old.cmd("QUIT")[0].startswith("221")
        old.close()
    assert len(workers(pool, want=2)) == 2
    for pid in (a, b):
        deadline = time.time() + 10
        while Path(f"/proc/{pid}").exists() and (Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"):
            assert time.time() < deadline, f"worker {pid} did not exit after its sessions"
            time.sleep(0.1)
