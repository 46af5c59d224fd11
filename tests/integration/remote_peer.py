"""A real SMTP receiver for sluice-remote's tests and benchmark: aiosmtpd
(Debian python3-aiosmtpd) in a thread of the test process, with the knobs
the tests need: STARTTLS with a given certificate, no 8BITMIME, a SIZE
limit, DSN and PIPELINING announced, refused recipients, temporary
failures, AUTH. Every accepted message and every connection is recorded."""
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class PeerSMTP(SMTP):
    """aiosmtpd's server, plus the DSN parameters (RFC 3461) it lacks."""

    def __init__(self, handler, peer, **kw):
        super().__init__(handler, **kw)
        self.peer_conf = peer

    def connection_made(self, transport):
        with self.peer_conf.lock:
            self.peer_conf.connections += 1
        super().connection_made(transport)

    def _strip_dsn(self, arg, keys):
        if not self.peer_conf.dsn or arg is None:
            return arg, {}
        words, got = [], {}
        for w in arg.split(" "):
            k = w.split("=", 1)[0].upper()
            if k in keys and "=" in w:
                got[k] = w.split("=", 1)[1]
            else:
                words.append(w)
        return " ".join(words), got

    async def smtp_MAIL(self, arg):
        arg, got = self._strip_dsn(arg, ("RET", "ENVID"))
        self.envelope.dsn_mail = got
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        arg, got = self._strip_dsn(arg, ("NOTIFY", "ORCPT"))
        if not hasattr(self.envelope, "dsn_rcpt"):
            self.envelope.dsn_rcpt = []
        self.envelope.dsn_rcpt.append(got)
        await super().smtp_RCPT(arg)


class Handler:
    def __init__(self, peer):
        self.peer = peer

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        extra = []
        if self.peer.pipelining:
            extra.append("250-PIPELINING")
        if self.peer.dsn:
            extra.append("250-DSN")
        return responses[:-1] + extra + responses[-1:]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.peer.reject.get(address.lower())
        if reply:
            return reply
        with self.peer.lock:
            if self.peer.tempfail > 0:
                self.peer.tempfail -= 1
                return "451 4.3.0 <%s>: try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        with self.peer.lock:
            self.peer.messages.append({
                "from": envelope.mail_from,
                "rcpts": list(envelope.rcpt_tos),
                "mail_options": list(envelope.mail_options),
                "dsn_mail": getattr(envelope, "dsn_mail", {}),
                "dsn_rcpt": getattr(envelope, "dsn_rcpt", []),
                "data": envelope.original_content,
                "tls": session.ssl is not None,
                "tls_version": (session.ssl or {}).get("ssl_object").version() if session.ssl else None,
                "auth": session.auth_data,
            })
        return "250 2.0.0 Ok: queued as %d" % len(self.peer.messages)


class Peer(Controller):
    def __init__(self, host, port, *, cert=None, key=None, eightbit=True, size=0, dsn=False, pipelining=True,
                 smtputf8=False, reject=None, tempfail=0, auth=None):
        self.lock = threading.Lock()
        self.connections = 0
        self.messages = []
        self.dsn = dsn
        self.pipelining = pipelining
        self.reject = {k.lower(): v for k, v in (reject or {}).items()}
        self.tempfail = tempfail
        self.auth = auth
        kw = dict(hostname=host, port=port, server_hostname="mx.peer.test", data_size_limit=size or None,
                  decode_data=not eightbit, enable_SMTPUTF8=smtputf8)
        if cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(cert, key)
            kw["tls_context"] = ctx
            kw["require_starttls"] = False
        if auth:
            kw["authenticator"] = self._authenticate
            kw["auth_require_tls"] = False
        super().__init__(Handler(self), **kw)

    def factory(self):
        return PeerSMTP(self.handler, self, **self.SMTP_kwargs)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and \
            (auth_data.login.decode(), auth_data.password.decode()) == self.auth
        return AuthResult(success=ok, auth_data=auth_data.login.decode() if ok else None)
