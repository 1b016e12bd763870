# imap_raw.py: IMAP on raw sockets: TLS rules, literals, pipelining, bad input, updates
import base64
import hashlib
import socket
import subprocess

import imap_common as ic
from posta import client_tls_context
from tap import TAP

t = TAP()
PW = ic.PASSWORD
d = ic.start(t, maildir_extra="  max_message_size = 1M\n",
             services_extra={"imapquick": {"protocol": "imap",
                                           "tls": "implicit",
                                           "idle_timeout": "1s"},
                             "imapplain": {"protocol": "imap",
                                           "allow_plaintext_auth": "yes"}})


def plain(service="imap"):
    r = ic.Raw(d.connect(service))
    return r, r.line()


def test_before_tls():
    r, greeting = plain()
    t.ok(greeting.startswith("* OK [CAPABILITY IMAP4rev1") and
         "STARTTLS" in greeting and "LOGINDISABLED" in greeting and
         "AUTH=PLAIN" not in greeting,
         "plain greeting: STARTTLS, LOGINDISABLED, no AUTH=")
    _, tagged = r.run('LOGIN "a@example.com" "%s"' % PW)
    t.ok("NO [PRIVACYREQUIRED]" in tagged, "LOGIN before TLS: PRIVACYREQUIRED")
    _, tagged = r.run("AUTHENTICATE PLAIN")
    t.ok("NO [PRIVACYREQUIRED]" in tagged,
         "AUTHENTICATE before TLS: PRIVACYREQUIRED")
    r.send("t9 LOGIN {13}\r\n")
    line = r.line()
    t.ok(line.startswith("t9 NO [PRIVACYREQUIRED]"),
         "no '+' invites a password literal before TLS: %r" % line)
    _, tagged = r.run("NOOP")
    t.ok(" OK " in tagged, "the session goes on")
    # CVE-2011-0411: a command pipelined behind STARTTLS never runs
    r.send("s1 STARTTLS\r\ns2 LOGOUT\r\n")
    t.ok(r.line().startswith("s1 OK"), "STARTTLS accepted")
    r.sock = client_tls_context().wrap_socket(r.sock)
    r.buf = b""
    untagged, tagged = r.run("CAPABILITY")
    t.ok(tagged.endswith("OK Capability completed.") and
         "AUTH=PLAIN" in untagged[0] and "STARTTLS" not in untagged[0],
         "pipelined plaintext was dropped; after TLS AUTH=PLAIN, "
         "no STARTTLS")
    _, tagged = r.run("STARTTLS")
    t.ok(" BAD " in tagged, "a second STARTTLS is BAD")
    # synchronizing literals for user and password
    tag = r.tag()
    r.send("%s LOGIN {13}\r\n" % tag)
    t.ok(r.line().startswith("+"), "continuation for a literal")
    r.send("a@example.com {%d}\r\n" % len(PW))
    t.ok(r.line().startswith("+"), "continuation for the second literal")
    r.send(PW + "\r\n")
    _, tagged = r.until_tagged(tag)
    t.ok(" OK [CAPABILITY" in tagged, "LOGIN with literals: %s" % tagged)
    r.close()


def test_plaintext_allowed():
    r, greeting = plain("imapplain")
    t.ok("AUTH=PLAIN" in greeting and "LOGINDISABLED" not in greeting and
         "STARTTLS" not in greeting,
         "allow_plaintext_auth: AUTH= offered, no LOGINDISABLED, and no "
         "STARTTLS on a tls = none service")
    _, tagged = r.run('LOGIN "a@example.com" "%s"' % PW)
    t.ok(" OK " in tagged, "allow_plaintext_auth: LOGIN without TLS")
    r.close()


def test_sasl():
    r = ic.Raw(d.connect_tls("imaps"))
    r.line()
    tag = r.tag()
    r.send("%s AUTHENTICATE LOGIN\r\n" % tag)
    t.eq(r.line(), "+ VXNlcm5hbWU6", "AUTH LOGIN asks for the user name")
    r.send(base64.b64encode(b"a@example.com").decode() + "\r\n")
    t.eq(r.line(), "+ UGFzc3dvcmQ6", "then for the password")
    r.send(base64.b64encode(PW.encode()).decode() + "\r\n")
    _, tagged = r.until_tagged(tag)
    t.ok(" OK " in tagged, "AUTHENTICATE LOGIN")
    r.close()
    r = ic.Raw(d.connect_tls("imaps"))
    r.line()
    ir = base64.b64encode(b"\0a@example.com\0" + PW.encode()).decode()
    _, tagged = r.run("AUTHENTICATE PLAIN " + ir)
    t.ok(" OK " in tagged, "AUTHENTICATE PLAIN with SASL-IR")
    r.close()
    r = ic.Raw(d.connect_tls("imaps"))
    r.line()
    tag = r.tag()
    r.send("%s AUTHENTICATE PLAIN\r\n" % tag)
    t.eq(r.line(), "+ ", "empty challenge")
    r.send("*\r\n")
    _, tagged = r.until_tagged(tag)
    t.ok(" BAD " in tagged, "'*' cancels with BAD")
    ir = base64.b64encode(b"\0a@example.com\0wrong").decode()
    _, tagged = r.run("AUTHENTICATE PLAIN " + ir)
    t.ok("NO [AUTHENTICATIONFAILED]" in tagged, "wrong password: "
         "[AUTHENTICATIONFAILED]")
    _, tagged = r.run("AUTHENTICATE CRAM-MD5")
    t.ok(" NO " in tagged, "unknown mechanism is NO")
    _, tagged = r.run("AUTHENTICATE PLAIN !!!")
    t.ok(" BAD " in tagged, "bad base64 is BAD")
    r.close()


