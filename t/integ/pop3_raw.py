# pop3_raw.py: raw PIPELINING, bad input, wrong state, ranges, limits, timeouts
import os

import pop3_util as u
from posta import LineClient
from tap import TAP

t = TAP()
USER, PW = "dave@example.com", "pw-dave"
d = u.start(t, {USER: PW}, services={
    "pop3": {"protocol": "pop3", "tls": "starttls"},
    "pop3s": {"protocol": "pop3", "tls": "implicit",
              "max_line_length": "4k"},
    "pop3idle": {"protocol": "pop3", "tls": "implicit",
                 "idle_timeout": "1s"},
    # Python's ssl cannot half-close: the EOF test runs in plaintext
    "pop3plain": {"protocol": "pop3", "allow_plaintext_auth": "yes"},
}, blocks="protocol pop3 {\n  max_bad_commands = 8\n}\n")


def login(c):
    c.line()
    c.cmd("USER " + USER)
    r = c.cmd("PASS " + PW)
    if r != "+OK Logged in.":
        raise RuntimeError("login: %s" % r)


def test_setup():
    u.ensure_maildir(d, USER, PW)
    for i in range(3):
        u.deliver(d, USER, u.message(i, body_lines=i + 1))


def test_pipelining():
    c = u.raw_pop3s(d)
    c.line()
    # login and a whole session in one write (RFC 2449 6.6)
    c.send("CAPA\r\nUSER %s\r\nPASS %s\r\nSTAT\r\nLIST\r\nUIDL\r\n"
           "RETR 1\r\nTOP 2 1\r\nLIST 3\r\nDELE 3\r\nLIST 3\r\nNOOP\r\n"
           "RSET\r\nUIDL 3\r\nQUIT\r\n" % (USER, PW))
    t.eq(c.line(), "+OK Capability list follows", "CAPA answered first")
    t.ok("PIPELINING" in u.read_multi(c), "PIPELINING offered")
    t.ok(c.line().startswith("+OK"), "USER")
    t.eq(c.line(), "+OK Logged in.", "PASS, pipelined behind USER")
    stat = c.line()
    t.ok(stat.startswith("+OK 3 "), "STAT")
    t.ok(c.line().startswith("+OK 3 messages"), "LIST")
    t.eq(len(u.read_multi(c)), 3, "LIST lines")
    t.ok(c.line().startswith("+OK"), "UIDL")
    t.eq(len(u.read_multi(c)), 3, "UIDL lines")
    t.ok(c.line().startswith("+OK") and
         "Subject: message 0" in u.read_multi(c), "RETR 1 in order")
    t.eq(c.line(), "+OK Top of message follows.", "TOP")
    t.eq(u.read_multi(c)[-1], "line 0 of message 1", "TOP 2 1 body")
    t.ok(c.line().startswith("+OK 3 "), "LIST 3")
    t.eq(c.line(), "+OK Message 3 deleted.", "DELE 3")
    t.eq(c.line(), "-ERR Message 3 is deleted.", "LIST 3 after DELE")
    t.eq(c.line(), "+OK NOOP", "NOOP")
    t.ok(c.line().startswith("+OK Maildrop has 3 messages"), "RSET")
    t.ok(c.line().startswith("+OK 3 "), "UIDL 3 after RSET")
    t.eq(c.line(), "+OK Logging out.", "QUIT after RSET deletes nothing")
    t.ok(u.wait_closed(c), "closed after QUIT")
    c.close()


def test_bad_input():
    c = u.raw_pop3s(d)
    login(c)
    t.eq(c.cmd("HELO x"), "-ERR Unknown command.", "unknown command")
    t.eq(c.cmd(""), "-ERR Empty command line.", "empty line")
    t.eq(c.cmd("\x00\x01\x02"), "-ERR Invalid characters in command line.",
         "control characters")
    t.eq(c.cmd("RETR 1\x00"), "-ERR Invalid characters in command line.",
         "a NUL after a command")
    t.eq(c.cmd("NOOP"), "+OK NOOP", "the session goes on")
    t.eq(c.cmd("\xff\xfe garbage"), "-ERR Unknown command.", "8-bit garbage")
    t.eq(c.cmd("RETR"), "-ERR Wrong number of arguments.", "RETR without n")
    t.eq(c.cmd("RETR 1 2"), "-ERR Wrong number of arguments.", "RETR 1 2")
    t.eq(c.cmd("NOOP"), "+OK NOOP", "the error count resets on success")
    t.eq(c.cmd("RETR abc"), "-ERR Invalid number.", "RETR abc")
    t.eq(c.cmd("RETR -1"), "-ERR Invalid number.", "RETR -1")
    t.eq(c.cmd("RETR 0"), "-ERR There is no message 0.", "RETR 0")
    t.eq(c.cmd("RETR 4"), "-ERR There is no message 4.", "RETR past the end")
    t.eq(c.cmd("NOOP"), "+OK NOOP", "NOOP")
    t.eq(c.cmd("DELE 4294967295"), "-ERR There is no message 4294967295.",
         "DELE 2^32-1")
    t.eq(c.cmd("LIST 4294967296"), "-ERR Invalid number.", "LIST 2^32")
    t.eq(c.cmd("TOP 1"), "-ERR Wrong number of arguments.", "TOP 1")
    t.eq(c.cmd("TOP 9 1"), "-ERR There is no message 9.", "TOP 9 1")
    t.eq(c.cmd("NOOP"), "+OK NOOP", "NOOP")
    t.eq(c.cmd("DELE 2"), "+OK Message 2 deleted.", "DELE 2")
    t.eq(c.cmd("DELE 2"), "-ERR Message 2 is deleted.", "DELE 2 twice")
    t.eq(c.cmd("TOP 2 0"), "-ERR Message 2 is deleted.", "TOP of deleted")
    t.eq(c.cmd("UIDL 2"), "-ERR Message 2 is deleted.", "UIDL of deleted")
    t.ok(c.cmd("PASS x").startswith("-ERR PASS is not allowed in the "
                                     "TRANSACTION state"),
         "PASS in TRANSACTION")
    t.ok(c.cmd("AUTH PLAIN").startswith("-ERR AUTH is not allowed"),
         "AUTH in TRANSACTION")
    t.eq(c.cmd("NOOP"), "+OK NOOP", "NOOP")
    # an over-long line (max_line_length 4k on this service)
    c.send("LIST " + "1" * 100000 + "\r\n")
    t.eq(c.line(), "-ERR Line too long.", "over-long line: -ERR")
    t.eq(c.cmd("NOOP"), "+OK NOOP", "the session survives it")
    c.send("NOOP\n")
    t.eq(c.line(), "+OK NOOP", "a bare LF ends a command too")
    t.eq(c.cmd("RSET").split()[:3], ["+OK", "Maildrop", "has"], "RSET")
    t.eq(c.cmd("QUIT"), "+OK Logging out.", "QUIT")
    c.close()
    p = u.pop3s(d, USER, PW)
    t.eq(p.stat()[0], 3, "nothing was deleted by all that")
    p.quit()


