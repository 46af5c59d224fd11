"""sluice-smtpd's certificates: the one of tls.cert by default, the one of a
tls.sni entry when the client names that domain (or a name under it) in
its ClientHello, and a replaced certificate is served after a SIGHUP
(the workers restart and read the files again)."""
import os
import signal
import subprocess
import time



def make_cert(path_base, cn):
    cert, key = f"{path_base}.crt", f"{path_base}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={cn}"], check=True,
                   capture_output=True)
    os.chmod(key, 0o644)  # the test's own throw-away key: readable by the smtpd account
    return cert, key


def served_cn(port, servername=None):
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-brief"]
    if servername:
        args += ["-servername", servername]
    r = subprocess.run(args, input=b"QUIT\r\n", capture_output=True, timeout=20)
    out = (r.stdout + r.stderr).decode(errors="replace")
    for line in out.splitlines():
        if line.startswith("Peer certificate:"):
            return line.split("CN = ")[-1].split(",")[0].strip()
    raise AssertionError(out)


def test_sni_and_reload(instance, tmp_path):
    inst = instance
    other_cert, other_key = make_cert(tmp_path / "other", "mx.other.test")
    inst.configure({"tls": {"sni": {"other.test": f"{other_cert},{other_key}"}}})
    inst.start()
    port = inst.ports["submissions"]
    default_cn = served_cn(port)
    assert default_cn != "mx.other.test"
    assert served_cn(port, "mx.other.test") == "mx.other.test"
    assert served_cn(port, "OTHER.test") == "mx.other.test"
    assert served_cn(port, "unknown.example") == default_cn

    # Renew the default certificate in place, then SIGHUP the instance.
    new_cert, new_key = make_cert(tmp_path / "renewed", "renewed.example.test")
    for src, dst in ((new_cert, inst.root / "etc" / "tls" / "cert.pem"), (new_key, inst.root / "etc" / "tls" / "key.pem")):
        with open(src, "rb") as f, open(dst, "r+b") as g:  # keep owner and mode of the instance's files
            data = f.read()
            g.seek(0)
            g.write(data)
            g.truncate()
    pid = int((inst.root / "run" / "sluice-start.pid").read_text())
    os.kill(pid, signal.SIGHUP)
    deadline = time.time() + 20
    while True:
        try:
            if served_cn(port) == "renewed.example.test":
                break
        except (AssertionError, subprocess.TimeoutExpired):
            pass
        if time.time() > deadline:
            raise AssertionError("the renewed certificate was not served after SIGHUP\n" + inst.log()[-3000:])
        time.sleep(0.3)
    assert served_cn(port, "mx.other.test") == "mx.other.test"
