"""sluice-start: readiness, restarts, reload, stop, the instance lock, the
refusal without accounts, daemontools supervision and the systemd units."""
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN, REPO

START = BIN / "sluice-start"


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def proc_stat(pid):
    """(comm, ppid) of PID, or None when it is gone (or a zombie)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    comm = data[data.index("(") + 1:data.rindex(")")]
    fields = data[data.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return comm, int(fields[1])


def children(ppid, name=None):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[1] == ppid and (name is None or st[0] == name):
                out.append(int(d))
    return sorted(out)


def instance_processes(config):
    """Every process whose environment names this instance's config."""
    needle = f"SLUICE_CONFIG={config}".encode()
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            env = Path(f"/proc/{d}/environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0") and proc_stat(int(d)):
            found.append(int(d))
    return found


def uid_of(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


def prepare(inst, local=2):
    inst.configure({"queue": {"local_concurrency": local}})
    if os.geteuid() == 0:
        # Root runs each program under its account: make them.
        inst.run("sluice", "setup")


def test_ready_restart_reload_stop(instance):
    inst = instance
    prepare(inst, local=2)
    inst.start()
    log = inst.log()
    assert "prog=sluice-start event=ready" in log
    pid = inst.proc.pid
    pidfile = inst.root / "run" / "sluice-start.pid"
    assert pidfile.read_text() == f"{pid}\n"
    assert "running pid" in inst.run("sluice", "status").stdout

    locals_ = wait_for(lambda: (c := children(pid, "sluice-local")) and len(c) == 2 and c, 10, "two sluice-local")
    sched = children(pid, "sluice-sched")
    assert len(sched) == 1
    # start.scheduling defaults to batch: a woken program waits its turn.
    assert os.sched_getscheduler(sched[0]) == os.SCHED_BATCH
    assert os.sched_getscheduler(pid) == os.SCHED_OTHER  # only the programs
    sock = inst.root / "run" / "local.sock"
    assert sock.is_socket() and (sock.stat().st_mode & 0o777) == 0o600
    if os.geteuid() == 0:
        import pwd
        assert uid_of(locals_[0]) == pwd.getpwnam("sluice-mbox").pw_uid
        assert uid_of(sched[0]) == pwd.getpwnam("sluice-q").pw_uid
        assert sock.stat().st_uid == pwd.getpwnam("sluice-q").pw_uid
    else:
        assert "event=single_user" in log

    # A killed pool member comes back (after the 1 s start throttle).
    victim = locals_[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: re.search(rf"event=restart name=sluice-local pid={victim} status=signal:9", inst.log()), 10,
             "event=restart")
    new = wait_for(lambda: (c := children(pid, "sluice-local")) and len(c) == 2 and victim not in c and c, 10,
                   "a new sluice-local")
    (fresh,) = set(new) - set(locals_)
    assert Path(f"/proc/{fresh}").exists()
    wait_for(lambda: f"event=child_ready name=sluice-local pid={fresh}" in inst.log(), 35, "the new one ready")
    assert inst.run("sluice", "status", check=False).returncode == 0

    # SIGHUP: a broken file is refused and the old one kept; a good one resizes the pool.
    good = inst.config.read_text()
    inst.config.write_text(good + "\n[queue\n")
    inst.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "event=reload_failed" in inst.log(), 10, "event=reload_failed")
    assert inst.proc.poll() is None
    inst.config.write_text(good)
    inst.configure({"queue": {"local_concurrency": 3}})
    inst.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "event=resize name=sluice-local from=2 to=3" in inst.log(), 10, "event=resize")
    wait_for(lambda: len(children(pid, "sluice-local")) == 3, 15, "three sluice-local")

    # SIGTERM stops everything and removes the pid file.
    seen = children(pid)
    inst.proc.send_signal(signal.SIGTERM)
    assert inst.proc.wait(timeout=20) == 0
    assert not pidfile.exists()
    assert not sock.exists()
    assert [p for p in seen if proc_stat(p)] == []
    assert instance_processes(inst.config) == []
    assert "event=stopped status=0" in inst.log()
    assert inst.run("sluice", "status", check=False).returncode == 3


