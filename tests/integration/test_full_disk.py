"""Queue property 6: a full disk gives a temporary refusal (sluice-inject
exits 53, as qmail-queue does), nothing already committed is lost, and
delivery resumes once there is room again. The queue lives on a small
tmpfs, so this needs root (CI runs as root)."""
import os
import subprocess

import pytest

from conftest import make_instance


@pytest.fixture
def small_queue(tmp_path):
    """An instance whose queue/ is a 2 MB tmpfs holding the layout init made."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    inst = make_instance(tmp_path)
    q = inst.root / "queue"
    saved = inst.root / "queue.orig"
    subprocess.run(["cp", "-a", str(q), str(saved)], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(q)], check=True)
    try:
        subprocess.run(["cp", "-a", f"{saved}/.", str(q)], check=True)
        yield inst
    finally:
        inst.stop()
        subprocess.run(["umount", "-l", str(q)], check=False)


def test_full_disk_refuses_temporarily_and_loses_nothing(small_queue):
    inst = small_queue
    inst.run("sluice", "user", "add", "bob@example.test")
    body = ("x" * 75 + "\n") * 1300  # about 100 KB
    accepted, refused = [], None
    for i in range(100):
        msg = f"Subject: fill {i}\nMessage-ID: <fill-{i}@test>\n\n{body}".encode()
        r = inst.inject(msg, b"Fa@example.test\0Tbob@example.test\0\0")
        if r.returncode == 0:
            accepted.append(i)
            continue
        refused = r
        break
    assert refused is not None, "a 2 MB queue should fill up"
    assert refused.returncode == 53, refused
    assert refused.stderr.startswith(b"4.3.1 "), refused.stderr
    assert len(accepted) >= 5
    # Every committed message is there, whole; no staging file is left.
    listed = inst.queue_list().splitlines()
    assert len(listed) == len(accepted)
    assert not list((inst.root / "queue").rglob("*.tmp"))
    # A second refusal changes nothing either.
    assert inst.inject(b"Subject: more\n\n" + body.encode(), b"F\0Tbob@example.test\0\0").returncode == 53
    assert len(inst.queue_list().splitlines()) == len(accepted)

    inst.start()
    inst.wait_for_mail("bob@example.test", len(accepted), timeout=60)
    inst.wait_queue_empty()
    ids = sorted(int(p.read_bytes().split(b"Message-ID: <fill-")[1].split(b"@")[0])
                 for p in inst.messages("bob@example.test"))
    assert ids == accepted
    # Room again: injection works and is delivered.
    r = inst.inject(b"Subject: after\nMessage-ID: <after@test>\n\nok\n", b"Fa@example.test\0Tbob@example.test\0\0")
    assert r.returncode == 0, r.stderr
    inst.wait_for_mail("bob@example.test", len(accepted) + 1)
