# imap_cmds.py: IMAP commands/s over TLS from N concurrent clients (one command in flight each, like real clients)
# usage (from a build tree, see bench/README.md):
#   python3 bench/imap_cmds.py [CLIENTS=10] [SECONDS=10]
# Each client process logs in over implicit TLS, selects a 100-message
# INBOX and then loops over a mix of what mail clients send while open:
# NOOP, UID FETCH 1:* (FLAGS), FETCH n (BODY.PEEK[HEADER]), STATUS, and a
# STORE +FLAGS/-FLAGS pair; each waits for its tagged reply.  Bounded by
# SECONDS; prints commands/s in total.
import multiprocessing
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imap_bench import PASSWORD, USER, fill_maildir, start  # noqa: E402
from posta import client_tls_context  # noqa: E402

MIX = ["NOOP", "UID FETCH 1:* (FLAGS)", "FETCH %d (BODY.PEEK[HEADER])",
       "STATUS INBOX (MESSAGES UNSEEN)", "STORE %d +FLAGS (\\Flagged)",
       "STORE %d -FLAGS (\\Flagged)"]


def client(port, seconds, out):
    sock = client_tls_context().wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=30))
    f = sock.makefile("rb")
    f.readline()
    n = 0

    def run(cmd):
        nonlocal n
        n += 1
        tag = b"c%d" % n
        sock.sendall(tag + b" " + cmd.encode() + b"\r\n")
        while True:
            line = f.readline()
            if not line:
                raise EOFError
            if line.startswith(tag + b" "):
                return line
    run('LOGIN "%s" "%s"' % (USER, PASSWORD))
    run("SELECT INBOX")
    done = 0
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        cmd = MIX[i % len(MIX)]
        if "%d" in cmd:
            cmd = cmd % (1 + i % 100)
        if not run(cmd).split(b" ", 2)[1] == b"OK":
            raise RuntimeError(cmd)
        done += 1
        i += 1
    run("LOGOUT")
    out.put(done)


def main():
    clients = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10
    d = start(limiter_caps=True)
    try:
        fill_maildir(d, 100)
        d.start()
        q = multiprocessing.Queue()
        procs = [multiprocessing.Process(target=client,
                                         args=(d.ports["imaps"], seconds, q))
                 for _ in range(clients)]
        t0 = time.monotonic()
        for p in procs:
            p.start()
        total = sum(q.get(timeout=seconds + 60) for _ in procs)
        for p in procs:
            p.join(30)
        elapsed = time.monotonic() - t0
        print("%d clients, %.0fs: %d commands, %.0f commands/s over TLS" % (
            clients, seconds, total, total / seconds))
        print("(wall %.1fs including logins)" % elapsed)
    finally:
        d.stop()
        d.cleanup()


if __name__ == "__main__":
    main()
