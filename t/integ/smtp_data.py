# smtp_data.py: message bytes end to end: read back, smuggling, sizes, BDAT
import imaplib
import poplib
import smtplib

from tap import TAP
import smtp_util as U

t = TAP()
pop3 = U.have_module("modules/pop3/pop3.la")
imap = U.have_module("modules/imap/imap.la")
services = None
if imap:
    services = {
        "smtp": {"protocol": "smtp", "tls": "starttls",
                 "max_line_length": "12k"},
        "pop3s": {"protocol": "pop3", "tls": "implicit"},
        "imaps": {"protocol": "imap", "tls": "implicit"},
    }
elif pop3:
    services = {
        "smtp": {"protocol": "smtp", "tls": "starttls",
                 "max_line_length": "12k"},
        "pop3s": {"protocol": "pop3", "tls": "implicit"},
    }
d = U.start(t, services=services, smtp_settings="  max_message_size = 64k")
CTX = U.client_tls_context()


def session():
    c = U.client(d)
    U.cmd(c, "EHLO client.test")
    return c


def send_raw(c, sender, rcpts, data, params=""):
    """MAIL, RCPT..., DATA and the raw bytes (already dot-stuffed and
    ending in CRLF.CRLF); returns the final reply."""
    t_codes = [U.cmd(c, "MAIL FROM:<%s>%s" % (sender, params))[0]]
    for r in rcpts:
        t_codes.append(U.cmd(c, "RCPT TO:<%s>" % r)[0])
    t_codes.append(U.cmd(c, "DATA")[0])
    if t_codes[-1] != 354:
        return t_codes
    c.send(data)
    return U.read_reply(c)


# every octet value but NUL, CR and LF, bare CRs, a lone "." line that
# arrives stuffed, lines that start with dots, trailing blanks
BODY = (b"Subject: bytes\r\nFrom: x@remote.test\r\n\r\n" +
        bytes(range(1, 10)) + bytes(range(11, 13)) + bytes(range(14, 128)) +
        b"\r\n" + bytes(range(128, 256)) + b"\r\n" +
        b"bare\rCR inside\r\n.\r\n..two dots\r\n.x\r\ntrailing  \t\r\n"
        b"\r\n\r\nlast line\r\n")


def stuff(msg):
    lines = msg.split(b"\r\n")
    return b"\r\n".join(b"." + l if l.startswith(b".") else l
                        for l in lines)


def test_readback():
    box = U.Inbox(d, "alice@example.com")
    c = session()
    code, texts = send_raw(c, "x@remote.test", ["alice@example.com"],
                           stuff(BODY) + b".\r\n", " BODY=8BITMIME")
    t.eq(code, 250, "8-bit message accepted")
    U.cmd(c, "QUIT")
    got = box.new()
    t.eq(len(got), 1, "delivered once")
    if not got:
        return None
    trace, rest = U.split_trace(got[0])
    t.ok(trace.startswith(b"Return-Path: <x@remote.test>\r\n"
                          b"Received: from client.test ([127.0.0.1])\r\n"
                          b"\tby mail.test (Posta) with ESMTP id "),
         "Return-Path and Received on top")
    t.ok(b"\tfor <alice@example.com>;\r\n" in trace,
         "single recipient named in Received")
    t.eq(rest, BODY, "the Maildir file is the message byte for byte")
    return got[0]


def test_pop3(stored):
    if not pop3:
        t.skip("message read back through POP3", "pop3 module not built")
        return
    p = poplib.POP3_SSL("127.0.0.1", d.ports["pop3s"], timeout=20,
                        context=CTX)
    p.user("alice@example.com")
    p.pass_(U.USERS["alice@example.com"])
    count, _ = p.stat()
    found = False
    for i in range(1, count + 1):
        _, lines, _ = p.retr(i)
        if b"\r\n".join(lines) + b"\r\n" == stored:
            found = True
    p.quit()
    t.ok(found, "POP3 RETR returns the stored message byte for byte")


