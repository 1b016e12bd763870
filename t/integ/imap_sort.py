# imap_sort.py: SORT, ESORT and THREAD (RFC 5256, 5267, 5957) through imaplib over TLS
import imaplib
import re
import socket

import imap_common as ic
from tap import TAP

t = TAP()
d = ic.start(t)

# (headers, internal date); message n is sequence number n
MSGS = [
    ("From: Zed <zed@x.org>\r\nTo: bob@y.org\r\nSubject: Hello\r\n"
     "Date: Thu, 2 Jan 2020 10:00:00 +0000\r\nMessage-ID: <m1@x>\r\n",
     "10-Jan-2020 00:00:00 +0000"),
    ("From: alice@x.org\r\nTo: zed@x.org\r\nCc: carol@z.org\r\n"
     "Subject: Re: Hello\r\nDate: Thu, 2 Jan 2020 12:00:00 +0200\r\n"
     "Message-ID: <m2@x>\r\nIn-Reply-To: <m1@x>\r\nReferences: <m1@x>\r\n",
     "09-Jan-2020 00:00:00 +0000"),
    ("From: =?UTF-8?B?w4lsaWU=?= <bob@x.org>\r\nTo: a@example.com\r\n"
     "Subject: =?UTF-8?Q?=5Blist=5D_Apple?=\r\n"
     "Date: Wed, 1 Jan 2020 00:00:00 +0000\r\nMessage-ID: <m3@x>\r\n",
     "08-Jan-2020 00:00:00 +0000"),
    ("From: Mallory <mal@x.org>\r\nTo: a@example.com\r\n"
     "Subject: Fwd: apple\r\nMessage-ID: <m4@x>\r\n"
     "References: <gone@x>\r\n <m3@x>\r\n",
     "31-Dec-2019 00:00:00 +0000"),
    ("To: b@example.com\r\nSubject: Other\r\n"
     "Date: Sun, 5 Jan 2020 00:00:00 +0000\r\nMessage-ID: <m1@x>\r\n"
     "References: <m1@x> <m2@x>\r\n",
     "11-Jan-2020 00:00:00 +0000"),
]


def nums(data):
    return [int(x) for x in (data[0] or b"").split()]


def call(f, *args):
    """imaplib raises on BAD; tests want to see it as a result."""
    try:
        return f(*args)
    except imaplib.IMAP4.error as e:
        return ("BAD", [str(e).encode()])


def fill(c):
    for i, (hdr, date) in enumerate(MSGS):
        body = "x" * (3000 if i == 2 else 10 * (i + 1))
        c.append("INBOX", None, '"%s"' % date,
                 (hdr + "\r\n" + body + "\r\n").encode())
    typ, data = c.select("INBOX")
    t.eq(int(data[0]), len(MSGS), "five messages to sort")


def uid_map(c):
    typ, data = c.fetch("1:*", "(UID RFC822.SIZE)")
    uids, sizes = {}, {}
    for line in data:
        parts = line.decode().replace("(", " ").replace(")", " ").split()
        seq = int(parts[0])
        uids[seq] = int(parts[parts.index("UID") + 1])
        sizes[seq] = int(parts[parts.index("RFC822.SIZE") + 1])
    return uids, sizes


def test_sort(c):
    caps = c.capability()[1][0].decode().split()
    t.ok(all(x in caps for x in ("SORT", "SORT=DISPLAY", "ESORT",
                                 "THREAD=ORDEREDSUBJECT",
                                 "THREAD=REFERENCES")),
         "SORT, ESORT and THREAD capabilities")
    uids, sizes = uid_map(c)
    cases = [
        ("(SUBJECT)", [3, 4, 1, 2, 5], "base subject, decoded"),
        ("(DATE)", [4, 3, 1, 2, 5], "sent date in UTC, internal date "
         "when missing, ties by sequence"),
        ("(REVERSE DATE)", [5, 1, 2, 3, 4], "REVERSE keeps ties in "
         "mailbox order"),
        ("(ARRIVAL)", [4, 3, 2, 1, 5], "internal date"),
        ("(FROM)", [5, 2, 3, 4, 1], "first From mailbox, none first"),
        ("(DISPLAYFROM)", [5, 2, 4, 1, 3], "display name, else address"),
        ("(CC DATE)", [4, 3, 1, 5, 2], "two keys: CC then DATE"),
        ("(REVERSE SUBJECT ARRIVAL)", [5, 2, 1, 4, 3],
         "REVERSE on the first of two keys"),
        ("(TO)", [3, 4, 5, 1, 2], "first To mailbox"),
        ("(SIZE)", sorted(sizes, key=lambda s: (sizes[s], s)), "size"),
    ]
    for crit, want, desc in cases:
        typ, data = c.sort(crit, "UTF-8", "ALL")
        t.ok(typ == "OK" and nums(data) == want,
             "SORT %s: %s" % (crit, desc))
        if nums(data) != want:
            t.diag("got %r want %r" % (data, want))
    typ, data = c.uid("SORT", "(SUBJECT)", "UTF-8", "ALL")
    t.eq(nums(data), [uids[s] for s in [3, 4, 1, 2, 5]],
         "UID SORT answers with UIDs")
    typ, data = c.sort("(SUBJECT)", "US-ASCII", "FROM", "x.org")
    t.eq(nums(data), [3, 4, 1, 2], "SORT with a search criterion")
    typ, data = c.sort("(DATE)", "UTF-8", "2:4")
    t.eq(nums(data), [4, 3, 2], "SORT of a sequence set")
    typ, data = c.sort("(DATE)", "UTF-8", "SUBJECT", "nothing-like-this")
    t.ok(typ == "OK" and nums(data) == [], "SORT with no match: empty")
    typ, data = call(c.sort, "(DATE)", "KOI8-R", "ALL")
    t.ok(typ == "NO" and b"BADCHARSET" in data[0],
         "unknown charset: NO [BADCHARSET]")
    for args in (("DATE", "UTF-8", "ALL"), ("(BOGUS)", "UTF-8", "ALL"),
                 ("(DATE)", "UTF-8"), ("(REVERSE)", "UTF-8", "ALL"),
                 ("(DATE)", "UTF-8", "NOSUCHKEY")):
        # imaplib's sort() would add the parentheses: the raw command
        typ, data = call(c._simple_command, "SORT", *args)
        t.eq(typ, "BAD", "SORT %s: BAD" % " ".join(args))
    t.eq(c.noop()[0], "OK", "the session goes on after BAD")
    # ESORT (RFC 5267)
    typ, data = c._simple_command("SORT", "RETURN", "(MIN MAX COUNT ALL)",
                                  "(DATE)", "UTF-8", "ALL")
    es = c.untagged_responses.pop("ESEARCH", [b""])[0].decode()
    t.ok(typ == "OK" and re.fullmatch(r'\(TAG "[^"]+"\) MIN 4 MAX 5 '
                                      r'COUNT 5 ALL 4,3,1:2,5', es),
         "ESORT MIN MAX COUNT ALL in sort order")
    if typ != "OK" or "ALL 4,3,1:2,5" not in es:
        t.diag("got %r %r" % (typ, es))
    typ, data = c.uid("SORT", "RETURN", "(COUNT)", "(DATE)", "UTF-8",
                      "ALL")
    es = c.untagged_responses.pop("ESEARCH", [b""])[0].decode()
    t.ok(typ == "OK" and es.endswith("UID COUNT 5"), "UID ESORT COUNT")


