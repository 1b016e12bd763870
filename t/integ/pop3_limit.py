# pop3_limit.py: the limiter's POP3 cap, pre-login caps and throttling via POP3
import poplib

import pop3_util as u
from posta import LineClient, client_tls_context
from tap import TAP

t = TAP()
USER, PW = "frank@example.com", "pw-frank"
OTHER, OTHER_PW = "gina@example.com", "pw-gina"
LIMIT_TEXT = ("-ERR [IN-USE] Too many POP3 sessions for this user from this "
              "address (limit 5)")
# several sessions of one user need the maildrop unlocked (the lock would
# allow only one); the cap is the limiter's default
d = u.start(t, {USER: PW, OTHER: OTHER_PW}, limiter=True,
            blocks="protocol pop3 {\n  lock_maildrop = no\n}\n")


def raw_login(user, pw):
    c = u.raw_pop3s(d)
    c.line()
    c.cmd("USER " + user)
    return c, c.cmd("PASS " + pw)


def stls_session(user, pw):
    p = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=20)
    p.stls(context=client_tls_context())
    p.user(user)
    p.pass_(pw)
    return p


def logged_out(how, action):
    """Runs action, then waits until postad logged that many more
    logouts (the limiter has released the slot by then)."""
    before = d.log().count("reason=" + how)
    action()
    d.wait_log("reason=" + how, count=before + 1)


def test_cap():
    u.ensure_maildir(d, USER, PW)
    u.deliver(d, USER, u.message(1))
    sessions = [u.pop3s(d, USER, PW) for _ in range(5)]
    t.eq([s.stat()[0] for s in sessions], [1] * 5,
         "five POP3 sessions of one user from 127.0.0.1 all work")
    c, r = raw_login(USER, PW)
    t.eq(r, LIMIT_TEXT, "the sixth login: -ERR [IN-USE] naming the limit")
    t.eq(c.cmd("NOOP"), "+OK NOOP", "that connection stays open")
    t.eq(c.cmd("STAT"), "-ERR STAT is not allowed in the AUTHORIZATION "
         "state.", "and is not logged in")
    t.eq([s.stat()[0] for s in sessions], [1] * 5,
         "the five keep working")
    t.eq(sessions[0].retr(1)[1][2], b"Subject: message 1",
         "and can retrieve mail")
    o = u.pop3s(d, OTHER, OTHER_PW)
    t.eq(o.stat()[0], 0, "another user from the same address is fine")
    o.quit()
    logged_out("quit", sessions.pop().quit)
    c.cmd("USER " + USER)
    t.eq(c.cmd("PASS " + PW), "+OK Logged in.",
         "after one QUIT the refused connection can log in")
    logged_out("quit", lambda: t.eq(c.cmd("QUIT"), "+OK Logging out.",
                                    "QUIT"))
    c.close()
    # pop3 (STLS) and pop3s share the count
    s = stls_session(USER, PW)
    t.eq(s.stat()[0], 1, "a fifth session over STLS on the pop3 service")
    c, r = raw_login(USER, PW)
    t.eq(r, LIMIT_TEXT, "pop3 and pop3s count together")
    t.eq(c.cmd("QUIT"), "+OK Logging out.", "QUIT from the refused one")
    c.close()
    # a dropped session gives its slot back
    logged_out("disconnected", lambda: u.drop(sessions.pop()))
    c, r = raw_login(USER, PW)
    t.eq(r, "+OK Logged in.", "a dropped session's slot is free again")
    c.cmd("QUIT")
    c.close()
    for p in sessions + [s]:
        p.quit()


def test_prelogin_cap():
    # max_connections_per_ip (set below) on the pop3 service
    conns = []
    try:
        for i in range(4):
            c = LineClient(d.connect("pop3"))
            t.ok(c.line().startswith("+OK"), "bare connection %d" % (i + 1))
            conns.append(c)
        c = LineClient(d.connect("pop3"))
        line = c.line()
        t.ok(line.startswith("-ERR [SYS/TEMP] "),
             "past the per-address cap: -ERR [SYS/TEMP] (%s)" % line)
        t.ok(u.wait_closed(c), "and closed")
        c.close()
    finally:
        for c in conns:
            c.close()


def test_throttled():
    c = u.raw_pop3s(d)
    c.line()
    for i in range(3):
        c.cmd("USER " + USER)
        t.eq(c.cmd("PASS wrong%d" % i), "-ERR [AUTH] Authentication failed.",
             "wrong password %d: -ERR [AUTH]" % (i + 1))
    c.cmd("USER " + USER)
    r = c.cmd("PASS " + PW)
    t.ok(r.startswith("-ERR [SYS/TEMP] "),
         "blocked address: -ERR [SYS/TEMP], so the client keeps the "
         "password for later (%s)" % r)
    t.eq(c.cmd("QUIT"), "+OK Logging out.", "QUIT")
    c.close()


t.run(test_cap, "per-user cap")
d.stop()
d.cleanup()

d = u.start(t, {USER: PW}, limiter=False,
            blocks="plugin limiter {\n  max_connections_per_ip = 4\n"
            "  auth_fail_delay_after = 3\n  auth_fail_block_after = 3\n}\n")
t.run(test_prelogin_cap, "pre-login cap")
t.run(test_throttled, "throttled logins")
d.stop()
d.cleanup()
t.done()
