# smtp_submission.py: submission and smtps: TLS, AUTH, sender check, added fields
import base64
import smtplib
import ssl

from tap import TAP
import smtp_util as U

t = TAP()
d = U.start(t)
ALICE, ALICE_PW = "alice@example.com", U.USERS["alice@example.com"]
CTX = U.client_tls_context()


def sub():
    s = smtplib.SMTP("127.0.0.1", d.ports["submission"], timeout=20)
    s.ehlo("client.test")
    s.starttls(context=CTX)
    s.ehlo("client.test")
    return s


def b64(s):
    return base64.b64encode(s.encode()).decode()


def test_tls_first():
    c = U.client(d, "submission")
    code, lines = U.cmd(c, "EHLO client.test")
    t.ok("STARTTLS" in lines, "submission offers STARTTLS")
    t.ok(not any(x.startswith("AUTH") for x in lines),
         "but not AUTH before TLS")
    code, texts = U.cmd(c, "AUTH PLAIN " + b64("\0%s\0%s" % (ALICE,
                                                              ALICE_PW)))
    t.eq((code, texts[0][:5]), (530, "5.7.0"), "AUTH before STARTTLS: 530")
    code, texts = U.cmd(c, "MAIL FROM:<%s>" % ALICE)
    t.eq((code, texts[0][:5]), (530, "5.7.0"), "MAIL before STARTTLS: 530")
    U.starttls(c)
    code, texts = U.cmd(c, "MAIL FROM:<%s>" % ALICE)
    t.eq(code, 503, "after STARTTLS the client must EHLO again")
    code, lines = U.cmd(c, "EHLO client.test")
    t.ok("AUTH PLAIN LOGIN" in lines, "AUTH offered over TLS")
    code, texts = U.cmd(c, "MAIL FROM:<%s>" % ALICE)
    t.eq((code, texts[0][:5]), (530, "5.7.0"), "MAIL before AUTH: 530")
    c.close()


def test_starttls_injection():
    # CVE-2011-0411: commands sent with STARTTLS must not run after it
    box = U.Inbox(d, "bob@example.com")
    c = U.client(d, "smtp")
    U.cmd(c, "EHLO client.test")
    c.send("STARTTLS\r\nMAIL FROM:<x@remote.test>\r\n"
           "RCPT TO:<bob@example.com>\r\nDATA\r\nSubject: injected\r\n"
           "\r\n.\r\n")
    code, _ = U.read_reply(c)
    t.eq(code, 220, "STARTTLS answered")
    c.sock = CTX.wrap_socket(c.sock)
    code, lines = U.cmd(c, "EHLO client.test")
    t.eq(code, 250, "EHLO over TLS")
    code, _ = U.cmd(c, "RCPT TO:<bob@example.com>")
    t.eq(code, 503, "the pipelined MAIL was discarded")
    U.cmd(c, "QUIT")
    c.close()
    t.eq(box.new(), [], "nothing injected was delivered")


def test_auth_plain_login():
    s = sub()
    try:
        s.login(ALICE, "wrong password")
        t.ok(False, "wrong password refused")
    except smtplib.SMTPAuthenticationError as e:
        t.eq((e.smtp_code, e.smtp_error[:5]), (535, b"5.7.8"),
             "wrong password: 535 5.7.8")
    s.quit()
    for mech in ("PLAIN", "LOGIN"):
        s = sub()
        s.user, s.password = ALICE, ALICE_PW
        code, text = s.auth(mech, getattr(s, "auth_" + mech.lower()),
                            initial_response_ok=True)
        t.eq(code, 235, "AUTH %s with initial response" % mech)
        s.quit()
        s = sub()
        s.user, s.password = ALICE, ALICE_PW
        code, text = s.auth(mech, getattr(s, "auth_" + mech.lower()),
                            initial_response_ok=False)
        t.eq(code, 235, "AUTH %s without initial response" % mech)
        s.quit()


