"""1,000 SMTP sessions held open at once against one instance: every one
gets its greeting while all are open, answers QUIT, and ends cleanly."""
import resource
import socket

SESSIONS = 1000


def test_thousand_concurrent_sessions(instance):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    try:
        instance.configure({"smtpd": {"greet_pause": "0s"},
                            "limits": {"sessions_per_ip": SESSIONS + 100, "sessions": SESSIONS + 100}})
        instance.start()  # sluice-start and its workers inherit the raised limit
        port = instance.ports["smtp"]
        socks = []
        try:
            for _ in range(SESSIONS):
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=30))
            files = [s.makefile("rb") for s in socks]
            for f in files:  # all 1,000 are open now
                line = f.readline()
                assert line.startswith(b"220 "), line
            for s in socks:
                s.sendall(b"QUIT\r\n")
            for f in files:
                line = f.readline()
                assert line.startswith(b"221 "), line
                assert f.readline() == b""  # the server closed it
            for f in files:
                f.close()
        finally:
            for s in socks:
                s.close()
        ends = [l for l in instance.log().splitlines() if "event=session_end" in l and "reason=quit" in l]
        assert len(ends) >= SESSIONS
        assert "gate=sessions" not in instance.log() and "accept_failed" not in instance.log()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