def test_literal_plus_and_pipelining():
    r = ic.Raw(d.connect_tls("imaps"))
    r.line()
    # LITERAL+: no continuation, everything in one write
    r.send("l1 LOGIN {13+}\r\na@example.com {%d+}\r\n%s\r\n" % (len(PW),
                                                                PW))
    _, tagged = r.until_tagged("l1")
    t.ok(" OK " in tagged, "LOGIN with LITERAL+")
    batch = ("p1 NOOP\r\np2 SELECT INBOX\r\np3 FETCH 1:* (FLAGS)\r\n"
             "p4 STATUS INBOX (MESSAGES)\r\np5 LIST \"\" INBOX\r\n"
             "p6 BOGUS\r\np7 APPEND INBOX {5+}\r\nhello\r\n"
             "p8 SEARCH TEXT {5+}\r\nhello\r\np9 NOOP\r\n")
    r.send(batch)
    tags = []
    for want in ("p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"):
        _, tagged = r.until_tagged(want)
        tags.append(tagged.split()[0:2])
    t.eq(tags, [["p1", "OK"], ["p2", "OK"], ["p3", "OK"], ["p4", "OK"],
                ["p5", "OK"], ["p6", "BAD"], ["p7", "OK"], ["p8", "OK"],
                ["p9", "OK"]],
         "pipelined commands answered in order")
    r.close()


def test_bad_syntax():
    r = ic.raw_tls(d)
    for cmd in ("FOO", "FETCH", 'LOGIN "x', "SELECT", "UID NOOP",
                "FETCH 1:* (FLAGS", "STORE 1 +FLAGS", "LIST a",
                "SEARCH NOT", 'EXAMINE "a\x01b"', "FETCH 0 FLAGS"):
        _, tagged = r.run(cmd)
        if " BAD " not in tagged:
            t.diag("%r -> %r" % (cmd, tagged))
        t.ok(" BAD " in tagged or " NO " in tagged, "%r is refused" % cmd)
    r.send("\x01\x02\x03\r\n")
    t.ok(r.line().startswith("* BAD"), "garbage without a tag: * BAD")
    r.send("x " + "A" * 70000 + "\r\n")
    line = r.line()
    t.ok(" BAD " in line, "an over-long line is BAD: %r" % line[:60])
    _, tagged = r.run("NOOP")
    t.ok(" OK " in tagged, "the session continues after bad input")
    r.close()
    r = ic.raw_tls(d)
    for i in range(25):
        r.send("b%d BOGUS\r\n" % i)
    t.ok(r.closed() and b"* BYE Too many" in r.buf,
         "too many bad commands end with BYE")
    r.close()


def test_append_limits():
    r = ic.raw_tls(d)
    r.send("a1 APPEND INBOX {2000000}\r\n")
    line = r.line()
    t.ok(line.startswith("a1 NO [TOOBIG]"),
         "oversized APPEND refused before its literal: %r" % line)
    _, tagged = r.run("NOOP")
    t.ok(" OK " in tagged, "and no literal is expected afterwards")
    r.send("a2 APPEND INBOX {2000000+}\r\n")
    t.ok(r.line().startswith("a2 NO [TOOBIG]"),
         "oversized LITERAL+ APPEND refused at once")
    r.send("x" * 2000000 + "\r\n")
    _, tagged = r.run("NOOP")
    t.ok(" OK " in tagged, "its bytes were skipped, not run as commands")
    r.send("a3 APPEND Nope {10}\r\n")
    line = r.line()
    t.ok(line.startswith("a3 NO [TRYCREATE]"),
         "APPEND to a missing mailbox: TRYCREATE before the literal")
    body = b"".join(b"Line %06d of a big message.\r\n" % i
                    for i in range(30000))
    msg = b"Subject: big\r\n\r\n" + body
    tag = r.tag()
    r.send("%s APPEND INBOX (\\Seen) {%d}\r\n" % (tag, len(msg)))
    t.ok(r.line().startswith("+"), "a large APPEND gets its continuation")
    r.send(msg + b"\r\n")
    _, tagged = r.until_tagged(tag)
    t.ok(" OK [APPENDUID" in tagged, "large APPEND stored: %s" % tagged)
    uid = tagged.split()[4].rstrip("]")
    r.run("SELECT INBOX")
    tag = r.tag()
    r.send("%s UID FETCH %s (BODY.PEEK[] BODY.PEEK[TEXT]<500000.100>)\r\n" %
           (tag, uid))
    head = r.line()
    n = int(head[head.rindex("{") + 1:-1])
    data = r.read_exact(n)
    rest = r.line()
    m = int(rest[rest.rindex("{") + 1:-1])
    part = r.read_exact(m)
    r.until_tagged(tag)
    t.ok(hashlib.sha256(data).digest() == hashlib.sha256(msg).digest(),
         "the large message comes back intact (%d bytes)" % n)
    t.eq(part, body[500000:500100], "partial fetch of the body")
    r.close()


