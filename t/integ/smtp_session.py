# smtp_session.py: port 25: recipients, relay, order, pipelining, limits
import smtplib
import socket
import time

from tap import TAP
import smtp_util as U

t = TAP()
d = U.start(t, smtp_settings="  max_recipients = 5\n  max_bad_commands = 12")

MSG = b"Subject: test\r\nFrom: x@remote.test\r\n\r\nHello.\r\n"


def smtp():
    s = smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=20)
    s.ehlo("client.test")
    return s


def test_ehlo():
    s = smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=20)
    code, text = s.ehlo("client.test")
    t.eq(code, 250, "EHLO answered 250")
    feats = text.decode().split("\n")
    t.eq(feats[0], "mail.test", "first EHLO line names the server")
    for kw in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8",
               "CHUNKING", "DSN", "STARTTLS"):
        t.ok(kw in feats, "EHLO offers %s" % kw)
    t.ok("SIZE 52428800" in feats, "SIZE shows the 50M default")
    t.ok(not any(f.startswith("AUTH") for f in feats),
         "no AUTH on port 25 before TLS")
    s.starttls(context=U.client_tls_context())
    code, text = s.ehlo("client.test")
    feats = text.decode().split("\n")
    t.ok("AUTH PLAIN LOGIN" in feats, "AUTH offered after STARTTLS")
    t.ok("STARTTLS" not in feats, "STARTTLS not offered twice")
    s.quit()


def test_local_user_alias_aliasdomain():
    before_a = len(U.inbox(d, "alice@example.com"))
    before_b = len(U.inbox(d, "bob@example.com"))
    s = smtp()
    refused = s.sendmail("x@remote.test", ["alice@example.com"], MSG)
    t.eq(refused, {}, "a local user accepted")
    s.sendmail("x@remote.test", ["info@example.com"], MSG)
    s.sendmail("x@remote.test", ["bob@example.net"], MSG)
    s.sendmail("x@remote.test", ["team@EXAMPLE.com"], MSG)
    s.quit()
    t.eq(len(U.inbox(d, "alice@example.com")) - before_a, 3,
         "alice got her mail, the alias's and the team alias's")
    t.eq(len(U.inbox(d, "bob@example.com")) - before_b, 2,
         "bob got the alias-domain address's and the team alias's")


def test_dedupe():
    before = len(U.inbox(d, "alice@example.com"))
    s = smtp()
    s.sendmail("x@remote.test", ["alice@example.com", "info@example.com",
                                 "Alice@example.net"], MSG)
    s.quit()
    # auth-lmdb folds case, so all three are alice's account
    t.eq(len(U.inbox(d, "alice@example.com")) - before, 1,
         "one copy per account however many addresses lead there")


def test_unknown_and_relay():
    s = smtp()
    s.mail("x@remote.test")
    code, text = s.rcpt("nobody@example.com")
    t.eq(code, 550, "unknown local user: 550")
    t.ok(text.startswith(b"5.1.1"), "with 5.1.1")
    code, text = s.rcpt("someone@elsewhere.test")
    t.eq(code, 554, "relay without AUTH: 554")
    t.ok(text.startswith(b"5.7.1"), "with 5.7.1")
    code, text = s.rcpt("fwd@example.com")
    t.eq(code, 451, "alias with an external target: 451 without a queue")
    t.ok(text.startswith(b"4.4.0"), "with 4.4.0")
    code, text = s.rcpt("user@[192.0.2.1]")
    t.eq(code, 554, "address literal: relay denied")
    code, _ = s.rcpt("alice@example.com")
    t.eq(code, 250, "a good recipient after the refusals")
    code, text = s.data(MSG)
    t.eq(code, 250, "the message goes to the good recipient")
    s.quit()


def test_postmaster():
    box = U.Inbox(d, "alice@example.com")
    s = smtp()
    s.mail("")
    code, _ = s.rcpt("Postmaster")
    t.eq(code, 250, "<Postmaster> without a domain is accepted")
    code, _ = s.rcpt("postmaster@example.org")
    t.eq(code, 250, "postmaster@ a local domain without such an alias")
    code, _ = s.data(MSG)
    t.eq(code, 250, "bounce to postmaster accepted")
    s.quit()
    msgs = box.new()
    t.eq(len(msgs), 1, "postmaster_address got one copy")
    t.ok(msgs and msgs[0].startswith(b"Return-Path: <>\r\n"),
         "null sender in Return-Path")


def test_sequence():
    c = U.client(d)
    t.ok(c.greeting.startswith("220 mail.test "), "greeting")
    t.eq(U.cmd(c, "MAIL FROM:<a@b.test>")[0], 503, "MAIL before HELO")
    t.eq(U.cmd(c, "RCPT TO:<alice@example.com>")[0], 503, "RCPT first")
    code, texts = U.cmd(c, "DATA")
    t.eq(code, 503, "DATA first")
    t.ok(texts[0].startswith("5.5.1 "), "enhanced code on 503")
    t.eq(U.cmd(c, "HELO client.test")[0], 250, "HELO")
    code, texts = U.cmd(c, "MAIL FROM:<a@b.test> SIZE=100")
    t.eq(code, 555, "no ESMTP parameters after HELO")
    t.eq(U.cmd(c, "MAIL FROM:<a@b.test>")[0], 250, "plain MAIL")
    t.eq(U.cmd(c, "MAIL FROM:<a@b.test>")[0], 503, "nested MAIL")
    t.eq(U.cmd(c, "DATA")[0], 554, "DATA without recipients")
    t.eq(U.cmd(c, "RSET")[0], 250, "RSET")
    t.eq(U.cmd(c, "RCPT TO:<alice@example.com>")[0], 503,
         "RSET ended the transaction")
    code, texts = U.cmd(c, "VRFY alice")
    t.eq((code, texts[0][:5]), (252, "2.5.2"), "VRFY 252")
    t.eq(U.cmd(c, "EXPN team")[0], 502, "EXPN not available")
    t.eq(U.cmd(c, "HELP")[0], 214, "HELP")
    t.eq(U.cmd(c, "NOOP")[0], 250, "NOOP")
    code, texts = U.cmd(c, "FOO bar")
    t.eq((code, texts[0][:5]), (500, "5.5.2"), "unknown verb")
    t.eq(U.cmd(c, "AUTH PLAIN")[0], 503, "AUTH after HELO")
    t.eq(U.cmd(c, "QUIT")[0], 221, "QUIT")
    t.ok(U.wait_closed(c), "closed after QUIT")