def test_auth_raw():
    c = U.client(d, "submission")
    U.cmd(c, "EHLO client.test")
    U.starttls(c)
    U.cmd(c, "EHLO client.test")
    t.eq(U.cmd(c, "AUTH CRAM-MD5")[0], 504, "unknown mechanism: 504")
    t.eq(U.cmd(c, "AUTH PLAIN")[0], 334, "PLAIN asks for a response")
    code, texts = U.cmd(c, "*")
    t.eq((code, texts[0][:5]), (501, "5.0.0"), "* cancels")
    t.eq(U.cmd(c, "AUTH PLAIN")[0], 334, "PLAIN again")
    t.eq(U.cmd(c, "not base64!")[0], 501, "bad base64: 501")
    t.eq(U.cmd(c, "AUTH PLAIN " + b64("nonul"))[0], 535,
         "malformed PLAIN message: 535")
    t.eq(U.cmd(c, "AUTH PLAIN " + b64("bob@example.com\0%s\0%s" %
                                      (ALICE, ALICE_PW)))[0], 535,
         "authzid of someone else: 535")
    code, texts = U.cmd(c, "AUTH LOGIN")
    t.eq((code, texts[0]), (334, "VXNlcm5hbWU6"), "LOGIN asks Username:")
    code, texts = U.cmd(c, b64(ALICE))
    t.eq((code, texts[0]), (334, "UGFzc3dvcmQ6"), "then Password:")
    t.eq(U.cmd(c, b64(ALICE_PW))[0], 235, "LOGIN works step by step")
    t.eq(U.cmd(c, "AUTH PLAIN")[0], 503, "no second AUTH")
    c.close()
    # RFC 4954: AUTH lines may be far longer than other commands
    c = U.client(d, "submission")
    U.cmd(c, "EHLO client.test")
    U.starttls(c)
    U.cmd(c, "EHLO client.test")
    long_resp = b64("\0%s\0%s" % (ALICE, "p" * 8000))
    t.ok(len(long_resp) > 10000, "a %d-octet AUTH line" % len(long_resp))
    code, texts = U.cmd(c, "AUTH PLAIN " + long_resp)
    t.eq((code, texts[0][:5]), (535, "5.7.8"),
         "is read whole and refused as credentials, not as syntax")
    t.eq(U.cmd(c, "AUTH PLAIN")[0], 334, "continuation")
    code, _ = U.cmd(c, long_resp)
    t.eq(code, 535, "a long continuation line too")
    t.ok(long_resp[:40] not in d.log() and
         b64("\0%s\0%s" % (ALICE, ALICE_PW)) not in d.log(),
         "no AUTH payload in the log")
    # the alias logs in never, even with the right password
    c.close()
    c = U.client(d, "submission")
    U.cmd(c, "EHLO client.test")
    U.starttls(c)
    U.cmd(c, "EHLO client.test")
    t.eq(U.cmd(c, "AUTH PLAIN " + b64("\0info@example.com\0%s" %
                                      ALICE_PW))[0], 535,
         "an alias cannot log in")
    c.close()


def test_sender_ownership():
    s = sub()
    s.login(ALICE, ALICE_PW)
    for sender, want, why in (
            (ALICE, 250, "own address"),
            ("info@example.com", 250, "an alias of hers"),
            ("alice@example.net", 250, "her address in the alias domain"),
            ("team@example.com", 250, "a list she is on"),
            ("bob@example.com", 553, "someone else's address"),
            ("x@remote.test", 553, "a foreign address"),
            ("", 553, "the null sender")):
        code, text = s.mail(sender)
        t.eq(code, want, "MAIL FROM %s: %d" % (why, want))
        if want == 553:
            t.ok(text.startswith(b"5.7.1"), "with 5.7.1")
        else:
            s.rset()
    s.quit()


def test_submit_local_and_relay():
    box = U.Inbox(d, "bob@example.com")
    s = sub()
    s.login(ALICE, ALICE_PW)
    s.mail(ALICE)
    code, text = s.rcpt("someone@elsewhere.test")
    t.eq((code, text[:5]), (451, b"4.4.0"),
         "external recipient: 451 4.4.0 until the queue exists")
    t.eq(s.rcpt("bob@example.com")[0], 250, "local recipient")
    msg = b"From: Alice <alice@example.com>\r\nSubject: plain\r\n\r\nhi\r\n"
    t.eq(s.data(msg)[0], 250, "submitted")
    s.quit()
    got = box.new()
    t.eq(len(got), 1, "bob got it")
    trace, rest = U.split_trace(got[0])
    t.ok(b"with ESMTPSA" in trace, "Received says ESMTPSA")
    t.ok(b"(using TLS1." in trace, "and names the TLS version")
    t.ok(b"cipher=" in trace, "and the cipher")
    hdr, _, body = rest.partition(b"\r\n\r\n")
    t.ok(hdr.startswith(b"From: Alice <alice@example.com>\r\n"
                        b"Subject: plain\r\n"), "original fields first")
    t.ok(b"\r\nDate: " in b"\r\n" + hdr, "Date added")
    t.ok(b"\r\nMessage-ID: <" in b"\r\n" + hdr, "Message-ID added")
    t.ok(hdr.count(b"@mail.test>") == 1, "Message-ID on our host name")
    t.eq(body, b"hi\r\n", "body untouched")


