# imap_shutdown.py: IDLE sees mail delivered over SMTP at once; SIGTERM says BYE to idle IMAP sessions
import signal
import smtplib
import time

from imap_common import raw_tls, start
from tap import TAP

t = TAP()
d = start(t, services_extra={"smtp": {"protocol": "smtp"}},
          protocol_extra="")


def wait_for(c, needle, timeout=10):
    """Lines until one contains needle (bounded by the socket timeout)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = c.line()
        seen.append(line)
        if needle in line:
            return line, seen
    return None, seen


def test_idle_sees_smtp():
    c = raw_tls(d)
    t.ok(" OK " in c.run("SELECT INBOX")[1], "SELECT INBOX")
    c.send("a2 IDLE\r\n")
    t.ok(c.line().startswith("+ "), "IDLE started")
    start = time.monotonic()
    with smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=20) as s:
        s.sendmail("someone@elsewhere.test", ["a@example.com"],
                   b"Subject: over smtp\r\n\r\nhello\r\n")
    line, _ = wait_for(c, "EXISTS")
    t.ok(line is not None and line.endswith("1 EXISTS"),
         "IDLE reports the SMTP delivery as EXISTS (%s, %.2fs after 250)" %
         (line, time.monotonic() - start))
    c.send("DONE\r\n")
    line, _ = wait_for(c, "a2 ")
    t.ok(line is not None and line.startswith("a2 OK"), "IDLE ends on DONE")
    c.close()


def test_bye_at_shutdown():
    idle = raw_tls(d)
    t.ok(" OK " in idle.run("SELECT INBOX")[1], "idle session selected INBOX")
    idle.send("b2 IDLE\r\n")
    idle.line()
    plain = raw_tls(d)
    t.ok(" OK " in plain.run("SELECT INBOX")[1], "second session between commands")
    start = time.monotonic()
    d.signal(signal.SIGTERM)
    line, seen = wait_for(idle, "* BYE")
    t.ok(line == "* BYE Server shutting down.",
         "a session in IDLE is told BYE (%r)" % seen)
    line, seen = wait_for(plain, "* BYE")
    t.ok(line == "* BYE Server shutting down.",
         "a session between commands is told BYE (%r)" % seen)
    t.ok(idle.closed() and plain.closed(), "and both are closed")
    code = d.proc.wait(30)
    t.eq(code, 0, "postad exits 0")
    t.ok(time.monotonic() - start < 1.9,
         "without waiting for the grace period (%.2fs)" %
         (time.monotonic() - start))


try:
    t.run(test_idle_sees_smtp, "IDLE and SMTP")
    t.run(test_bye_at_shutdown, "BYE at shutdown")
    d.stop()
finally:
    d.cleanup()
t.done()
