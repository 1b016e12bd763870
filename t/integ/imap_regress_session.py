# imap_regress_session.py: regressions: raw lines that end IDLE or AUTHENTICATE
import base64
import threading

import imap_common as ic
from tap import TAP

t = TAP()
PW = ic.PASSWORD
d = ic.start(t, plaintext=True)

LONG = "A" * 70000		# over max_line_length (64k)


def raw():
    r = ic.Raw(d.connect("imapplain"))
    r.line()
    return r


def login(r):
    _, tagged = r.run('LOGIN "a@example.com" "%s"' % PW)
    assert " OK " in tagged, tagged


def test_sasl_login_long_line():
    # An over-long line as the LOGIN password ended the command but kept
    # the user name of the exchange; the next AUTHENTICATE LOGIN then
    # dropped that pointer (a leak LeakSanitizer reports at stop).
    r = raw()
    user = base64.b64encode(b"a@example.com").decode()
    bads = 0
    for i in range(3):
        tag = "x%d" % i
        r.send("%s AUTHENTICATE LOGIN\r\n" % tag)
        r.line()
        r.send(user + "\r\n")
        r.line()
        r.send(LONG + "\r\n")
        _, tagged = r.until_tagged(tag)
        bads += tagged.startswith(tag + " BAD")
    t.eq(bads, 3, "an over-long SASL response ends AUTHENTICATE with BAD")
    r.send("y AUTHENTICATE LOGIN\r\n")
    r.line()
    r.send(user + "\r\n")
    r.line()
    r.send(base64.b64encode(PW.encode()).decode() + "\r\n")
    _, tagged = r.until_tagged("y")
    t.ok(tagged.startswith("y OK"), "then AUTHENTICATE LOGIN works: %s" %
         tagged)
    r.close()


def test_idle_long_line_during_refresh():
    # An over-long line ended IDLE while a refresh for a new message was
    # still out; that refresh then ran IDLE's completion on the next
    # command (or none): a NULL dereference that killed postad.  A second
    # session appends all the time, so refreshes are out most of the time.
    stop = threading.Event()

    def appender():
        b = raw()
        login(b)
        m = ic.message(1)
        i = 0
        while not stop.is_set() and i < 4000:
            b.send(b"".join(b"b%d APPEND INBOX {%d+}\r\n%s\r\n" %
                            (i + k, len(m), m) for k in range(20)))
            b.until_tagged("b%d" % (i + 19))
            i += 20
            b.run("SELECT INBOX")
            b.run("STORE 1:* +FLAGS.SILENT \\Deleted")
            b.run("CLOSE")
        b.close()

    th = threading.Thread(target=appender)
    th.start()
    a = raw()
    login(a)
    a.run("SELECT INBOX")
    good = 0
    try:
        for it in range(150):
            tag = "i%d" % it
            a.send("%s IDLE\r\n" % tag)
            line = a.line()
            while not line.startswith("+"):
                line = a.line()
            a.line()		# an update: refreshes are running
            a.send(LONG + "\r\n")
            _, tagged = a.until_tagged(tag)
            _, noop = a.run("NOOP")
            if tagged.startswith(tag + " BAD") and " OK " in noop:
                good += 1
    finally:
        stop.set()
        th.join(60)
    t.eq(good, 150, "IDLE ended by an over-long line, session goes on")
    _, tagged = a.run("LOGOUT")
    t.ok(" OK " in tagged, "LOGOUT")
    a.close()


t.run(test_sasl_login_long_line, "SASL LOGIN, over-long response")
t.run(test_idle_long_line_during_refresh,
      "IDLE, over-long line during a refresh")
d.stop()
d.cleanup()
t.done()