def test_keep_date_msgid():
    box = U.Inbox(d, "bob@example.com")
    s = sub()
    s.login(ALICE, ALICE_PW)
    msg = (b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
           b"Message-ID: <mine@client.test>\r\nSubject: x\r\n\r\nbody\r\n")
    s.sendmail(ALICE, ["bob@example.com"], msg)
    s.quit()
    got = box.new()
    _, rest = U.split_trace(got[0])
    t.eq(rest, msg, "present Date and Message-ID are left alone")


def test_port25_auth():
    box = U.Inbox(d, "bob@example.com")
    c = U.client(d, "smtp")
    U.cmd(c, "EHLO client.test")
    code, texts = U.cmd(c, "AUTH PLAIN " + b64("\0%s\0%s" % (ALICE,
                                                              ALICE_PW)))
    t.eq((code, texts[0][:6]), (538, "5.7.11"),
         "AUTH on port 25 before TLS: 538 5.7.11")
    c.close()
    s = smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=20)
    s.starttls(context=CTX)
    s.login(ALICE, ALICE_PW)
    s.mail(ALICE)
    code, text = s.rcpt("someone@elsewhere.test")
    t.eq((code, text[:5]), (451, b"4.4.0"),
         "authenticated relay on 25 waits for the queue")
    s.rset()
    code, _ = s.mail("bob@example.com")
    t.eq(code, 553, "an authenticated sender must use her own address")
    s.rset()
    s.sendmail(ALICE, ["bob@example.com"], b"Subject: 25\r\n\r\nx\r\n")
    s.quit()
    got = box.new()
    t.eq(len(got), 1, "delivered")
    t.ok(b"with ESMTPSA" in got[0], "Received says ESMTPSA on 25 too")
    t.ok(b"Message-ID:" not in got[0], "port 25 adds no Message-ID")


def test_smtps():
    box = U.Inbox(d, "bob@example.com")
    s = smtplib.SMTP_SSL("127.0.0.1", d.ports["smtps"], timeout=20,
                         context=CTX)
    code, text = s.ehlo("client.test")
    feats = text.decode().split("\n")
    t.ok("AUTH PLAIN LOGIN" in feats, "smtps offers AUTH at once")
    t.ok("STARTTLS" not in feats, "and no STARTTLS")
    t.eq(s.mail(ALICE)[0], 530, "MAIL before AUTH on smtps: 530")
    s.rset()
    s.login(ALICE, ALICE_PW)
    t.eq(s.mail("bob@example.com")[0], 553, "sender check on smtps")
    s.rset()
    s.sendmail(ALICE, ["bob@example.com"], b"Subject: s\r\n\r\nx\r\n")
    s.quit()
    got = box.new()
    t.eq(len(got), 1, "smtps message delivered")
    t.ok(b"with ESMTPSA" in got[0] and b"(using TLS1." in got[0],
         "with TLS in Received")


def test_plaintext_allowed():
    d2 = U.start(t, services={
        "submission": {"protocol": "submission", "tls": "none",
                       "allow_plaintext_auth": "yes"}})
    try:
        box = U.Inbox(d2, "bob@example.com")
        s = smtplib.SMTP("127.0.0.1", d2.ports["submission"], timeout=20)
        s.ehlo("client.test")
        t.ok(s.has_extn("auth"), "allow_plaintext_auth: AUTH offered")
        t.ok(not s.has_extn("starttls"), "no STARTTLS on tls = none")
        s.login(ALICE, ALICE_PW)
        s.sendmail(ALICE, ["bob@example.com"], b"Subject: p\r\n\r\nx\r\n")
        s.quit()
        got = box.new()
        t.ok(len(got) == 1 and b"with ESMTPA id" in got[0],
             "delivered with ESMTPA")
    finally:
        d2.stop()
        d2.cleanup()


try:
    t.run(test_tls_first, "TLS first")
    t.run(test_starttls_injection, "STARTTLS injection")
    t.run(test_auth_plain_login, "AUTH PLAIN and LOGIN")
    t.run(test_auth_raw, "AUTH exchanges")
    t.run(test_sender_ownership, "sender ownership")
    t.run(test_submit_local_and_relay, "submission")
    t.run(test_keep_date_msgid, "present fields kept")
    t.run(test_port25_auth, "AUTH on port 25")
    t.run(test_smtps, "smtps")
    t.run(test_plaintext_allowed, "plaintext allowed")
finally:
    d.stop()
    d.cleanup()
t.done()