def test_imap(stored):
    if not imap:
        t.skip("message read back through IMAP", "imap module not built")
        return
    m = imaplib.IMAP4_SSL("127.0.0.1", d.ports["imaps"],
                          ssl_context=CTX, timeout=20)
    m.login("alice@example.com", U.USERS["alice@example.com"])
    m.select("INBOX", readonly=True)
    _, data = m.search(None, "ALL")
    found = False
    for num in data[0].split():
        _, parts = m.fetch(num, "(BODY.PEEK[])")
        if parts and isinstance(parts[0], tuple) and parts[0][1] == stored:
            found = True
    m.logout()
    t.ok(found, "IMAP BODY[] returns the stored message byte for byte")


SMUGGLE = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r.\r\n",
           b"\r\n.\r", b"\r\n\x00.\r\n", b"\r\n.\x00\r\n", b"\n..\n"]


def test_smuggling():
    for seq in SMUGGLE:
        alice = U.Inbox(d, "alice@example.com")
        bob = U.Inbox(d, "bob@example.com")
        c = session()
        U.cmd(c, "MAIL FROM:<x@remote.test>")
        U.cmd(c, "RCPT TO:<alice@example.com>")
        U.cmd(c, "DATA")
        c.send(b"Subject: outer\r\n\r\nbefore" + seq +
               b"MAIL FROM:<evil@remote.test>\r\n"
               b"RCPT TO:<bob@example.com>\r\nDATA\r\n"
               b"Subject: smuggled\r\n\r\nevil\r\n.\r\n")
        code, texts = U.read_reply(c)
        t.eq(code, 250, "%r: the whole thing is one message" % seq)
        c.sock.settimeout(0.5)
        extra = b""
        try:
            extra = c.sock.recv(4096)
        except OSError:
            pass
        c.sock.settimeout(10)
        t.eq(extra, b"", "%r: no further replies" % seq)
        U.cmd(c, "QUIT")
        t.eq(bob.new(), [], "%r: nothing smuggled to bob" % seq)
        got = alice.new()
        t.ok(len(got) == 1 and b"evil" in got[0] and b"before" in got[0],
             "%r: alice's one message holds it all" % seq)


def test_bare_lf_normalised():
    box = U.Inbox(d, "alice@example.com")
    c = session()
    code, _ = send_raw(c, "x@remote.test", ["alice@example.com"],
                       b"Subject: lf\n\nline one\nline two\r\n.\r\n")
    t.eq(code, 250, "bare-LF message accepted")
    U.cmd(c, "QUIT")
    got = box.new()
    _, rest = U.split_trace(got[0])
    t.eq(rest, b"Subject: lf\r\n\r\nline one\r\nline two\r\n",
         "stored with CRLF line ends")


def test_empty_message():
    box = U.Inbox(d, "alice@example.com")
    c = session()
    code, _ = send_raw(c, "", ["alice@example.com"], b".\r\n")
    t.eq(code, 250, "empty message accepted")
    U.cmd(c, "QUIT")
    got = box.new()
    t.ok(len(got) == 1 and U.split_trace(got[0])[1] == b"",
         "stored as the trace fields alone")


def test_size_limits():
    c = session()
    code, texts = U.cmd(c, "MAIL FROM:<x@remote.test> SIZE=70000")
    t.eq((code, texts[0][:5]), (552, "5.3.4"), "SIZE over the limit: 552")
    t.eq(U.cmd(c, "MAIL FROM:<x@remote.test> SIZE=60000")[0], 250,
         "SIZE under the limit")
    U.cmd(c, "RSET")
    box = U.Inbox(d, "alice@example.com")
    big = b"Subject: big\r\n\r\n" + (b"x" * 78 + b"\r\n") * 1000
    code, texts = send_raw(c, "x@remote.test", ["alice@example.com"],
                           big + b".\r\n")
    t.eq((code, texts[0][:5]), (552, "5.3.4"),
         "too big while reading DATA: 552 after the end")
    t.eq(U.cmd(c, "NOOP")[0], 250, "session in sync after it")
    # BDAT: one chunk over the limit
    U.cmd(c, "MAIL FROM:<x@remote.test>")
    U.cmd(c, "RCPT TO:<alice@example.com>")
    c.send(b"BDAT %d LAST\r\n" % len(big) + big)
    code, texts = U.read_reply(c)
    t.eq((code, texts[0][:5]), (552, "5.3.4"), "too big in BDAT: 552")
    t.eq(U.cmd(c, "NOOP")[0], 250, "BDAT chunk consumed, in sync")
    U.cmd(c, "QUIT")
    t.eq(box.new(), [], "nothing of the big messages stored")
    # smtplib sends SIZE= by itself when the server offers SIZE
    s = smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=20)
    try:
        s.sendmail("x@remote.test", ["alice@example.com"], big)
        t.ok(False, "smtplib sees the size refusal")
    except smtplib.SMTPSenderRefused as e:
        t.eq(e.smtp_code, 552, "smtplib sees the size refusal")
    s.quit()


