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


def client(port, seconds, out, user=USER, password=PASSWORD):
    try:
        out.put(session(port, seconds, user, password))
    except Exception as e:  # the parent reports it rather than timing out
        out.put("%s: %s" % (type(e).__name__, e))


def session(port, seconds, user, password):
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
    for cmd in ('LOGIN "%s" "%s"' % (user, password), "SELECT INBOX"):
        if not run(cmd).split(b" ", 2)[1] == b"OK":
            raise RuntimeError(cmd.split()[0] + " failed")
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
    return done


def run_clients(port, clients, seconds, user=USER, password=PASSWORD):
    """Commands completed in total by clients sessions on 127.0.0.1:port
    over implicit TLS; raises if any session failed.  Also drives other
    servers (bench/compare_dovecot_imap.py)."""
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=client,
                                     args=(port, seconds, q, user, password))
             for _ in range(clients)]
    for p in procs:
        p.start()
    try:
        got = [q.get(timeout=seconds + 60) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
                p.join(5)
    errors = [g for g in got if isinstance(g, str)]
    if errors:
        raise RuntimeError("%d of %d sessions failed: %s" % (
            len(errors), clients, errors[0]))
    return sum(got)


def main():
    clients = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10
    d = start(limiter_caps=True)
    try:
        fill_maildir(d, 100)
        d.start()
        t0 = time.monotonic()
        total = run_clients(d.ports["imaps"], clients, seconds)
        elapsed = time.monotonic() - t0
        print("%d clients, %.0fs: %d commands, %.0f commands/s over TLS" % (
            clients, seconds, total, total / seconds))
        print("(wall %.1fs including logins)" % elapsed)
    finally:
        d.stop()
        d.cleanup()


if __name__ == "__main__":
    main()
