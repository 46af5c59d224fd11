"""sluice-remote delivering to another sluice instance (its sluice-smtpd),
through a static route: the message arrives whole in the receiver's Maildir
after STARTTLS (policy "encrypt" against the receiver's self-signed
certificate), sent with BDAT since both ends speak CHUNKING; several
messages share one connection; an unknown user comes back as a bounce that
names the receiver as Remote-MTA."""
import email
import email.policy
import re



def test_delivery_to_a_second_sluice_instance(make_instance_at):
    recv = make_instance_at("recv", domain="example.net")
    recv.run("sluice", "user", "add", "bob@example.net")
    recv.configure({"smtpd": {"greet_pause": "0s"}})
    recv.start()

    send = make_instance_at("send", domain="example.test")
    send.run("sluice", "user", "add", "alice@example.test")
    send.configure({"routes": {"example.net": f"127.0.0.1:{recv.ports['smtp']}"},
                    "remote": {"tls_policy": {"example.net": "encrypt"}},
                    "queue": {"retry_first": "1s", "retry_max": "2s", "remote_concurrency": 1}})
    send.start()

    bodies = []
    for i in range(5):
        body = f"Subject: hop {i}\nMessage-ID: <hop-{i}@example.test>\n\n" + ("line of text\n" * 200)
        bodies.append(body)
        r = send.sendmail(body.encode(), "bob@example.net", sender="alice@example.test")
        assert r.returncode == 0, r.stderr
    got = recv.wait_for_mail("bob@example.net", 5, timeout=60)
    texts = [p.read_text() for p in got]
    for i, body in enumerate(bodies):
        [t] = [t for t in texts if f"Message-ID: <hop-{i}@example.test>" in t]
        assert t.endswith(body.split("\n\n", 1)[1])
        assert re.search(r"^Received: from .*?\n\tby .*? with ESMTPS", t, re.M | re.S), t[:400]
    send.wait_queue_empty()

    rlog = recv.log()
    accepted = [l for l in rlog.splitlines() if "prog=sluice-smtpd" in l and "event=accepted" in l]
    assert len(accepted) == 5
    assert all("tls=TLSv1.3" in l or "tls=TLSv1.2" in l for l in accepted), accepted
    sessions = [l for l in rlog.splitlines() if "prog=sluice-smtpd" in l and "event=session_end" in l]
    assert len(sessions) <= 2, sessions  # the connection is kept for the next message
    slog = send.log()
    sent = [l for l in slog.splitlines() if "prog=sluice-remote" in l and "event=sent" in l]
    assert len(sent) == 5 and all("body=bdat" in l for l in sent), sent

    # An unknown user at the receiver: refused at RCPT, bounced by the sender.
    r = send.sendmail(b"Subject: nobody\n\nx\n", "nobody@example.net", sender="alice@example.test")
    assert r.returncode == 0
    [bounce] = send.wait_for_mail("alice@example.test", 1, timeout=30)
    report = email.message_from_bytes(bounce.read_bytes(), policy=email.policy.default)
    text = bounce.read_text()
    assert "Status: 5.1.1" in text
    assert "Remote-MTA: dns; 127.0.0.1" in text or "Remote-MTA: dns; " in text
    assert re.search(r"Diagnostic-Code: smtp; 550 5\.1\.1", text), text
    assert report.get_content_type() == "multipart/report"