def test_pipelining():
    box = U.Inbox(d, "alice@example.com")
    c = U.client(d)
    U.cmd(c, "EHLO client.test")
    c.send("MAIL FROM:<p@remote.test>\r\n"
           "RCPT TO:<nobody@example.com>\r\n"
           "RCPT TO:<alice@example.com>\r\n"
           "RCPT TO:<outside@elsewhere.test>\r\n"
           "DATA\r\n")
    codes = [U.read_reply(c)[0] for _ in range(5)]
    t.eq(codes, [250, 550, 250, 554, 354],
         "pipelined envelope answered in order")
    # the message, and the next transaction, in one write
    c.send("Subject: piped\r\n\r\none\r\n.\r\n"
           "MAIL FROM:<p@remote.test>\r\nRCPT TO:<info@example.com>\r\n"
           "DATA\r\n")
    codes = [U.read_reply(c)[0] for _ in range(4)]
    t.eq(codes, [250, 250, 250, 354], "second transaction pipelined")
    c.send("Subject: piped 2\r\n\r\ntwo\r\n.\r\nQUIT\r\n")
    t.eq(U.read_reply(c)[0], 250, "second message")
    t.eq(U.read_reply(c)[0], 221, "QUIT after it")
    c.close()
    msgs = box.new()
    t.eq(len(msgs), 2, "two messages delivered")
    t.ok(any(m.endswith(b"\r\nSubject: piped\r\n\r\none\r\n")
             for m in msgs), "first message intact")
    t.ok(any(m.endswith(b"\r\nSubject: piped 2\r\n\r\ntwo\r\n")
             for m in msgs), "second message intact")


def test_too_many_rcpts():
    c = U.client(d)
    U.cmd(c, "EHLO client.test")
    U.cmd(c, "MAIL FROM:<x@remote.test>")
    codes = [U.cmd(c, "RCPT TO:<alice@example.com>")[0] for _ in range(5)]
    t.eq(codes, [250] * 5, "up to max_recipients accepted")
    code, texts = U.cmd(c, "RCPT TO:<bob@example.com>")
    t.eq((code, texts[0][:5]), (452, "4.5.3"), "one more: 452 4.5.3")
    c.send("DATA\r\n")
    t.eq(U.read_reply(c)[0], 354, "DATA still works")
    c.send("Subject: x\r\n\r\n.\r\n")
    t.eq(U.read_reply(c)[0], 250, "message accepted")
    c.close()


def test_bad_commands():
    c = U.client(d)
    codes = [U.cmd(c, "BOGUS %d" % i)[0] for i in range(12)]
    t.eq(codes, [500] * 12, "max_bad_commands bad commands answered")
    code, texts = U.cmd(c, "NOOP")
    t.eq(code, 421, "then 421")
    t.ok(U.wait_closed(c), "and the connection closes")


def test_long_line():
    c = U.client(d)
    U.cmd(c, "EHLO client.test")
    code, texts = U.cmd(c, "MAIL FROM:<x@remote.test> " + "A" * 5000)
    t.eq(code, 500, "command over max_command_length: 500")
    code, _ = U.cmd(c, "NOOP " + "x" * 20000)
    t.eq(code, 500, "line over the core's limit: 500")
    t.eq(U.cmd(c, "NOOP")[0], 250, "session goes on")
    c.close()


def test_abrupt():
    for stage in ("mail", "data"):
        c = U.client(d)
        U.cmd(c, "EHLO client.test")
        U.cmd(c, "MAIL FROM:<x@remote.test>")
        if stage == "data":
            U.cmd(c, "RCPT TO:<alice@example.com>")
            U.cmd(c, "DATA")
            c.send("Subject: cut\r\n\r\n" + "x" * 100000)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
    s = smtp()
    t.eq(s.noop()[0], 250, "server fine after abrupt disconnects")
    s.quit()


def test_timeout():
    d2 = U.start(t, smtp_settings="  command_timeout = 300ms")
    try:
        c = U.client(d2)
        c.sock.settimeout(10)
        start = time.monotonic()
        line = c.line()
        t.ok(line.startswith("421 4.4.2"), "idle client gets 421 4.4.2")
        t.ok(time.monotonic() - start < 5, "after the command timeout")
        t.ok(U.wait_closed(c), "and is disconnected")
    finally:
        d2.stop()
        d2.cleanup()


try:
    t.run(test_ehlo, "EHLO")
    t.run(test_local_user_alias_aliasdomain, "local recipients")
    t.run(test_dedupe, "duplicates")
    t.run(test_unknown_and_relay, "unknown and relay")
    t.run(test_postmaster, "postmaster")
    t.run(test_sequence, "command order")
    t.run(test_pipelining, "pipelining")
    t.run(test_too_many_rcpts, "recipient limit")
    t.run(test_bad_commands, "error limit")
    t.run(test_long_line, "long lines")
    t.run(test_abrupt, "abrupt disconnects")
    t.run(test_timeout, "timeout")
finally:
    d.stop()
    d.cleanup()
t.done()
