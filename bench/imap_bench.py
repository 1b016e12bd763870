# imap_bench.py: IMAP figures: RSS of idle sessions, FETCH and SEARCH TEXT speed
# usage (from a build tree, see bench/README.md):
#   python3 bench/imap_bench.py idle 1000 5000   # RSS per IDLE TLS session
#   python3 bench/imap_bench.py fetch 10000      # FETCH 1:* (FLAGS UID ...)
#   python3 bench/imap_bench.py search 10000     # SEARCH TEXT
import asyncio
import os
import pwd
import resource
import socket
import ssl
import subprocess
import sys
import time

from posta import BUILDDIR, Postad, client_tls_context

USER = "a@example.com"
PASSWORD = "bench pass"
# Users get a SHA512-CRYPT hash (5000 rounds, as openssl makes it) rather
# than yescrypt: thousands of logins must not turn into a hashing benchmark
# (the stored hash decides the cost, not the server).


def admin(d, *args, stdin=None):
    subprocess.run([os.path.join(BUILDDIR, "tools", "posta", "posta"),
                    "--state-dir", d.state, "--config", d.conf] +
                   list(args), input=stdin, check=True,
                   stdout=subprocess.DEVNULL, timeout=60)


def cheap_hash(pw):
    out = subprocess.run(["openssl", "passwd", "-6", "-salt", "benchsalt",
                          pw], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def start(limiter_caps=False):
    blocks = ("plugin auth-lmdb {\n}\nplugin maildir {\n  fsync = no\n}\n"
              "protocol imap {\n}\n")
    if limiter_caps:
        blocks += ("plugin limiter {\n  max_userip_connections imap = "
                   "100000\n  max_connections = 100000\n"
                   "  max_connections_per_ip = 100000\n}\n")
    d = Postad({"imaps": {"protocol": "imap", "tls": "implicit",
                          "idle_timeout": "1h"}},
               blocks=blocks, start=False)
    admin(d, "domain", "add", "example.com")
    admin(d, "user", "add", USER, "--hash", cheap_hash(PASSWORD))
    return d


def fill_maildir(d, n):
    """n messages straight into the INBOX Maildir, before postad starts."""
    root = os.path.join(d.state, "mail", "example.com", "a")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    words = ("alpha beta gamma delta epsilon zeta eta theta iota kappa "
             "lambda mu nu xi omicron pi rho sigma tau upsilon").split()
    now = int(time.time())
    for i in range(n):
        body = "".join("%s %s %s line %d of message %d\r\n" % (
            words[(i + k) % 20], words[(i * 7 + k) % 20],
            words[(i * 13 + k) % 20], k, i) for k in range(40))
        if i % 100 == 7:
            body += "The needle word is quasar.\r\n"
        msg = ("Return-Path: <sender%d@example.org>\r\n"
               "Received: from mx.example.org by mail.test; %s\r\n"
               "From: Sender %d <sender%d@example.org>\r\n"
               "To: A <a@example.com>\r\nCc: list@example.net\r\n"
               "Subject: Benchmark message %d about %s\r\n"
               "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
               "Message-ID: <%d.bench@example.org>\r\n"
               "MIME-Version: 1.0\r\n"
               "Content-Type: text/plain; charset=us-ascii\r\n\r\n%s" %
               (i, time.strftime("%a, %d %b %Y %H:%M:%S +0000"), i, i, i,
                words[i % 20], i, body))
        name = "%d.M%dP1.bench:2,%s" % (now - n + i, i, "S" if i % 3 else "")
        with open(os.path.join(root, "cur", name), "w") as f:
            f.write(msg)
    if os.getuid() == 0:
        pw = pwd.getpwnam("nobody")
        for dirpath, dirs, files in os.walk(os.path.join(d.state, "mail")):
            os.chown(dirpath, pw.pw_uid, pw.pw_gid)
            for f in files:
                os.chown(os.path.join(dirpath, f), pw.pw_uid, pw.pw_gid)


class Client:
    def __init__(self, d):
        raw = socket.create_connection(("127.0.0.1", d.ports["imaps"]),
                                       timeout=600)
        self.s = client_tls_context().wrap_socket(raw)
        self.buf = b""
        self.n = 0
        self.line()

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(262144)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def run(self, cmd):
        """Returns (untagged line count, tagged line, seconds)."""
        self.n += 1
        tag = b"b%d" % self.n
        t0 = time.monotonic()
        self.s.sendall(tag + b" " + cmd.encode() + b"\r\n")
        count = 0
        first = None
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                return count, line, time.monotonic() - t0, first
            if first is None:
                first = line
            count += 1


def bench_fetch(n):
    d = start()
    fill_maildir(d, n)
    d.start()
    try:
        c = Client(d)
        c.run('LOGIN %s "%s"' % (USER, PASSWORD))
        cnt, tagged, secs, _ = c.run("SELECT INBOX")
        print("SELECT of %d fresh messages (index built): %.2fs" % (n, secs))
        for run in ("first (parses and caches)", "second (from cache)"):
            cnt, tagged, secs, _ = c.run(
                "FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)")
            print("FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE), %s: %d "
                  "messages in %.2fs = %.0f messages/s [%s]" % (
                      run, cnt, secs, cnt / secs, tagged.decode()[:30]))
        cnt, tagged, secs, _ = c.run("UID FETCH 1:* (FLAGS)")
        print("UID FETCH 1:* (FLAGS): %d messages in %.2fs = %.0f/s" % (
            cnt, secs, cnt / secs))
        print("postad RSS after: %d KiB" % d.rss_kib())
    finally:
        d.stop()
        d.cleanup()


def bench_search(n):
    d = start()
    fill_maildir(d, n)
    d.start()
    try:
        c = Client(d)
        c.run('LOGIN %s "%s"' % (USER, PASSWORD))
        c.run("SELECT INBOX")
        for run in ("first", "second"):
            cnt, tagged, secs, first = c.run('SEARCH TEXT "quasar"')
            hits = len(first.split()) - 2 if first else 0
            print('SEARCH TEXT "quasar" over %d messages (%s run): %.2fs, '
                  '%d hits [%s]' % (n, run, secs, hits, tagged.decode()[:25]))
        cnt, tagged, secs, first = c.run('SEARCH SUBJECT "message 4242"')
        print('SEARCH SUBJECT over %d messages: %.2fs' % (n, secs))
        cnt, tagged, secs, first = c.run('SEARCH UNSEEN')
        print('SEARCH UNSEEN over %d messages: %.3fs' % (n, secs))
        print("postad RSS after: %d KiB" % d.rss_kib())
    finally:
        d.stop()
        d.cleanup()


async def open_idle(port, ctx):
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    await r.readline()
    w.write(b'a LOGIN a@example.com "%s"\r\nb SELECT INBOX\r\nc IDLE\r\n' %
            PASSWORD.encode())
    while True:
        line = await r.readline()
        if not line:
            raise EOFError("closed during setup")
        if line.startswith(b"+"):
            return r, w
        if line.startswith((b"a NO", b"b NO", b"a BAD", b"b BAD")):
            raise RuntimeError(line.decode())


async def bench_idle(counts):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    need = 2 * max(counts) + 100
    if hard < need:
        print("ulimit -n is %d, %d needed: raise the hard limit" % (hard,
                                                                    need))
        return
    d = start(limiter_caps=True)
    d.start()
    conns = []
    try:
        ctx = client_tls_context()
        base = d.rss_kib()
        print("baseline postad RSS %d KiB" % base)
        for n in counts:
            t0 = time.monotonic()
            while len(conns) < n:
                batch = min(100, n - len(conns))
                conns += await asyncio.gather(*[
                    open_idle(d.ports["imaps"], ctx) for _ in range(batch)])
            await asyncio.sleep(1)
            rss = d.rss_kib()
            print("%5d authenticated IDLE sessions over TLS: postad RSS %d "
                  "KiB, %.1f KiB per session (set up in %.1fs)" % (
                      len(conns), rss, (rss - base) / len(conns),
                      time.monotonic() - t0))
        # one delivery reaches every idler
        c = Client(d)
        c.run('LOGIN %s "%s"' % (USER, PASSWORD))
        t0 = time.monotonic()
        c.run("APPEND INBOX {11+}\r\nSubject: x\r\n")
        got = await asyncio.gather(*[r.readline() for r, w in conns])
        print("one APPEND: EXISTS reached all %d idlers in %.2fs (%s)" % (
            len(conns), time.monotonic() - t0, got[0].strip().decode()))
        for r, w in conns:
            w.close()
    finally:
        d.stop()
        d.cleanup()


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "fetch"
    args = [int(a) for a in sys.argv[2:]]
    if what == "idle":
        asyncio.run(bench_idle(args or [1000, 5000]))
    elif what == "fetch":
        bench_fetch(args[0] if args else 10000)
    elif what == "search":
        bench_search(args[0] if args else 10000)
    else:
        print(__doc__)


if __name__ == "__main__":
    main()
