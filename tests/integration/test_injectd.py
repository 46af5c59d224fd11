"""sluice-injectd, the persistent injection path: sendmail hands messages to
it over RUN_DIR/inject.sock when the instance runs (one exec per message),
falls back to sluice-inject when it does not, and a local user cannot
claim an authenticated submission through it."""
import os
import pwd
import socket

import pytest

from conftest import free_port


def submit(sock_path, envelope: bytes, message: bytes, as_uid=None):
    """The client side of queue/store/submit.hpp, written independently."""
    def run():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(sock_path))
            s.sendall(str(len(envelope)).encode() + b"\n" + envelope + message)
            s.shutdown(socket.SHUT_WR)
            return s.makefile("rb").readline().decode()
    if as_uid is None:
        return run()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(as_uid[1])
            os.setuid(as_uid[0])
            os.write(w, run().encode())
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r) as f:
        return f.read()


def test_sendmail_goes_through_injectd_when_the_instance_runs(instance):
    inst = instance
    inst.run("sluice", "user", "add", "bob@example.test")
    inst.start()
    r = inst.sendmail(b"Subject: via socket\n\nhello\n", "bob@example.test")
    assert r.returncode == 0, r.stderr
    inst.wait_for_mail("bob@example.test")
    queued = [l for l in inst.log().splitlines() if "prog=sluice-injectd" in l and "event=queued" in l]
    assert len(queued) == 1, inst.log()[-2000:]
    assert f"uid={os.getuid()}" in queued[0]


def test_sendmail_falls_back_to_sluice_inject_without_a_daemon(instance):
    inst = instance
    inst.run("sluice", "user", "add", "bob@example.test")
    r = inst.sendmail(b"Subject: no daemon\n\nhello\n", "bob@example.test")
    assert r.returncode == 0, r.stderr
    assert len(inst.queue_list().splitlines()) == 1
    inst.start()
    inst.wait_for_mail("bob@example.test")


def test_refusals_come_back_as_sluice_inject_would_give_them(instance):
    inst = instance
    inst.start()
    sock = inst.root / "run" / "inject.sock"
    assert oct(os.stat(sock).st_mode & 0o777) == "0o666"
    assert submit(sock, b"Fa@example.test\0Tnot an address\0\0", b"x\n").startswith("91 5.1.3 ")
    # An envelope without its closing empty record is malformed; one shorter
    # than its announced length cannot be read.
    assert submit(sock, b"Fa@example.test\0Tb@example.test\0", b"x\n").startswith("91 4.3.0 ")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(sock))
        s.sendall(b"100\nFa@example.test\0")
        s.shutdown(socket.SHUT_WR)
        assert s.makefile("rb").readline().startswith(b"54 ")
    assert submit(sock, b"F" + b"a" * 300 + b"@x.test\0Tb@example.test\0\0", b"x\n").startswith("11 ")
    inst.configure({"limits": {"message_size": "1K"}})
    inst.stop()
    inst.start()
    assert submit(sock, b"F\0Tb@example.test\0\0", b"x" * 5000).startswith("31 5.3.4 ")
    assert inst.queue_list() == ""


def test_parameters_from_an_untrusted_peer_are_dropped_from_the_queue_file(instance):
    if os.geteuid() != 0:
        pytest.skip("needs another account to connect as")
    inst = instance
    # A remote recipient routed to a port where nobody listens stays queued
    # (deferred), so the queue file can be read.
    inst.configure({"routes": {"remote.test": f"127.0.0.1:{free_port()}"}, "queue": {"retry_first": "1h"}})
    inst.start()
    nobody = pwd.getpwnam("nobody")
    sock = inst.root / "run" / "inject.sock"
    env = b"Fa@example.test\0Abob@example.test\0C192.0.2.7\0Hforged\0Tfar@remote.test\0\0"
    untrusted = submit(sock, env, b"Subject: forged\n\nx\n", as_uid=(nobody.pw_uid, nobody.pw_gid)).split()
    trusted = submit(sock, env, b"Subject: trusted\n\nx\n").split()
    assert untrusted[0] == "0" and trusted[0] == "0", (untrusted, trusted)
    out = inst.run("sluice", "queue", "show", untrusted[1]).stdout
    assert "param: auth=" not in out and "param: client=" not in out and "param: helo=" not in out, out
    assert f"param: uid={nobody.pw_uid}" in out
    out = inst.run("sluice", "queue", "show", trusted[1]).stdout
    assert "param: auth=bob@example.test" in out and "param: client=192.0.2.7" in out, out
    assert "param: uid=0" in out


def test_framed_requests_share_one_connection_until_a_refusal(instance):
    """ENVLEN MSGLEN framing (sluice-smtpd's kept connections): three
    messages on one connection, each committed and answered in turn, even
    when a request arrives split across writes; a refusal ends the
    connection, and a message cut short is never committed."""
    inst = instance
    inst.run("sluice", "user", "add", "bob@example.test")
    inst.start()
    sock = inst.root / "run" / "inject.sock"
    env = b"Fa@example.test\0Tbob@example.test\0\0"

    def framed(msg: bytes, env=env) -> bytes:
        return f"{len(env)} {len(msg)}\n".encode() + env + msg

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(sock))
        f = s.makefile("rb")
        qids = []
        for i in range(3):
            req = framed(f"Subject: framed {i}\n\n{'x' * 70000}\n".encode())
            s.sendall(req[:5])
            s.sendall(req[5:])
            line = f.readline().decode().split()
            assert line[0] == "0", line
            qids.append(line[1])
        assert len(set(qids)) == 3
        # Two requests in one write: both answered, in order.
        s.sendall(framed(b"Subject: framed 3\n\nx\n") + framed(b"Subject: framed 4\n\ny\n"))
        assert f.readline().startswith(b"0 ") and f.readline().startswith(b"0 ")
        s.sendall(framed(b"Subject: refused\n\n", env=b"Fa@example.test\0Tnot an address\0\0"))
        assert f.readline().startswith(b"91 5.1.3 ")
        assert f.readline() == b""  # closed after the refusal
    inst.wait_for_mail("bob@example.test", count=5)

    # A framed message shorter than announced: "cannot read", nothing queued.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(sock))
        s.sendall(f"{len(env)} 100\n".encode() + env + b"Subject: short\n")
        s.shutdown(socket.SHUT_WR)
        assert s.makefile("rb").readline().startswith(b"54 4.3.0 ")
    # A framed message over the size limit is refused before it is read.
    inst.configure({"limits": {"message_size": "1K"}})
    inst.stop()
    inst.start()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(sock))
        s.sendall(f"{len(env)} 5000\n".encode() + env)
        assert s.makefile("rb").readline().startswith(b"31 5.3.4 ")
    assert inst.queue_list() == ""
    assert len(list((inst.maildir("bob@example.test") / "new").iterdir())) == 5