def test_long_line():
    c = session()
    code, texts = send_raw(c, "x@remote.test", ["alice@example.com"],
                           b"Subject: long\r\n\r\n" + b"y" * 1200 +
                           b"\r\n.\r\n")
    t.eq((code, texts[0][:5]), (550, "5.6.0"),
         "a 1200-octet text line: 550 5.6.0")
    code, texts = send_raw(c, "x@remote.test", ["alice@example.com"],
                           b"Subject: long\r\n\r\n" + b"y" * 20000 +
                           b"\r\n.\r\n")
    t.eq((code, texts[0][:5]), (550, "5.6.0"),
         "a line over the core's limit: 550 5.6.0")
    t.eq(U.cmd(c, "NOOP")[0], 250, "in sync")
    c.close()


def test_bdat():
    box = U.Inbox(d, "alice@example.com")
    c = session()
    msg = b"Subject: chunks\r\n\r\nline\r\n.\r\nnot the end\r\n"
    U.cmd(c, "MAIL FROM:<x@remote.test> BODY=8BITMIME")
    U.cmd(c, "RCPT TO:<alice@example.com>")
    c.send(b"BDAT 10\r\n" + msg[:10])
    code, texts = U.read_reply(c)
    t.eq(code, 250, "first chunk")
    t.eq(U.cmd(c, "DATA")[0], 503, "DATA after BDAT: 503")
    # the rest and a second message pipelined in one write
    rest = msg[10:]
    c.send(b"BDAT %d LAST\r\n" % len(rest) + rest +
           b"MAIL FROM:<x@remote.test>\r\nRCPT TO:<info@example.com>\r\n"
           b"BDAT 0 LAST\r\n")
    codes = [U.read_reply(c)[0] for _ in range(4)]
    t.eq(codes, [250, 250, 250, 250], "pipelined BDAT transactions")
    got = box.new()
    t.eq(len(got), 2, "two messages")
    bodies = sorted(U.split_trace(m)[1] for m in got)
    t.eq(bodies, [b"", msg], "BDAT data stored verbatim, dot line kept")
    # errors must still swallow the chunk
    code, texts = U.cmd(c, "RSET")
    c.send(b"BDAT 5\r\nhello")
    t.eq(U.read_reply(c)[0], 503, "BDAT without MAIL: 503 after the chunk")
    t.eq(U.cmd(c, "NOOP")[0], 250, "chunk swallowed")
    U.cmd(c, "MAIL FROM:<x@remote.test>")
    c.send(b"BDAT 5 LAST\r\nhello")
    t.eq(U.read_reply(c)[0], 554, "BDAT without recipients: 554")
    t.eq(U.cmd(c, "NOOP")[0], 250, "chunk swallowed")
    code, _ = U.cmd(c, "BDAT five")
    t.eq(code, 501, "BDAT syntax error: 501")
    t.ok(U.wait_closed(c), "and the connection is closed")


def test_bdat_bare_lf():
    box = U.Inbox(d, "alice@example.com")
    c = session()
    U.cmd(c, "MAIL FROM:<x@remote.test>")
    U.cmd(c, "RCPT TO:<alice@example.com>")
    msg = b"Subject: b\n\nx\n"
    c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
    t.eq(U.read_reply(c)[0], 250, "BDAT with bare LFs")
    U.cmd(c, "QUIT")
    got = box.new()
    t.eq(U.split_trace(got[0])[1], b"Subject: b\r\n\r\nx\r\n",
         "the store keeps CRLF line ends")


