#!/usr/bin/python3
"""A real milter for the tests, on libmilter through pymilter (Debian's
python3-milter): it refuses, tempfails, edits headers, body and recipients
and discards, each when the message or envelope asks for it.
Usage: milter_peer.py PORT   (listens on inet:PORT@127.0.0.1)"""
import sys

import Milter


class TestMilter(Milter.Base):
    def __init__(self):
        self.subject = ""
        self.rcpts = []

    def connect(self, hostname, family, hostaddr):
        if hostaddr and hostaddr[0] == "127.0.0.5":
            self.setreply("554", "5.7.1", "your address is refused by the test milter")
            return Milter.REJECT
        return Milter.CONTINUE

    def envfrom(self, mailfrom, *params):
        self.subject = ""
        self.rcpts = []
        if mailfrom.lower().startswith("<tempfail@"):
            return Milter.TEMPFAIL
        return Milter.CONTINUE

    def envrcpt(self, to, *params):
        if to.lower().startswith("<blocked@"):
            self.setreply("550", "5.7.1", "blocked by the test milter")
            return Milter.REJECT
        self.rcpts.append(to)
        return Milter.CONTINUE

    def header(self, name, value):
        if name.lower() == "subject":
            self.subject = value
        return Milter.CONTINUE

    def eom(self):
        s = self.subject
        if "reject" in s:
            self.setreply("554", "5.7.1", "rejected by the test milter")
            return Milter.REJECT
        if "discard" in s:
            return Milter.DISCARD
        self.addheader("X-Test-Milter", "seen " + ",".join(self.rcpts))
        if "change" in s:
            self.chgheader("Subject", 1, "changed by the milter")
        if "replace" in s:
            self.replacebody(b"the milter wrote this body\r\n")
        if "addrcpt" in s:
            self.addrcpt("<bob@example.test>")
        if "delrcpt" in s:
            self.delrcpt("<carol@example.test>")
        if "quarantine" in s:
            self.quarantine("held by the test milter")
        if "evil" in s:
            # A value that would start a header field of its own.
            self.addheader("X-Evil", "x\r\nBcc: victim@example.test")
        return Milter.ACCEPT


def main():
    port = int(sys.argv[1])
    Milter.factory = TestMilter
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.CHGBODY | Milter.ADDRCPT | Milter.DELRCPT |
                     Milter.QUARANTINE)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    Milter.runmilter("sluice-test-milter", f"inet:{port}@127.0.0.1", 60)


if __name__ == "__main__":
    main()