def test_bad_before_login():
    c = u.raw_pop3s(d)
    c.line()
    t.ok(c.cmd("LIST").startswith("-ERR LIST is not allowed in the "
                                  "AUTHORIZATION state"),
         "LIST before login")
    t.ok(c.cmd("DELE 1").startswith("-ERR DELE is not allowed"),
         "DELE before login")
    t.ok(c.cmd("RETR 1").startswith("-ERR RETR is not allowed"),
         "RETR before login")
    t.eq(c.cmd("NOOP"), "+OK NOOP", "NOOP is fine before login")
    c.send("USER " + "a" * 20000 + "\r\n")
    t.eq(c.line(), "-ERR Line too long.", "over-long USER")
    c.cmd("USER " + USER)
    t.eq(c.cmd("PASS " + PW), "+OK Logged in.", "login after all that")
    c.cmd("QUIT")
    c.close()


def test_too_many_errors():
    c = u.raw_pop3s(d)
    c.line()
    for i in range(7):
        t.ok(c.cmd("BOGUS %d" % i).startswith("-ERR"), "bad command %d" % i)
    t.eq(c.cmd("BOGUS 8"), "-ERR Unknown command.", "eighth bad command")
    t.eq(c.line(), "-ERR Too many bad commands, closing connection.",
         "max_bad_commands reached: the server says goodbye")
    t.ok(u.wait_closed(c), "and closes")
    c.close()
    c = u.raw_pop3s(d)
    c.line()
    c.send("".join("X%d\r\n" % i for i in range(50)))
    n = 0
    try:
        while True:
            c.line()
            n += 1
    except (EOFError, OSError):
        pass
    t.eq(n, 9, "50 pipelined bad commands: 8 answers, goodbye, closed")
    c.close()


def test_nul_flood_and_binary():
    c = u.raw_pop3s(d)
    login(c)
    c.send(bytes(b for b in range(256) if b not in b"\r\n") + b"\r\n")
    t.ok(c.line().startswith("-ERR"), "all other byte values: -ERR")
    c.send(b"\x00" * 3000 + b"\r\n")
    t.ok(c.line().startswith("-ERR"), "a line of NULs: -ERR")
    t.eq(c.cmd("STAT").split()[1], "3", "session fine")
    c.cmd("QUIT")
    c.close()


def test_idle_timeout_before_login():
    c = LineClient(d.connect_tls("pop3idle", timeout=20))
    t.ok(c.line().startswith("+OK"), "greeting")
    # the service's idle_timeout (1s) applies before login; wait for it
    t.eq(c.line(), "-ERR Disconnected for inactivity.",
         "idle before login: -ERR Disconnected for inactivity.")
    t.ok(u.wait_closed(c), "then closed")
    c.close()
    c = LineClient(d.connect_tls("pop3idle", timeout=5))
    login(c)
    # after login the protocol's idle_timeout (10m) replaces it
    c.sock.settimeout(1.5)
    try:
        line = c.line()
    except OSError:
        line = None
    t.eq(line, None, "after login the 1s service timeout no longer applies")
    c.sock.settimeout(10)
    t.eq(c.cmd("NOOP"), "+OK NOOP", "session alive after 1.5s idle")
    c.cmd("QUIT")
    c.close()


def test_eof_mid_pipeline():
    before = d.log().count("reason=disconnected")
    c = LineClient(d.connect("pop3plain"))
    c.line()
    c.send("USER %s\r\nPASS %s\r\nDELE 1\r\n" % (USER, PW))
    c.sock.shutdown(1)
    lines = []
    try:
        while True:
            lines.append(c.line())
    except (EOFError, OSError):
        pass
    t.eq(lines[-1:], ["+OK Message 1 deleted."],
         "input ending after DELE: every command answered, then closed")
    c.close()
    d.wait_log("reason=disconnected", count=before + 1)
    p = u.pop3s(d, USER, PW)
    t.eq(p.stat()[0], 3, "and without QUIT nothing was deleted")
    p.quit()


t.run(test_setup, "setup")
t.run(test_pipelining, "pipelining")
t.run(test_bad_input, "bad input")
t.run(test_bad_before_login, "bad input before login")
t.run(test_too_many_errors, "too many errors")
t.run(test_nul_flood_and_binary, "binary input")
t.run(test_idle_timeout_before_login, "idle timeouts")
t.run(test_eof_mid_pipeline, "EOF mid pipeline")
d.stop()
d.cleanup()
t.done()
