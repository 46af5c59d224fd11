"""sluice-remote against peers that need the older or rarer paths: a server
that does not know EHLO (HELO fallback, no extensions used), and a relay
that offers only AUTH LOGIN. Routes point at IP literals, so no DNS."""

import pytest

from conftest import free_port, make_instance
from mailtest import envelope, wait_for
from remote_peer import Peer, PeerSMTP


class HeloOnlySMTP(PeerSMTP):
    async def smtp_EHLO(self, arg):
        await self.push("502 5.5.1 EHLO not implemented")


class HeloOnlyPeer(Peer):
    def factory(self):
        return HeloOnlySMTP(self.handler, self, **self.SMTP_kwargs)


class LoginOnlyPeer(Peer):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.SMTP_kwargs["auth_exclude_mechanism"] = ["PLAIN"]


@pytest.fixture
def setup(tmp_path):
    port = free_port()
    helo = HeloOnlyPeer("127.0.0.20", port)
    login = LoginOnlyPeer("127.0.0.21", port, auth=("bob", "s3cret"))
    for p in (helo, login):
        p.start()
        p.connections = 0
    inst = make_instance(tmp_path, domain="local.test")
    try:
        inst.configure({
            "routes": {"helo.test": f"127.0.0.20:{port}", "login.test": f"bob:s3cret@127.0.0.21:{port}"},
            "queue": {"retry_first": "1s", "retry_max": "2s"},
            "remote": {"connect_timeout": "2s", "greeting_timeout": "2s"},
        })
        inst.start()
        yield inst, helo, login
    finally:
        inst.stop()
        helo.stop()
        login.stop()


def test_helo_fallback_and_auth_login(setup):
    inst, helo, login = setup
    for rcpt, subject in (("x@helo.test", "helo"), ("y@login.test", "login")):
        m = f"From: a@local.test\nSubject: {subject}\nMessage-ID: <{subject}@t>\n\nhello\n".encode()
        r = inst.inject(m, envelope("a@local.test", rcpt))
        assert r.returncode == 0, r.stderr
    wait_for(lambda: helo.messages and login.messages, 20, "both peers to receive", inst)
    [h] = helo.messages
    assert h["rcpts"] == ["x@helo.test"]
    assert h["mail_options"] == []  # HELO: no ESMTP parameters were sent
    [l] = login.messages
    assert l["auth"] == "bob"  # authenticated with LOGIN, the only mechanism offered
    inst.wait_queue_empty()
    sent = [x for x in inst.log().splitlines() if "prog=sluice-remote" in x and "event=sent" in x]
    assert len(sent) == 2, inst.log()[-3000:]
