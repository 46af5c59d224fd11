"""The texts of sluice-smtpd's built-in refusals are the admin's to set
([smtpd.replies]: relay, rcpt_unknown, size, and the gates), and VRFY
answers from the user table only when smtpd.vrfy is on."""
import smtplib

import pytest


@pytest.fixture
def inst(instance):
    instance.configure({
        "smtpd": {"greet_pause": "0s", "trusted_networks": ["127.0.0.1/32"],
                  "replies": {"relay": "We do not relay for you, see https://help.example.test/relay",
                              "rcpt_unknown": "No such mailbox here",
                              "size": "Too large for this server"}},
        "limits": {"message_size": "10K"},
    })
    instance.run("sluice", "user", "add", "bob@example.test")
    return instance


def client(inst, source="127.0.0.1"):
    return smtplib.SMTP("127.0.0.1", inst.ports["smtp"], timeout=20, source_address=(source, 0))


def test_admin_reply_texts(inst):
    inst.start()
    with client(inst, source="127.0.0.2") as c:
        c.ehlo("x.example")
        assert c.mail("a@outside.test")[0] == 250
        code, text = c.rcpt("victim@remote.test")
        assert (code, text) == (554, b"5.7.1 <victim@remote.test>: We do not relay for you, see "
                                     b"https://help.example.test/relay")
        code, text = c.rcpt("nobody@example.test")
        assert (code, text) == (550, b"5.1.1 <nobody@example.test>: No such mailbox here")
        c.rset()
        code, text = c.docmd("MAIL", "FROM:<a@outside.test> SIZE=50000")
        assert (code, text) == (552, b"5.3.4 Too large for this server")
    log = inst.log()
    assert "gate=relay" in log and "gate=rcpt_unknown" in log and "gate=size" in log


def test_vrfy_off_by_default(inst):
    inst.start()
    with client(inst) as c:
        assert c.verify("bob@example.test")[0] == 252
        assert c.verify("nobody@example.test")[0] == 252


def test_vrfy_on_answers_from_the_user_table(inst):
    inst.configure({"smtpd": {"vrfy": True}})
    inst.start()
    with client(inst) as c:
        code, text = c.verify("bob@example.test")
        assert (code, text) == (250, b"2.1.5 <bob@example.test>")
        assert c.verify("nobody@example.test")[0] == 550
        assert c.verify("someone@remote.test")[0] == 252
        assert c.verify("not an address")[0] == 501