def test_thread(c):
    uids, _ = uid_map(c)
    typ, data = c.thread("REFERENCES", "UTF-8", "ALL")
    t.eq(data[0], b"(3 4)(1 2 5)", "THREAD=REFERENCES: parents, a "
         "missing one pruned, a duplicate Message-ID")
    typ, data = c.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
    t.eq(data[0], b"(4 3)(1 2)(5)", "THREAD=ORDEREDSUBJECT")
    typ, data = c.uid("THREAD", "REFERENCES", "UTF-8", "ALL")
    want = "(%d %d)(%d %d %d)" % (uids[3], uids[4], uids[1], uids[2],
                                  uids[5])
    t.eq(data[0], want.encode(), "UID THREAD answers with UIDs")
    typ, data = c.thread("REFERENCES", "UTF-8", "NOT", "SUBJECT",
                         "apple")
    t.eq(data[0], b"(1 2 5)", "THREAD with a search criterion")
    typ, data = c.thread("REFERENCES", "UTF-8", "SUBJECT", "zzz-none")
    t.ok(typ == "OK" and data[0] in (None, b""), "THREAD of nothing")
    typ, data = call(c.thread, "REFERENCES", "ISO-2022-JP", "ALL")
    t.ok(typ == "NO" and b"BADCHARSET" in data[0],
         "THREAD with an unknown charset: NO [BADCHARSET]")
    typ, data = call(c.thread, "NOSUCHALG", "UTF-8", "ALL")
    t.eq(typ, "BAD", "unknown threading algorithm: BAD")
    t.eq(c.noop()[0], "OK", "the session goes on")


def test_many():
    """A long reply chain in its own mailbox: one thread, streamed."""
    c = ic.imaps(d, user="b@example.com", timeout=60)
    n = 400
    for i in range(n):
        hdr = "Subject: %sthread\r\nMessage-ID: <c%d@x>\r\n" % (
            "Re: " if i else "", i)
        if i:
            hdr += "In-Reply-To: <c%d@x>\r\n" % (i - 1)
        hdr += "Date: %d Feb 2020 00:00:00 +0000\r\n" % (1 + i % 28)
        arrival = '"%02d-Mar-2020 00:%02d:00 +0000"' % (1 + i // 60,
                                                         i % 60)
        c.append("INBOX", None, arrival, (hdr + "\r\nx\r\n").encode())
    c.select("INBOX")
    typ, data = c.thread("REFERENCES", "UTF-8", "ALL")
    t.eq(data[0], ("(" + " ".join(str(i + 1) for i in range(n)) +
                   ")").encode(), "a %d-message reply chain" % n)
    typ, data = c.sort("(REVERSE ARRIVAL)", "UTF-8", "ALL")
    t.eq(nums(data), list(range(n, 0, -1)), "SORT of %d messages" % n)
    # the client goes away in the middle of a command
    for cmd in ("a SORT (SUBJECT) UTF-8 ALL\r\n",
                "b THREAD REFERENCES UTF-8 ALL\r\n"):
        r = ic.raw_tls(d, login=False)
        r.run('LOGIN "b@example.com" "%s"' % ic.PASSWORD)
        r.send("s SELECT INBOX\r\n" + cmd)
        r.sock.shutdown(socket.SHUT_RDWR)
        r.close()
    t.eq(c.noop()[0], "OK", "postad is fine after clients vanished "
         "mid-command")
    c.logout()


def main():
    c = ic.imaps(d)
    fill(c)
    test_sort(c)
    test_thread(c)
    c.logout()
    test_many()


try:
    main()
finally:
    d.stop()
    d.cleanup()
t.done()
