# limiter_ends.py: session caps drop however a session ends; login throttling (echo stands in for POP3)
import os
import signal
import socket
import ssl
import struct
import subprocess
import time

from posta import BUILDDIR, LineClient, Postad, client_tls_context
from tap import TAP

t = TAP()
CAP = 3
POSTA_BIN = os.path.join(BUILDDIR, "tools", "posta", "posta")
svc = {"protocol": "pop3", "module": "echo", "idle_timeout": "2s"}
d = Postad({
    "p": dict(svc, tls="starttls", allow_plaintext_auth="yes"),
    "ps": dict(svc, tls="implicit"),
}, blocks="""plugin auth-lmdb {
}
plugin limiter {
  max_userip_connections pop3 = %d
  auth_fail_delay_after = 2
  auth_fail_max_delay = 400ms
  auth_fail_block_after = 6
}
protocol echo {
  register_as = pop3
}
""" % CAP, tap=t, start=False)


def admin(*args, stdin=""):
    r = subprocess.run([POSTA_BIN, "--state-dir", d.state, "--config",
                        d.conf] + list(args), input=stdin,
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("posta %s: %s" % (args, r.stderr))


admin("domain", "add", "example.com")
admin("user", "add", "alice@example.com", "--password-stdin", stdin="pw-a\n")
admin("user", "add", "bob@example.com", "--password-stdin", stdin="pw-b\n")
d.start()


def session(user="alice@example.com", pw="pw-a", service="p", src=None,
            tls=False):
    raw = socket.create_connection(("127.0.0.1", d.ports[service]),
                                   timeout=15, source_address=(
                                       (src, 0) if src else None))
    if tls:
        raw = client_tls_context().wrap_socket(raw)
    c = LineClient(raw)
    c.line()
    c.reply = c.cmd("LOGIN %s %s" % (user, pw))
    return c


def closes():
    return d.log().count("event=conn.close")


def wait_closed(before, n):
    d.wait_log("event=conn.close", count=before + n)


def full_then_refused(what):
    """CAP logins work, the next one is refused with the limit named."""
    cs = [session() for _ in range(CAP)]
    good = all(c.reply.startswith("+OK") for c in cs)
    extra = session()
    t.ok(good and extra.reply.startswith("-ERR [LIMIT]") and
         "(limit %d)" % CAP in extra.reply,
         "%s: %d logins work, the next is refused naming the limit" %
         (what, CAP))
    return cs, extra


def test_cap():
    cs, extra = full_then_refused("start")
    t.eq(extra.cmd("WHO"), "+WHO p pop3 127.0.0.1 -",
         "the refused connection stays open, not logged in")
    t.ok(all(c.cmd("hi") == "+ECHO hi" for c in cs),
         "the sessions already open keep working")
    other = session("bob@example.com", "pw-b")
    t.ok(other.reply.startswith("+OK"), "another user is not affected")
    v6 = session(src="127.0.0.2")
    t.ok(v6.reply.startswith("+OK"), "the same user from 127.0.0.2 is not "
         "affected")
    before = closes()
    for c in cs + [extra, other, v6]:
        c.cmd("QUIT")
        c.close()
    wait_closed(before, len(cs) + 3)
    # pop3 and pop3s are one count
    mixed = [session(service="ps", tls=True), session(),
             session(service="ps", tls=True)]
    t.ok(all(c.reply.startswith("+OK") for c in mixed), "mixed logins work")
    fourth = session()
    t.ok(fourth.reply.startswith("-ERR [LIMIT]"),
         "plain and TLS services share one count")
    before = closes()
    for c in mixed + [fourth]:
        c.close()
    wait_closed(before, len(mixed) + 1)


def rst(c):
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      struct.pack("ii", 1, 0))
    c.sock.close()


def end_quit(cs):
    for c in cs:
        c.cmd("QUIT")
        c.close()


def end_reset(cs):
    for c in cs:
        rst(c)


def end_idle(cs):
    for c in cs:
        t.eq(c.line(), "-ERR idle timeout", "idle session told why")


def end_tls_error(cs):
    for c in cs:
        raw = socket.socket(fileno=os.dup(c.sock.fileno()))
        raw.sendall(b"\x17\x03\x03\x00\x20" + os.urandom(32))
        raw.close()
        c.close()


def end_mid_command(cs):
    for c in cs:
        c.send("SLOW\r\n")        # the session now waits on a timer
        rst(c)


def test_ends():
    ways = [("QUIT", end_quit, False), ("client reset", end_reset, False),
            ("idle timeout", end_idle, False),
            ("TLS error", end_tls_error, True),
            ("killed mid-command", end_mid_command, False)]
    for name, how, tls in ways:
        cs = [session(service="ps" if tls else "p", tls=tls)
              for _ in range(CAP)]
        t.ok(all(c.reply.startswith("+OK") for c in cs),
             "%s: %d sessions open" % (name, CAP))
        before = closes()
        how(cs)
        wait_closed(before, CAP)
        if tls:
            t.contains(d.log(), "event=tls.read_failed",
                       "the broken record was a TLS error on the server")
        again, extra = full_then_refused("after " + name)
        before = closes()
        for c in again + [extra]:
            c.close()
        wait_closed(before, CAP + 1)


def test_throttle():
    times = []
    replies = []
    for i in range(8):
        start = time.monotonic()
        c = session(pw="wrong", src="127.0.0.3")
        times.append(time.monotonic() - start)
        replies.append(c.reply)
        c.close()
    t.ok(all(r.startswith("-ERR [FAIL]") for r in replies[:6]),
         "wrong passwords fail")
    t.ok(max(times[3:6]) > min(times[:2]) + 0.2,
         "after a few failures the replies come slower (%s)" %
         ", ".join("%.2f" % x for x in times))
    t.ok(replies[7].startswith("-ERR [THROTTLED]"),
         "then logins from that address are refused (%s)" % replies[7])
    blocked = session(src="127.0.0.3")
    t.ok(blocked.reply.startswith("-ERR [THROTTLED]"),
         "even with the right password")
    blocked.close()
    ok = session(src="127.0.0.4")
    t.ok(ok.reply.startswith("+OK"), "a correct login from another address "
         "still works")
    ok.close()
    t.contains(d.log(), "event=limit.refused", "refusals are logged")


def test_shutdown():
    cs = [session() for _ in range(CAP)]
    t.ok(all(c.reply.startswith("+OK") for c in cs), "sessions open at "
         "shutdown")
    d.signal(signal.SIGTERM)
    d.wait_log("event=postad.stopped")
    t.ok(all(c.closed() for c in cs), "shutdown closes every session")


try:
    t.run(test_cap, "caps")
    t.run(test_ends, "ways to end")
    t.run(test_throttle, "throttling")
    t.run(test_shutdown, "shutdown")
    d.stop()
finally:
    d.cleanup()
t.done()
