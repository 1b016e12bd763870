# smtp_hooks.py: the limiter on SMTP: connection caps, session caps, throttling
import base64

from tap import TAP
import smtp_util as U

t = TAP()
have_limiter = U.have_module("plugins/limiter/limiter.la")
ALICE, ALICE_PW = "alice@example.com", U.USERS["alice@example.com"]


def b64(s):
    return base64.b64encode(s.encode()).decode()


def authed(d, password=ALICE_PW):
    c = U.client(d, "submission")
    U.cmd(c, "EHLO client.test")
    U.starttls(c)
    U.cmd(c, "EHLO client.test")
    return c, U.cmd(c, "AUTH PLAIN " + b64("\0%s\0%s" % (ALICE, password)))


def test_limits(d):
    # connection cap before login: the third is refused with 421
    a = U.client(d, "smtp")
    b = U.client(d, "smtp")
    c = U.client(d, "smtp")
    t.ok(c.greeting.startswith("421 4.7.0 "),
         "a connection over the cap gets 421 4.7.0 (%s)" % c.greeting)
    t.ok(U.wait_closed(c), "and is closed")
    for x in (a, b):
        t.eq(U.cmd(x, "QUIT")[0], 221, "the others keep working")
        x.close()
    # one AUTH session per user and address
    c1, (code, _) = authed(d)
    t.eq(code, 235, "first login")
    c2, (code, texts) = authed(d)
    t.eq(code, 421, "second login over the session cap: 421")
    t.ok(texts[0].startswith("4.7.0 "), "with 4.7.0")
    t.ok(U.wait_closed(c2), "and that connection closes")
    t.eq(U.cmd(c1, "NOOP")[0], 250, "the first session goes on")
    c1.close()


def test_throttle(d):
    codes = []
    for _ in range(3):
        c, (code, _) = authed(d, "wrong")
        codes.append(code)
        c.close()
    t.eq(codes[:2], [535, 535], "wrong passwords: 535")
    t.eq(codes[2], 421, "then the address is blocked: 421")
    c, (code, _) = authed(d)
    t.eq(code, 421, "even the right password while blocked")
    c.close()


if not have_limiter:
    t.skip("limiter hooks on SMTP", "limiter plugin not built")
else:
    d = U.start(t, extra_blocks="plugin limiter {\n"
                "  max_connections_per_ip = 2\n"
                "  max_userip_connections smtp = 1\n"
                "  auth_fail_delay_after = 0\n"
                "  auth_fail_block_after = 2\n}\n")
    try:
        t.run(lambda: test_limits(d), "limits")
        t.run(lambda: test_throttle(d), "throttling")
    finally:
        d.stop()
        d.cleanup()
t.done()
