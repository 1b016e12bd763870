# pop3_bench.py: RETR messages/s and MB/s over POP3S, 1 and 20 clients
# usage: POSTA_BUILDDIR=... PYTHONPATH=t/lib python3 bench/pop3_bench.py
#            [--messages 1000] [--size 4096] [--clients 1,20]
#            [--time-limit 120] [--pipeline 8]
#
# Starts its own postad (auth-lmdb, maildir, pop3s on a loopback port),
# gives each client its own user with a maildrop of --messages messages of
# about --size octets (written straight into the Maildir, then indexed by
# one login before timing), and times every client RETRieving every
# message.  Clients are processes (not threads) so Python's TLS decoding
# does not serialise them; each keeps --pipeline RETRs in flight.  Each
# run stops at --time-limit seconds and reports what it got by then.
import argparse
import multiprocessing
import os
import socket
import ssl
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "t", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "t", "integ"))

import pop3_util as u  # noqa: E402
from posta import client_tls_context  # noqa: E402


def make_message(i, size):
    head = ("From: bench@example.net\r\nTo: user@example.com\r\n"
            "Subject: bench message %d\r\nMessage-ID: <%d@bench>\r\n\r\n"
            % (i, i)).encode()
    line = b"The quick brown fox jumps over the lazy dog, %06d.\r\n" % i
    body = line * max(1, (size - len(head)) // len(line))
    return head + body


def fill(d, users, n, size):
    for user in users:
        u.ensure_maildir(d, user, "pw")
        path = u.maildir(d, user)
        st = os.stat(path)
        for i in range(n):
            name = "%d.B%dP%d.bench" % (int(time.time()), i, os.getpid())
            tmp = os.path.join(path, "tmp", name)
            with open(tmp, "wb") as f:
                f.write(make_message(i, size))
            os.chown(tmp, st.st_uid, st.st_gid)
            os.rename(tmp, os.path.join(path, "new", name))
        # the first login indexes the maildrop: keep it out of the timing
        p = u.pop3s(d, user, "pw", timeout=300)
        p.quit()


class Conn:
    def __init__(self, port):
        raw = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.s = client_tls_context().wrap_socket(raw)
        self.buf = bytearray()

    def fill(self):
        chunk = self.s.recv(1 << 18)
        if not chunk:
            raise EOFError("server closed")
        self.buf += chunk

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self.fill()

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.line()

    def multi(self):
        """Reads one multi-line body; returns its length on the wire."""
        start = 0
        while True:
            i = self.buf.find(b"\r\n.\r\n", max(0, start - 4))
            if self.buf.startswith(b".\r\n"):
                del self.buf[:3]
                return 0
            if i >= 0:
                n = i + 2
                del self.buf[:i + 5]
                return n
            start = len(self.buf)
            self.fill()


def client(port, user, n, pipeline, deadline, barrier, out):
    c = Conn(port)
    c.line()
    c.cmd("USER " + user)
    if not c.cmd("PASS pw").startswith(b"+OK"):
        out.put((user, 0, 0, 0.0, "login failed"))
        return
    barrier.wait()
    t0 = time.monotonic()
    sent = got = octets = 0
    err = None
    try:
        while got < n and time.monotonic() < deadline:
            while sent < n and sent - got < pipeline:
                sent += 1
                c.s.sendall(b"RETR %d\r\n" % sent)
            status = c.line()
            if not status.startswith(b"+OK"):
                err = status.decode()
                break
            octets += int(status.split()[1])
            c.multi()
            got += 1
        # drain what is still in flight before QUIT
        while got < sent:
            c.line()
            c.multi()
            got += 1
        c.cmd("QUIT")
    except Exception as e:  # report, do not hang the run
        err = repr(e)
    out.put((user, got, octets, time.monotonic() - t0, err))


def run(d, users, n, pipeline, limit):
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(users) + 1)
    out = ctx.Queue()
    deadline = time.monotonic() + limit
    procs = [ctx.Process(target=client, args=(
        d.ports["pop3s"], user, n, pipeline, deadline, barrier, out))
        for user in users]
    for p in procs:
        p.start()
    barrier.wait(timeout=120)
    t0 = time.monotonic()
    results = [out.get(timeout=limit + 120) for _ in procs]
    wall = time.monotonic() - t0
    for p in procs:
        p.join(30)
    return results, wall


def cpu_seconds(pid):
    """User + system CPU time of a process and all its threads."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--clients", default="1,20")
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--pipeline", type=int, default=8)
    a = ap.parse_args()
    counts = [int(x) for x in a.clients.split(",")]
    users = ["bench%02d@example.com" % i for i in range(max(counts))]
    d = u.start(None, {x: "pw" for x in users},
                services={"pop3s": {"protocol": "pop3", "tls": "implicit"}},
                global_extra="")
    try:
        # debug logging costs per connection only, but keep it quiet
        t0 = time.monotonic()
        fill(d, users, a.messages, a.size)
        print("filled %d maildrops x %d messages of ~%d octets in %.1fs"
              % (len(users), a.messages, a.size, time.monotonic() - t0))
        for k in counts:
            cpu0 = cpu_seconds(d.pid())
            results, wall = run(d, users[:k], a.messages, a.pipeline,
                                a.time_limit)
            cpu = cpu_seconds(d.pid()) - cpu0
            msgs = sum(r[1] for r in results)
            octets = sum(r[2] for r in results)
            errors = [r for r in results if r[4]]
            print("%2d client%s: %6d messages, %7.1f MB in %6.2fs: "
                  "%8.0f messages/s, %7.1f MB/s; postad CPU %.2fs "
                  "(%.0f us/message)%s" % (
                      k, " " if k == 1 else "s", msgs, octets / 1e6, wall,
                      msgs / wall, octets / 1e6 / wall, cpu,
                      cpu * 1e6 / max(msgs, 1),
                      (" (%d errors: %s)" % (len(errors), errors[0][4])
                       if errors else "")))
    finally:
        code = d.stop()
        print("postad exit status %s" % code)
        d.cleanup()


if __name__ == "__main__":
    main()
