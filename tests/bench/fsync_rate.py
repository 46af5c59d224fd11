#!/usr/bin/env python3
"""What this disk allows: create + write 10 KB + fsync + rename + fsync(dir),
the way a queue commit does, for SECONDS with WRITERS parallel writers each in
its own directory. Prints fsync_rate=<commits/s> (each commit = 2 fsyncs)."""
import os
import sys
import tempfile
import time
from multiprocessing import Process, Value


def writer(d, seconds, counter):
    data = os.urandom(10240)
    end = time.time() + seconds
    n = 0
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    while time.time() < end:
        tmp = os.path.join(d, f"t{n}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp, os.path.join(d, f"f{n}"))
        os.fsync(dfd)
        n += 1
    os.close(dfd)
    with counter.get_lock():
        counter.value += n


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3
    writers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    base = sys.argv[3] if len(sys.argv) > 3 else None
    with tempfile.TemporaryDirectory(dir=base) as top:
        c = Value("i", 0)
        ps = []
        for i in range(writers):
            d = os.path.join(top, str(i))
            os.mkdir(d)
            ps.append(Process(target=writer, args=(d, seconds, c)))
        t0 = time.time()
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        el = time.time() - t0
    print(f"fsync_rate={c.value / el:.0f} writers={writers} (commits/s; 2 fsyncs each)")


if __name__ == "__main__":
    main()
