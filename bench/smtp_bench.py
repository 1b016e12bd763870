# smtp_bench.py: SMTP messages/s accepted and durably delivered, 1/10/50 senders
# usage: POSTA_BUILDDIR=... python3 bench/smtp_bench.py
#            [--senders 1,10,50] [--messages 2000] [--size 4096]
#            [--time-limit 60] [--users 10] [--fsync yes]
#
# Starts its own postad (auth-lmdb, maildir with fsync, smtp on a loopback
# port) and, for each sender count, runs that many client processes
# (processes, so Python does not serialise them), each on one SMTP
# session sending messages of --size octets one after another: MAIL, RCPT
# and DATA pipelined (RFC 2920), then the data, then the 250.  Recipients
# rotate over --users local accounts.  A 250 means the copy is fsync'd in
# the Maildir (the server's contract); the run then also counts the files
# on disk.  A run ends after --messages messages or --time-limit seconds,
# whichever comes first, and prints messages/s, latency percentiles and
# the disk count.
import argparse
import multiprocessing
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "t", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "t", "integ"))

import smtp_util as u  # noqa: E402
from posta import Postad  # noqa: E402


def make_message(size):
    head = (b"From: bench@remote.test\r\nTo: user@example.com\r\n"
            b"Subject: bench\r\nMessage-ID: <bench@remote.test>\r\n\r\n")
    line = b"The quick brown fox jumps over the lazy dog 0123456789.\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return head + body + b".\r\n"


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.buf = b""

    def reply(self):
        """Reads one whole reply; returns its code."""
        while True:
            while b"\n" not in self.buf:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise EOFError("server closed")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            if line[3:4] != b"-":
                return int(line[:3])


def sender(port, users, n, size, deadline, out):
    msg = make_message(size)
    lat = []
    ok = 0
    c = Conn(port)
    c.reply()
    c.s.sendall(b"EHLO bench.test\r\n")
    c.reply()
    i = 0
    while i < n and time.monotonic() < deadline:
        rcpt = users[i % len(users)]
        t0 = time.monotonic()
        c.s.sendall(b"MAIL FROM:<bench@remote.test>\r\n"
                    b"RCPT TO:<%s>\r\nDATA\r\n" % rcpt.encode())
        codes = (c.reply(), c.reply(), c.reply())
        if codes != (250, 250, 354):
            raise RuntimeError("envelope refused: %r" % (codes,))
        c.s.sendall(msg)
        code = c.reply()
        lat.append(time.monotonic() - t0)
        if code == 250:
            ok += 1
        i += 1
    c.s.sendall(b"QUIT\r\n")
    c.s.close()
    out.put((ok, lat))


def count_files(d, users):
    n = 0
    for user in users:
        base = u.maildir(d, user)
        for sub in ("new", "cur"):
            try:
                n += len(os.listdir(os.path.join(base, sub)))
            except FileNotFoundError:
                pass
    return n


def run(d, users, senders, total, size, limit):
    per = max(1, total // senders)
    before = count_files(d, users)
    q = multiprocessing.Queue()
    deadline = time.monotonic() + limit
    procs = [multiprocessing.Process(target=sender, args=(
        d.ports["smtp"], users, per, size, deadline, q))
        for _ in range(senders)]
    start = time.monotonic()
    for p in procs:
        p.start()
    results = [q.get(timeout=limit + 120) for _ in procs]
    elapsed = time.monotonic() - start
    for p in procs:
        p.join()
    ok = sum(r[0] for r in results)
    lat = sorted(x for r in results for x in r[1])
    on_disk = count_files(d, users) - before

    def pct(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat \
            else 0.0
    print("senders=%-3d messages=%-6d seconds=%7.2f msg/s=%8.1f "
          "p50=%6.1fms p99=%6.1fms on_disk=%d" % (
              senders, ok, elapsed, ok / elapsed, pct(0.5), pct(0.99),
              on_disk), flush=True)
    return ok == on_disk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--senders", default="1,10,50")
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--time-limit", type=float, default=60)
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--fsync", default="yes")
    args = ap.parse_args()

    users = ["bench%d@example.com" % i for i in range(args.users)]
    d = Postad({"smtp": {"protocol": "smtp", "tls": "none"}},
               blocks="plugin auth-lmdb {\n}\nplugin maildir {\n"
               "  fsync = %s\n}\n" % args.fsync, start=False)
    # the harness logs at debug level; a benchmark wants info
    with open(d.conf) as f:
        conf = f.read().replace("log_level = debug", "log_level = info")
    with open(d.conf, "w") as f:
        f.write(conf)
    try:
        u.admin(d, "domain", "add", "example.com")
        for user in users:
            u.admin(d, "user", "add", user, "--password-stdin",
                    stdin="pw\n")
        d.start()
        print("# postad %s, maildir fsync=%s, %d-octet messages, "
              "%d recipients, loopback" % (d.command()[0], args.fsync,
                                           len(make_message(args.size)) - 3,
                                           len(users)), flush=True)
        good = True
        for n in [int(x) for x in args.senders.split(",")]:
            good = run(d, users, n, args.messages, args.size,
                       args.time_limit) and good
        if not good:
            print("# MISMATCH: accepted messages not all on disk")
            return 1
        return 0
    finally:
        d.stop()
        d.cleanup()


if __name__ == "__main__":
    sys.exit(main())