def test_scheduling_normal_and_a_bad_value(instance):
    inst = instance
    prepare(inst, local=1)
    inst.configure({"start": {"scheduling": "fifo"}})
    r = subprocess.run([str(START), "-c", str(inst.config)], env=inst.env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 78, r.stderr
    assert 'start.scheduling must be \\"batch\\" or \\"normal\\", not \\"fifo\\"' in r.stderr
    inst.configure({"start": {"scheduling": "normal"}})
    inst.start()
    (sched,) = wait_for(lambda: children(inst.proc.pid, "sluice-sched"), 10, "sluice-sched")
    assert os.sched_getscheduler(sched) == os.SCHED_OTHER


def test_second_start_refused(instance):
    inst = instance
    prepare(inst, local=1)
    inst.start()
    r = subprocess.run([str(START), "-c", str(inst.config)], env=inst.env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 75, r.stderr
    assert "another sluice-start runs this instance" in r.stderr
    assert inst.proc.poll() is None
    assert inst.run("sluice", "status", check=False).returncode == 0


def test_refusals(instance):
    inst = instance
    if os.geteuid() == 0:
        inst.configure({"accounts": {k: f"sluice-absent-{k}" for k in
                                     ("queue", "mbox", "remote", "smtpd", "auth", "sms")}})
        r = subprocess.run([str(START), str(inst.root)], env=inst.env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 78, r.stderr
        assert ("account sluice-absent-queue does not exist; run `sluice setup` or use --single-user NAME"
                in r.stderr)
    r = subprocess.run([str(START), "-c", str(inst.config), "--single-user", "root"], env=inst.env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 78, r.stderr
    assert not (inst.root / "run" / "sluice-start.pid").exists()
    r = subprocess.run([str(START), "--bogus"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 64


@pytest.mark.skipif(shutil.which("supervise") is None, reason="daemontools not installed")
def test_daemontools(instance, tmp_path):
    inst = instance
    prepare(inst, local=2)
    svc = tmp_path / "service" / "sluice"
    shutil.copytree(REPO / "config" / "daemontools" / "sluice", svc)
    shutil.rmtree(svc / "log")  # supervise runs the service alone; its output goes to a file here
    run = svc / "run"
    run.write_text(run.read_text().replace("/usr/local/sbin/sluice-start", str(START)))
    (svc / "env").mkdir()
    (svc / "env" / "SLUICE_CONFIG").write_text(f"{inst.config}\n")
    out = open(tmp_path / "supervise.log", "wb")
    sup = subprocess.Popen(["supervise", str(svc)], stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                           start_new_session=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    log = lambda: (tmp_path / "supervise.log").read_text(errors="replace")
    status = lambda: inst.run("sluice", "status", check=False).returncode
    svstat = lambda: subprocess.run(["svstat", str(svc)], capture_output=True, text=True, timeout=10).stdout
    try:
        wait_for(lambda: status() == 0, 30, "ready under supervise")
        m = re.search(r": up \(pid (\d+)\)", svstat())
        assert m, svstat()
        start_pid = int(m.group(1))
        assert (inst.root / "run" / "sluice-start.pid").read_text() == f"{start_pid}\n"

        locals_ = wait_for(lambda: (c := children(start_pid, "sluice-local")) and len(c) == 2 and c, 10, "pool")
        os.kill(locals_[0], signal.SIGKILL)
        wait_for(lambda: f"event=restart name=sluice-local pid={locals_[0]}" in log(), 10, "restart")
        wait_for(lambda: len(set(children(start_pid, "sluice-local")) - set(locals_)) == 1, 10, "new member")

        subprocess.run(["svc", "-d", str(svc)], check=True, timeout=10)
        wait_for(lambda: ": down" in svstat(), 20, "svstat down")
        assert instance_processes(inst.config) == []
        assert status() == 3

        subprocess.run(["svc", "-u", str(svc)], check=True, timeout=10)
        wait_for(lambda: status() == 0, 30, "ready again after svc -u")
        assert ": up" in svstat()
    finally:
        subprocess.run(["svc", "-dx", str(svc)], timeout=10)
        try:
            sup.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(sup.pid, signal.SIGKILL)
            sup.wait()
        for p in instance_processes(inst.config):
            os.kill(p, signal.SIGKILL)
        out.close()
    assert "prog=sluice-start event=ready" in log()
    assert instance_processes(inst.config) == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_units_verify(tmp_path):
    src = REPO / "config" / "systemd"
    units = sorted(p.name for p in src.iterdir() if p.suffix in (".service", ".socket"))
    assert "sluice.service" in units and "sluice.socket" in units
    for name in units:
        text = (src / name).read_text()
        # verify wants ExecStart's program to exist: point it at the build.
        (tmp_path / name).write_text(text.replace("/usr/local/sbin/sluice-start", str(START)))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", *[f"./{u}" for u in units]], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    # Unknown keys and bad values are only warnings: there must be none.
    assert r.stderr.strip() == "", r.stderr
    service = (src / "sluice.service").read_text()
    assert re.search(r"^Type=notify$", service, re.M)
    assert re.search(r"^ExecReload=/bin/kill -HUP \$MAINPID$", service, re.M)
    assert not re.search(r"^NoNewPrivileges=yes", service, re.M)
    names = {re.search(r"^FileDescriptorName=(\S+)$", (src / u).read_text(), re.M).group(1)
             for u in units if u.endswith(".socket")}
    assert names == {"smtp", "submission", "submissions"}


def test_systemd_notify_and_socket_activation(instance, tmp_path):
    """Under systemd: READY=1 once, from sluice-start only; an inherited
    "smtp" socket is kept (and not handed to the deliverers)."""
    import socket as so
    inst = instance
    prepare(inst, local=1)
    notify_path = str(tmp_path / "notify")
    notify = so.socket(so.AF_UNIX, so.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(30)
    smtp = so.socket(so.AF_INET, so.SOCK_STREAM)
    smtp.bind(("127.0.0.1", 0))
    smtp.listen()
    env = dict(inst.env, NOTIFY_SOCKET=notify_path, LISTEN_FDS="1", LISTEN_FDNAMES="smtp")
    logf = open(tmp_path / "start.log", "wb")
    fd = smtp.fileno()
    # bash's $$ is the pid sluice-start keeps after exec, as LISTEN_PID must
    # be; the socket becomes its fd 3 by a redirection (a dup2 in preexec_fn
    # would be undone: subprocess closes fds not in pass_fds after it; dash
    # takes only one-digit fds).
    p = subprocess.Popen(["bash", "-c", f'LISTEN_PID=$$ exec "$0" -c "$1" 3<&{fd}', str(START), str(inst.config)],
                         env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, pass_fds=(fd,),
                         start_new_session=True)
    try:
        msg = notify.recv(256)
        assert msg == b"READY=1"
        assert (inst.root / "run" / "sluice-start.pid").read_text() == f"{p.pid}\n"
        notify.settimeout(0.5)
        with pytest.raises(so.timeout):
            notify.recv(256)  # no child spoke to systemd
        log = (tmp_path / "start.log").read_text()
        assert 'event=inherited_listener name=smtp fds=1 action=used' in log
        # sluice-smtpd answers on systemd's socket (after the MX port's greet pause).
        with so.create_connection(smtp.getsockname(), timeout=10) as c:
            assert c.makefile("rb").readline().startswith(b"220 ")
        (local,) = children(p.pid, "sluice-local")
        env_local = Path(f"/proc/{local}/environ").read_bytes().split(b"\0")
        assert b"LISTEN_FDNAMES=local" in env_local
        assert not any(e.startswith(b"NOTIFY_SOCKET=") for e in env_local)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        logf.close()
        notify.close()
        smtp.close()
    assert instance_processes(inst.config) == []


def test_program_failing_at_start_is_throttled_then_stops_the_instance(instance):
    """A program that cannot initialise is restarted 1 s, 2 s ... apart; if
    it is not ready within start.ready_timeout, sluice-start stops the rest
    and exits 111."""
    inst = instance
    prepare(inst, local=1)
    # A database path below a regular file cannot be opened by anyone.
    inst.configure({"tables": {"sqlite": "etc/sluice.toml/sluice.db"}, "start": {"ready_timeout": "4s"}})
    t0 = time.time()
    r = subprocess.run([str(START), "-c", str(inst.config)], env=inst.env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 111, r.stderr
    assert time.time() - t0 < 20
    delays = re.findall(r"event=restart name=sluice-local pid=\d+ status=exit:\d+ ran=\S+ delay=(\S+)", r.stderr)
    assert delays[:2] == ["1.0s", "2.0s"], r.stderr
    assert "event=not_ready" in r.stderr
    assert "event=ready" not in r.stderr
    assert not (inst.root / "run" / "sluice-start.pid").exists()
    assert instance_processes(inst.config) == []
