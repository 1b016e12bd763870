# pop3_session.py: poplib over POP3S and STLS, CAPA, logins, refusals, the lock
import base64
import poplib

import pop3_util as u
from posta import client_tls_context
from tap import TAP

t = TAP()
USER, PW = "alice@example.com", "s3cret pass"
OTHER, OTHER_PW = "bob@example.com", "bobpw"
d = u.start(t, {USER: PW, OTHER: OTHER_PW})


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def test_pop3s_poplib():
    u.ensure_maildir(d, USER, PW)
    for i in range(3):
        u.deliver(d, USER, u.message(i))
    p = u.pop3s(d)
    welcome = p.getwelcome().decode()
    t.eq(welcome, "+OK mail.test POP3 ready.", "greeting names the host")
    caps = p.capa()
    for cap in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
                "USER"):
        t.ok(cap in caps, "CAPA over TLS lists %s" % cap)
    t.eq(caps.get("SASL"), ["PLAIN", "LOGIN"], "CAPA SASL PLAIN LOGIN")
    t.ok("STLS" not in caps, "no STLS offered on implicit TLS")
    t.eq(caps.get("IMPLEMENTATION"), ["Posta"], "CAPA IMPLEMENTATION")
    t.ok(p.user(USER).startswith(b"+OK"), "USER accepted")
    t.eq(p.pass_(PW), b"+OK Logged in.", "PASS with spaces logs in")
    caps = p.capa()
    t.ok("USER" not in caps and "SASL" not in caps,
         "after login CAPA offers no login mechanisms")
    count, size = p.stat()
    t.eq(count, 3, "STAT counts the maildrop")
    resp, listing, _ = p.list()
    sizes = [int(x.split()[1]) for x in listing]
    t.eq(sum(sizes), size, "STAT size is the sum of LIST sizes")
    p.quit()


def test_stls_poplib():
    p = poplib.POP3("127.0.0.1", d.ports["pop3"], timeout=20)
    caps = p.capa()
    t.ok("STLS" in caps, "CAPA before TLS offers STLS")
    t.ok("USER" not in caps and "SASL" not in caps,
         "CAPA before TLS offers no password mechanism")
    try:
        p.user(USER)
        t.ok(False, "USER before STLS must be refused")
    except poplib.error_proto as e:
        t.ok(str(e).startswith("b'-ERR [AUTH]") and "STLS" in str(e),
             "USER before STLS: -ERR [AUTH] ... STLS first")
    p.stls(context=client_tls_context())
    caps = p.capa()
    t.ok("STLS" not in caps and "USER" in caps,
         "after STLS: USER offered, STLS not")
    p.user(USER)
    t.eq(p.pass_(PW), b"+OK Logged in.", "USER/PASS after STLS")
    t.eq(p.stat()[0], 3, "maildrop over STLS")
    p.quit()


def test_auth_plain_raw():
    c = u.raw_pop3(d)
    c.line()
    t.ok(c.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (USER, PW))).startswith(
        "-ERR [AUTH]"), "AUTH PLAIN before STLS refused with [AUTH]")
    t.eq(c.cmd("STLS"), "+OK Begin TLS negotiation now.", "STLS")
    c.sock = client_tls_context().wrap_socket(c.sock)
    t.eq(c.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (USER, PW))),
         "+OK Logged in.", "AUTH PLAIN with initial response after STLS")
    t.ok(c.cmd("STAT").startswith("+OK 3 "), "STAT after AUTH PLAIN")
    t.eq(c.cmd("QUIT"), "+OK Logging out.", "QUIT")
    c.close()


def test_auth_variants():
    c = u.raw_pop3s(d)
    c.line()
    t.eq(c.cmd("AUTH PLAIN"), "+ ", "AUTH PLAIN without IR: empty challenge")
    t.eq(c.cmd("*"), "-ERR Authentication cancelled.", "'*' cancels AUTH")
    t.eq(c.cmd("AUTH PLAIN"), "+ ", "AUTH PLAIN again")
    t.ok(c.cmd("!!notbase64").startswith("-ERR"), "bad base64 refused")
    t.eq(c.cmd("AUTH PLAIN " + b64("\0%s\0wrong" % USER)),
         "-ERR [AUTH] Authentication failed.",
         "wrong password: -ERR [AUTH]")
    t.eq(c.cmd("AUTH PLAIN " + b64("admin\0%s\0%s" % (USER, PW))),
         "-ERR [AUTH] Invalid AUTH PLAIN message.",
         "another authorization identity is refused")
    t.eq(c.cmd("AUTH CRAM-MD5"), "-ERR Unsupported authentication mechanism.",
         "unknown mechanism refused")
    t.eq(c.cmd("AUTH"), "+OK Supported mechanisms follow", "bare AUTH lists")
    t.eq(u.read_multi(c), ["PLAIN", "LOGIN"], "mechanism list")
    t.eq(c.cmd("AUTH LOGIN"), "+ VXNlcm5hbWU6", "AUTH LOGIN asks Username:")
    t.eq(c.cmd(b64(USER)), "+ UGFzc3dvcmQ6", "then Password:")
    t.eq(c.cmd(b64(PW)), "+OK Logged in.", "AUTH LOGIN logs in")
    t.eq(c.cmd("QUIT"), "+OK Logging out.", "QUIT")
    c.close()
    c = u.raw_pop3s(d)
    c.line()
    t.eq(c.cmd("AUTH LOGIN " + b64(USER)), "+ UGFzc3dvcmQ6",
         "AUTH LOGIN with the user name as initial response")
    t.eq(c.cmd(b64(PW)), "+OK Logged in.", "and the password")
    c.cmd("QUIT")
    c.close()
    c = u.raw_pop3s(d)
    c.line()
    t.eq(c.cmd("AUTH PLAIN"), "+ ", "AUTH PLAIN")
    t.eq(c.cmd(b64("\0%s\0%s" % (USER, PW))), "+OK Logged in.",
         "AUTH PLAIN response on a continuation line")
    c.cmd("QUIT")
    c.close()