def test_large():
    box = U.Inbox(d, "alice@example.com")
    body = b"".join(b"%05d " % i + b"z" * 70 + b"\r\n" for i in range(800))
    msg = b"Subject: large\r\n\r\n" + body
    s = smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=20)
    s.sendmail("x@remote.test", ["alice@example.com", "bob@example.com"],
               msg)
    s.quit()
    got = box.new()
    t.ok(len(got) == 1 and U.split_trace(got[0])[1] == msg,
         "a 60 KB message in several writes arrives whole")
    t.ok(b"\tfor <" not in got[0], "no for clause with two recipients")


def test_utf8_dsn():
    box = U.Inbox(d, "alice@example.com")
    c = session()
    code, _ = U.cmd(c, "MAIL FROM:<j\u00f6rg@remote.test> SMTPUTF8 "
                    "RET=HDRS ENVID=abc+2Bdef BODY=8BITMIME")
    t.eq(code, 250, "SMTPUTF8 sender with DSN parameters")
    code, _ = U.cmd(c, "RCPT TO:<alice@example.com> NOTIFY=SUCCESS,FAILURE "
                    "ORCPT=rfc822;alice@example.com")
    t.eq(code, 250, "recipient with NOTIFY and ORCPT")
    code, _ = U.cmd(c, "RCPT TO:<\u00e9l\u00e8ve@example.com>")
    t.eq(code, 550, "a UTF-8 local part unknown here: 550")
    U.cmd(c, "DATA")
    c.send("Subject: gr\u00fc\u00dfe\r\n\r\nhi\r\n.\r\n".encode())
    t.eq(U.read_reply(c)[0], 250, "UTF-8 message accepted")
    c.close()
    got = box.new()
    t.ok(len(got) == 1 and "Return-Path: <j\u00f6rg@remote.test>".encode()
         in got[0], "UTF-8 Return-Path")
    t.ok(len(got) == 1 and b"with UTF8SMTP id" in got[0],
         "Received says UTF8SMTP")
    c = session()
    code, texts = U.cmd(c, "MAIL FROM:<j\u00f6rg@remote.test>")
    t.eq((code, texts[0][:5]), (553, "5.6.7"),
         "UTF-8 address without SMTPUTF8: 553 5.6.7")
    c.close()


def test_memory_flat():
    if U.SANITIZERS:
        t.skip("memory stays flat", "RSS means nothing under ASan")
        return
    c = session()
    before = d.rss_kib()
    U.cmd(c, "MAIL FROM:<x@remote.test>")
    U.cmd(c, "RCPT TO:<alice@example.com>")
    U.cmd(c, "DATA")
    chunk = b"z" * 65536
    for _ in range(320):            # one 20 MB line
        c.send(chunk)
    c.send(b"\r\n.\r\n")
    code, _ = U.read_reply(c)
    t.eq(code, 550, "a 20 MB line: refused")
    U.cmd(c, "MAIL FROM:<x@remote.test>")
    U.cmd(c, "RCPT TO:<alice@example.com>")
    c.send(b"BDAT %d LAST\r\n" % (320 * len(chunk)))
    for _ in range(320):            # a 20 MB chunk over the size limit
        c.send(chunk)
    code, _ = U.read_reply(c)
    t.eq(code, 552, "a 20 MB BDAT chunk: refused after reading it")
    grown = d.rss_kib() - before
    t.ok(grown < 8192, "memory stays flat (grew %d KiB)" % grown)
    t.eq(U.cmd(c, "QUIT")[0], 221, "in sync after both")
    c.close()


try:
    stored = None

    def readback():
        global stored
        stored = test_readback()
    t.run(readback, "read back from the Maildir")
    if stored is not None:
        t.run(lambda: test_pop3(stored), "read back through POP3")
        t.run(lambda: test_imap(stored), "read back through IMAP")
    t.run(test_smuggling, "smuggling")
    t.run(test_bare_lf_normalised, "bare LF")
    t.run(test_empty_message, "empty message")
    t.run(test_size_limits, "size limits")
    t.run(test_long_line, "long lines")
    t.run(test_bdat, "BDAT")
    t.run(test_bdat_bare_lf, "BDAT bare LF")
    t.run(test_large, "large message")
    t.run(test_utf8_dsn, "SMTPUTF8 and DSN")
    t.run(test_memory_flat, "memory")
finally:
    d.stop()
    d.cleanup()
t.done()