def test_updates():
    a = ic.raw_tls(d)
    b = ic.imaps(d)
    b.create("Upd")
    for i in range(5):
        b.append("Upd", None, None, ic.message(i))
    a.run("SELECT Upd")
    b.select("Upd")
    b.store("2,4", "+FLAGS", "(\\Deleted)")
    b.expunge()
    b.store("1", "+FLAGS", "(\\Flagged)")
    untagged, tagged = a.run("FETCH 1:* (FLAGS)")
    t.ok(not any("EXPUNGE" in x for x in untagged),
         "no EXPUNGE during FETCH (RFC 3501 7.4.1)")
    untagged, tagged = a.run("NOOP")
    exp = [x for x in untagged if x.endswith("EXPUNGE")]
    t.eq(exp, ["* 4 EXPUNGE", "* 2 EXPUNGE"],
         "NOOP: expunges numbered correctly, highest first")
    t.ok(any("FETCH (UID 1 FLAGS (\\Flagged))" in x for x in untagged),
         "NOOP: another session's flag change as FETCH: %r" % untagged)
    untagged, tagged = a.run("FETCH 1:* (UID)")
    t.eq(len(untagged), 3, "three messages left")
    tag = a.tag()
    a.send("%s IDLE\r\n" % tag)
    t.ok(a.line().startswith("+"), "IDLE")
    b.store("3", "+FLAGS", "(\\Deleted)")
    b.expunge()
    line = a.line()
    if "FETCH" in line:
        # the \Deleted may come first, if it was seen on its own
        t.eq(line, "* 3 FETCH (UID 5 FLAGS (\\Deleted))",
             "IDLE: another session's STORE")
        line = a.line()
    t.eq(line, "* 3 EXPUNGE", "IDLE: another session's EXPUNGE")
    b.append("Upd", None, None, ic.message(9))
    t.eq(a.line(), "* 3 EXISTS", "IDLE: and its APPEND")
    a.send("DONE\r\n")
    _, tagged = a.until_tagged(tag)
    t.ok(" OK " in tagged, "DONE")
    b.logout()
    a.close()


def test_timeouts():
    r = ic.Raw(d.connect_tls("imapquick"))
    r.line()
    r.sock.settimeout(10)
    t.ok(r.closed() and b"* BYE Autologout" in r.buf,
         "before login the service idle_timeout ends the session with BYE")
    r.close()
    with open(d.conf) as f:
        conf = f.read()
    bad = conf.replace("protocol imap {\n", "protocol imap {\n"
                       "  idle_timeout = 5m\n")
    path = d.conf + ".short"
    with open(path, "w") as f:
        f.write(bad)
    cmd = d.command()
    cmd[cmd.index(d.conf)] = path
    p = subprocess.run(cmd + ["-t"], capture_output=True, text=True,
                       timeout=30)
    t.ok(p.returncode != 0 and "idle_timeout" in p.stderr,
         "an autologout below 30 minutes is refused: %s" %
         p.stderr.strip()[:200])


def test_abrupt():
    # a client that vanishes mid-literal and mid-FETCH
    s = d.connect_tls("imaps")
    s.sendall(("x LOGIN a@example.com {%d+}\r\n%s\r\n" % (len(PW), PW) +
               "y APPEND INBOX {100000}\r\n").encode())
    s.recv(4096)
    s.close()
    s = d.connect_tls("imaps")
    s.sendall(("x LOGIN a@example.com {%d+}\r\n%s\r\n" % (len(PW), PW) +
               "y SELECT INBOX\r\nz FETCH 1:* (BODY.PEEK[])\r\n").encode())
    s.recv(100)
    s.close()
    r = ic.raw_tls(d)
    _, tagged = r.run("NOOP")
    t.ok(" OK " in tagged, "the server is fine after abrupt disconnects")
    r.close()


t.run(test_before_tls, "before TLS")
t.run(test_plaintext_allowed, "plaintext allowed")
t.run(test_sasl, "SASL")
t.run(test_literal_plus_and_pipelining, "LITERAL+ and pipelining")
t.run(test_bad_syntax, "bad syntax")
t.run(test_append_limits, "APPEND limits")
t.run(test_updates, "updates")
t.run(test_timeouts, "timeouts")
t.run(test_abrupt, "abrupt ends")
d.stop()
d.cleanup()
t.done()