def test_user_pass_errors():
    c = u.raw_pop3s(d)
    c.line()
    t.eq(c.cmd("PASS x"), "-ERR No user name given: send USER first.",
         "PASS without USER")
    c.cmd("USER " + USER)
    t.eq(c.cmd("PASS wrong"), "-ERR [AUTH] Authentication failed.",
         "wrong password: -ERR [AUTH]")
    t.eq(c.cmd("PASS " + PW), "-ERR No user name given: send USER first.",
         "a failed PASS needs a new USER")
    c.cmd("USER nobody@example.com")
    t.eq(c.cmd("PASS " + PW), "-ERR [AUTH] Authentication failed.",
         "unknown user: the same -ERR [AUTH]")
    t.eq(c.cmd("APOP a b"), "-ERR APOP is not supported.", "no APOP")
    t.ok(c.cmd("STAT").startswith("-ERR STAT is not allowed"),
         "STAT before login refused")
    c.cmd("USER " + USER)
    t.eq(c.cmd("PASS " + PW), "+OK Logged in.", "then a good login works")
    t.ok(c.cmd("USER x").startswith("-ERR USER is not allowed in the "
                                     "TRANSACTION state"),
         "USER after login refused")
    t.ok(c.cmd("STLS").startswith("-ERR"), "STLS after login refused")
    c.cmd("QUIT")
    c.close()


def test_stls_injection():
    # CVE-2011-0411: a command pipelined behind STLS must not run
    c = u.raw_pop3(d)
    c.line()
    c.send("STLS\r\nUSER " + USER + "\r\n")
    t.eq(c.line(), "+OK Begin TLS negotiation now.", "STLS answered")
    c.sock = client_tls_context().wrap_socket(c.sock)
    t.eq(c.cmd("PASS " + PW), "-ERR No user name given: send USER first.",
         "the USER pipelined before the handshake was discarded")
    t.ok(c.cmd("STLS").startswith("-ERR"), "second STLS refused")
    c.close()


def test_plaintext_allowed():
    # a service whose admin allows passwords without TLS
    d2 = u.start(t, {USER: PW}, services={
        "pop3": {"protocol": "pop3", "tls": "none",
                 "allow_plaintext_auth": "yes"}})
    try:
        p = poplib.POP3("127.0.0.1", d2.ports["pop3"], timeout=20)
        caps = p.capa()
        t.ok("USER" in caps and "STLS" not in caps,
             "allow_plaintext_auth: USER offered, no STLS without TLS")
        p.user(USER)
        t.eq(p.pass_(PW), b"+OK Logged in.", "plaintext login allowed")
        p.quit()
    finally:
        d2.stop()
        d2.cleanup()


def test_maildrop_lock():
    a = u.pop3s(d, USER, PW)
    b = u.raw_pop3s(d)
    b.line()
    b.cmd("USER " + USER)
    t.eq(b.cmd("PASS " + PW),
         "-ERR [IN-USE] Mailbox is locked by another POP3 session.",
         "a second session for the maildrop gets -ERR [IN-USE]")
    t.ok(u.wait_closed(b), "and is closed (RFC 1939 4)")
    b.close()
    t.eq(a.stat()[0], 3, "the first session goes on")
    o = u.pop3s(d, OTHER, OTHER_PW)
    t.eq(o.stat()[0], 0, "another user is not affected")
    o.quit()
    a.quit()
    a = u.pop3s(d, USER, PW)
    t.eq(a.stat()[0], 3, "after QUIT the maildrop is free again")
    before = d.log().count("reason=disconnected")
    u.drop(a)
    # a dropped connection frees the lock as well (once postad saw it)
    d.wait_log("reason=disconnected", count=before + 1)
    a = u.pop3s(d, USER, PW)
    t.eq(a.stat()[0], 3, "after a dropped connection it is free too")
    a.quit()


def test_logging():
    log = d.log()
    t.ok("event=pop3.login" in log and "messages=3" in log,
         "login logged with the message count")
    t.ok("event=pop3.logout" in log and "reason=quit" in log and
         "reason=disconnected" in log, "logout logged with its reason")
    t.ok(PW not in log, "the password never reaches the log")


t.run(test_pop3s_poplib, "POP3S with poplib")
t.run(test_stls_poplib, "POP3 + STLS with poplib")
t.run(test_auth_plain_raw, "AUTH PLAIN after STLS")
t.run(test_auth_variants, "AUTH variants")
t.run(test_user_pass_errors, "USER/PASS errors")
t.run(test_stls_injection, "STLS injection")
t.run(test_plaintext_allowed, "allow_plaintext_auth")
t.run(test_maildrop_lock, "maildrop lock")
t.run(test_logging, "log lines")
d.stop()
d.cleanup()
t.done()
