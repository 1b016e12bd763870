# imap_session.py: every IMAP command through Python's imaplib, over IMAPS and STARTTLS
import imaplib
import re

import imap_common as ic
from tap import TAP

t = TAP()
d = ic.start(t)


def ok(res, desc):
    typ, data = res
    if typ != "OK":
        t.diag("%r" % (data,))
    return t.eq(typ, "OK", desc)


def call(f, *args):
    """imaplib raises on BAD; tests want to see it as a result."""
    try:
        return f(*args)
    except imaplib.IMAP4.error as e:
        return ("BAD", [str(e).encode()])


def untagged(c, name):
    return c.untagged_responses.pop(name, [])


def test_auth(c, how):
    caps = c.capabilities
    t.ok("IMAP4REV1" in caps and "IDLE" in caps and "LITERAL+" in caps,
         "%s: greeting capabilities" % how)
    typ, data = c.capability()
    caps = data[0].decode().split()
    for cap in ("NAMESPACE", "UIDPLUS", "MOVE", "UNSELECT", "CHILDREN",
                "SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS", "ESEARCH",
                "STATUS=SIZE", "CONDSTORE", "QRESYNC", "ENABLE", "ID"):
        if cap not in caps:
            t.diag("missing %s in %r" % (cap, caps))
    t.ok(all(x in caps for x in ("NAMESPACE", "UIDPLUS", "MOVE",
                                 "SPECIAL-USE", "ESEARCH", "CONDSTORE")),
         "%s: CAPABILITY after login lists the extensions" % how)
    t.ok(any(x.startswith("APPENDLIMIT=") for x in caps),
         "%s: APPENDLIMIT advertised" % how)
    t.ok("AUTH=PLAIN" not in caps and "STARTTLS" not in caps,
         "%s: no AUTH= or STARTTLS once logged in" % how)
    ok(c.noop(), "%s: NOOP" % how)
    typ, data = c.namespace()
    t.eq(data[0], b'(("" ".")) NIL NIL', "%s: NAMESPACE" % how)
    typ, data = c.xatom("ID", '("name" "imaplib")')
    t.ok(typ == "OK" and b'"Posta"' in untagged(c, "ID")[0],
         "%s: ID answers with the server name" % how)


def test_mailboxes(c):
    ok(c.create("Work"), "CREATE Work")
    ok(c.create("Work.Projects."), "CREATE with a trailing separator")
    t.eq(c.create("Work")[0], "NO", "CREATE of an existing mailbox is NO")
    t.eq(c.create("inbox")[0], "NO", "CREATE INBOX (any case) is NO")
    ok(c.create('"R&AOk-sum&AOk-"'), "CREATE a modified UTF-7 name")
    typ, data = c.list()
    names = [x.decode() for x in data]
    t.ok(any(n.endswith('"Work.Projects"') and "\\HasNoChildren" in n
             for n in names), "LIST: Work.Projects, no children")
    t.ok(any(n.endswith('"Work"') and "\\HasChildren" in n for n in names),
         "LIST: Work has children")
    t.ok(any('"R&AOk-sum&AOk-"' in n for n in names),
         "LIST shows the modified UTF-7 name")
    t.ok(any("\\Sent" in n and '"Sent"' in n for n in names),
         "LIST shows special-use \\Sent")
    typ, data = c.list('""', "%")
    t.ok(not any(b"Work.Projects" in x for x in data),
         "LIST %: no grandchildren")
    typ, data = c.list('""', "inBox")
    t.ok(len(data) == 1 and data[0].endswith(b'"INBOX"'),
         "LIST matches INBOX case-insensitively")
    typ, data = c.list("Work.", "%")
    t.ok(len(data) == 1 and b'"Work.Projects"' in data[0],
         "LIST with a reference")
    typ, data = c.list('""', '""')
    t.eq(data, [b'(\\Noselect) "." ""'], 'LIST "" "" gives the separator')
    ok(c.subscribe("Work.Projects"), "SUBSCRIBE")
    typ, data = c.lsub('""', "*")
    t.ok(any(b"Work.Projects" in x for x in data), "LSUB shows it")
    t.ok(not any(x.endswith(b'"Work"') for x in data),
         "LSUB * does not add its unsubscribed parent (RFC 3501 6.3.9)")
    typ, data = c.lsub('""', "%")
    t.ok(any(b"\\Noselect" in x and x.endswith(b'"Work"') for x in data),
         "LSUB % gives the parent it stopped at, \\Noselect")
    typ, data = c.lsub('""', "Work")
    t.ok(any(b"\\Noselect" in x and x.endswith(b'"Work"') for x in data),
         "LSUB %-parent of a subscribed child is \\Noselect")
    typ, data = c._simple_command("LIST", "(SUBSCRIBED)", '""', "*")
    data = c.untagged_responses.pop("LIST", [])
    t.ok(any(b"\\Subscribed" in x and b"Work.Projects" in x
             for x in data) and not any(x.endswith(b'"Work"')
                                        for x in data),
         "LIST (SUBSCRIBED) selects subscribed names")
    c._simple_command("LIST", '""', "*", "RETURN", "(CHILDREN SUBSCRIBED "
                      "SPECIAL-USE STATUS (MESSAGES UNSEEN SIZE))")
    data = c.untagged_responses.pop("LIST", [])
    st = c.untagged_responses.pop("STATUS", [])
    t.ok(any(b"\\Subscribed" in x for x in data) and len(st) >= 5,
         "LIST RETURN (SUBSCRIBED STATUS ...): LIST-STATUS")
    c._simple_command("LIST", "(SPECIAL-USE)", '""', "*")
    data = c.untagged_responses.pop("LIST", [])
    t.ok(len(data) == 4 and all(re.search(rb"\\(Sent|Drafts|Trash|Junk)",
                                          x) for x in data),
         "LIST (SPECIAL-USE) selects special-use mailboxes")
    c._simple_command("LIST", "(SUBSCRIBED RECURSIVEMATCH)", '""', "%")
    data = c.untagged_responses.pop("LIST", [])
    t.ok(any(b"CHILDINFO" in x and b'"Work"' in x for x in data),
         "RECURSIVEMATCH reports CHILDINFO")
    ok(c.unsubscribe("Work.Projects"), "UNSUBSCRIBE")
    typ, data = c.lsub('""', "*")
    t.ok(not any(b"Work.Projects" in x for x in (data or []) if x),
         "LSUB no longer shows it")
    ok(c.rename("Work", "Job"), "RENAME with children")
    typ, data = c.list('""', "Job*")
    t.eq(len(data), 2, "the children moved along")
    t.eq(c.delete("Job")[0], "NO", "DELETE of a parent is NO")
    ok(c.delete("Job.Projects"), "DELETE child")
    ok(c.delete("Job"), "DELETE parent")
    t.eq(c.delete("INBOX")[0], "NO", "DELETE INBOX is NO")
    t.eq(c.delete("Nope")[0], "NO", "DELETE of a missing mailbox is NO")
    typ, data = c._simple_command("CREATE", "Archive2", "(USE (\\Archive))")
    t.eq(typ, "OK", "CREATE with USE (\\Archive)")
    typ, data = c.list('""', "Archive2")
    t.ok(b"\\Archive" in data[0], "the special use is listed")
    ok(c.delete("Archive2"), "DELETE it again")


def test_append_fetch(c):
    ok(c.select("INBOX"), "SELECT INBOX")
    msgs = [ic.message(i) for i in range(1, 6)]
    for i, m in enumerate(msgs):
        flags = r"(\Seen)" if i == 0 else None
        typ, data = c.append("INBOX", flags, None if i else
                             '"17-Jul-1996 02:44:25 -0700"', m)
        t.ok(typ == "OK" and b"APPENDUID" in data[0],
             "APPEND %d with APPENDUID" % (i + 1))
    t.ok(b"5" in untagged(c, "EXISTS"), "EXISTS 5 after the appends")
    typ, data = c.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE UID)")
    line = data[0].decode()
    t.ok("\\Seen" in line and '"17-Jul-1996 09:44:25 +0000"' in line and
         "RFC822.SIZE %d" % len(msgs[0]) in line,
         "FETCH flags, internaldate (from APPEND) and size")
    typ, data = c.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    t.eq(data[0][1], b"Subject: Test message 2\r\n\r\n",
         "BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
    typ, data = c.fetch("2", "(BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT DATE "
                        "MESSAGE-ID)])")
    t.eq(data[0][1], b"From: alice@example.org\r\nTo: a@example.com\r\n\r\n",
         "HEADER.FIELDS.NOT")
    typ, data = c.fetch("2", "(BODY.PEEK[TEXT] BODY.PEEK[]<0.4> FLAGS)")
    t.eq(data[0][1], b"Hello number 2.\r\nSecond line.\r\n",
         "BODY.PEEK[TEXT]")
    t.eq(data[1][1], b"From", "partial BODY.PEEK[]<0.4>")
    t.ok(b"\\Seen" not in data[2], "PEEK does not set \\Seen")
    typ, data = c.fetch("2", "(BODY[1])")
    t.eq(data[0][1], b"Hello number 2.\r\nSecond line.\r\n",
         "BODY[1] of a single-part message")
    t.ok(b"\\Seen" in data[1] or b"\\Seen" in data[0][0],
         "BODY[] sets \\Seen and reports FLAGS")
    typ, data = c.fetch("3", "(RFC822.HEADER RFC822.TEXT)")
    t.ok(data[0][1].endswith(b"\r\n\r\n") and data[1][1].startswith(b"Hello"),
         "RFC822.HEADER and RFC822.TEXT")
    typ, data = c.fetch("4", "RFC822")
    t.eq(data[0][1], msgs[3], "RFC822 is the whole message")
    typ, data = c.fetch("1:*", "(ENVELOPE)")
    t.eq(len([x for x in data if x != b")"]), 5, "ENVELOPE of 1:*")
    t.ok(b'"Test message 1"' in (data[0] if isinstance(data[0], bytes)
                                  else data[0][0]),
         "ENVELOPE holds the subject")
    typ, data = c.fetch("1", "(BODY BODYSTRUCTURE)")
    t.ok(b'BODYSTRUCTURE ("text" "plain"' in data[0], "BODYSTRUCTURE")
    typ, data = c.fetch("1", "ALL")
    t.ok(b"ENVELOPE" in data[0] and b"INTERNALDATE" in data[0], "macro ALL")
    typ, data = call(c.fetch, "9", "FLAGS")
    t.eq(typ, "BAD", "FETCH of a sequence number past EXISTS is BAD")
    typ, data = c.uid("FETCH", "1:*", "(FLAGS)")
    t.eq(len(data), 5, "UID FETCH 1:*")
    typ, data = c.uid("FETCH", "999", "(FLAGS)")
    t.ok(typ == "OK" and data == [None], "UID FETCH of a missing UID: OK")
    multipart = (b"From: x@example.org\r\nSubject: mp\r\nMIME-Version: 1.0\r\n"
                 b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n"
                 b"--BB\r\nContent-Type: text/plain\r\n\r\npart one\r\n"
                 b"--BB\r\nContent-Type: message/rfc822\r\n\r\n"
                 b"Subject: inner\r\n\r\ninner body\r\n--BB--\r\n")
    ok(c.append("INBOX", None, None, multipart), "APPEND multipart")
    c.noop()
    typ, data = c.fetch("6", "(BODY.PEEK[1] BODY.PEEK[1.MIME] "
                        "BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] "
                        "BODY.PEEK[2.1])")
    parts = [x[1] for x in data if isinstance(x, tuple)]
    t.eq(parts, [b"part one", b"Content-Type: text/plain\r\n\r\n",
                 b"Subject: inner\r\n\r\n", b"inner body",
                 b"inner body"], "nested part numbers, MIME, HEADER, TEXT")


def test_store_search(c):
    typ, data = c.store("1:2", "+FLAGS", r"(\Flagged $Work)")
    t.ok(typ == "OK" and len(data) == 2 and b"$Work" in data[0],
         "STORE +FLAGS with a keyword")
    t.ok(any(b"$Work" in x for x in untagged(c, "FLAGS")),
         "FLAGS is sent again for a new keyword")
    typ, data = c.store("2", "-FLAGS.SILENT", r"(\Flagged)")
    t.ok(typ == "OK" and data == [None], "STORE -FLAGS.SILENT is silent")
    typ, data = c.store("3", "FLAGS", r"(\Answered \Draft)")
    t.ok(b"\\Answered" in data[0] and b"\\Draft" in data[0], "STORE FLAGS")
    t.eq(call(c.store, "1", "+FLAGS", r"(\Bogus)")[0], "BAD",
         "an unknown system flag is BAD")
    cases = [
        ("ALL", b"1 2 3 4 5 6"), ("FLAGGED", b"1"), ("UNFLAGGED",
                                                     b"2 3 4 5 6"),
        ("KEYWORD $Work", b"1 2"), ("UNKEYWORD $Work", b"3 4 5 6"),
        ("ANSWERED", b"3"), ("DRAFT", b"3"), ("SEEN", b"1 2 4"),
        ("SUBJECT \"message 4\"", b"4"), ("FROM ALICE", b"1 2 3 4 5"),
        ("TO a@example.com", b"1 2 3 4 5"), ("BODY \"number 5\"", b"5"),
        ("TEXT \"part one\"", b"6"), ("TEXT \"MESSAGE 3\"", b"3"),
        ("HEADER Message-ID \"<2@\"", b"2"), ("LARGER 200", b"6"),
        ("SMALLER 10", b""), ("OR FLAGGED ANSWERED", b"1 3"),
        ("NOT SEEN", b"3 5 6"), ("2:4 NOT 3", b"2 4"), ("UID 1:2", b"1 2"),
        ("SENTON 7-Feb-1994", b"1 2 3 4 5"), ("SENTBEFORE 1-Jan-1990", b""),
        ("BEFORE 1-Jan-2000", b"1"), ("SINCE 1-Jan-2000", b"2 3 4 5 6"),
        ("(FLAGGED) (SEEN)", b"1"), ("CHARSET UTF-8 BODY number",
                                       b"1 2 3 4 5"),
        ("SUBJECT \"\"", b"1 2 3 4 5 6"), ("HEADER X-None \"\"", b""),
    ]
    for crit, want in cases:
        typ, data = c.search(None, crit)
        t.eq((typ, data[0]), ("OK", want), "SEARCH %s" % crit)
    # \Recent is the store's call: NEW and OLD must agree with FLAGS
    typ, data = c.fetch("1:*", "(FLAGS)")
    recent = [str(i + 1) for i, x in enumerate(data) if b"\\Recent" in x]
    unseen = [str(i + 1) for i, x in enumerate(data) if b"\\Seen" not in x]
    rest = [str(i + 1) for i in range(len(data)) if str(i + 1) not in recent]
    for crit, want in (("RECENT", recent), ("OLD", rest),
                       ("NEW", [x for x in recent if x in unseen])):
        typ, got = c.search(None, crit)
        t.eq(got[0].decode().split(), want, "SEARCH %s" % crit)
    typ, data = c.uid("SEARCH", None, "FLAGGED")
    t.eq(data[0], b"1", "UID SEARCH")
    typ, data = c.search("KOI8-R", "ALL")
    t.eq(typ, "NO", "an unknown charset is NO [BADCHARSET]")
    typ, data = c._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT ALL)",
                                  "SEEN")
    es = c.untagged_responses.pop("ESEARCH", [b""])[0]
    t.ok(typ == "OK" and b"MIN 1 MAX 4 COUNT 3 ALL 1:2,4" in es,
         "ESEARCH RETURN (MIN MAX COUNT ALL): %r" % es)
    typ, data = call(c.search, None, "FOO")
    t.eq(typ, "BAD", "an unknown search key is BAD")


def test_copy_move_expunge(c):
    ok(c.create("Kept"), "CREATE Kept")
    typ, data = c.copy("1:2", "Kept")
    t.ok(typ == "OK" and re.search(rb"COPYUID \d+ 1:2 1:2", data[0]),
         "COPY with COPYUID: %r" % data[0])
    t.eq(c.copy("1", "Missing")[0], "NO", "COPY to a missing mailbox: NO")
    typ, data = c._simple_command("MOVE", "3", "Kept")
    t.eq(typ, "OK", "MOVE")
    t.eq(untagged(c, "EXPUNGE"), [b"3"], "MOVE sends EXPUNGE 3")
    typ, data = c.uid("MOVE", "4", "Kept")
    t.ok(typ == "OK" and untagged(c, "EXPUNGE") == [b"3"],
         "UID MOVE of UID 4 expunges what is now 3")
    typ, data = c.status("Kept", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE "
                         "HIGHESTMODSEQ RECENT)")
    t.ok(b"MESSAGES 4" in data[0] and b"SIZE" in data[0] and
         b"HIGHESTMODSEQ" in data[0], "STATUS of Kept: %r" % data[0])
    c.store("1", "+FLAGS", r"(\Deleted)")
    c.store("3", "+FLAGS", r"(\Deleted)")
    typ, data = c.uid("EXPUNGE", "1")
    t.ok(typ == "OK" and untagged(c, "EXPUNGE") == [b"1"],
         "UID EXPUNGE takes only the given UID")
    typ, data = c.expunge()
    t.ok(typ == "OK" and data == [b"2"], "EXPUNGE sends the renumbered one")
    typ, data = c.search(None, "ALL")
    t.eq(data[0], b"1 2", "two messages left")
    ok(c.check(), "CHECK")
    ok(c.select("Kept", readonly=True), "EXAMINE Kept")
    t.eq(c.store("1", "+FLAGS", r"(\Deleted)")[0], "NO",
         "STORE in a read-only mailbox is NO")
    typ, data = c.uid("FETCH", "3", "(BODY[])")
    typ, data = c.uid("FETCH", "3", "(FLAGS)")
    t.ok(b"\\Seen" not in data[0], "EXAMINE: BODY[] does not set \\Seen")
    ok(c.unselect(), "UNSELECT")
    t.eq(call(c.fetch, "1", "FLAGS")[0], "BAD",
         "FETCH without a mailbox is BAD")
    ok(c.select("Kept"), "SELECT Kept")
    c.store("1:*", "+FLAGS", r"(\Deleted)")
    ok(c.close(), "CLOSE expunges")
    typ, data = c.status("Kept", "(MESSAGES)")
    t.ok(b"MESSAGES 0" in data[0], "CLOSE removed the \\Deleted messages")
    ok(c.delete("Kept"), "DELETE Kept")


def test_search_decoding(c):
    ok(c.create("Enc"), "CREATE Enc")
    b64 = (b"From: x@example.org\r\nSubject: =?UTF-8?B?w6l0w6kgY2hhdWQ=?=\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n"
           b"SGVsbG8gZnJvbSBiYXNlNjQsIHpvcmtpbmcgdG9kYXku\r\n")
    qp = (b"From: y@example.org\r\nSubject: plain\r\nMIME-Version: 1.0\r\n"
          b"Content-Type: multipart/alternative; boundary=Q\r\n\r\n"
          b"--Q\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
          b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
          b"Un caf=E9 tr=E8s =\r\nnoir.\r\n--Q--\r\n")
    for m in (b64, qp):
        c.append("Enc", None, None, m)
    r = ic.raw_tls(d)
    r.run("SELECT Enc")
    for key, text, want in (
            ("BODY", b"zorking", "1"), ("TEXT", b"ZORKING", "1"),
            ("BODY", b"tr\xc3\xa8s noir", "2"),
            ("TEXT", b"\xc3\xa9t\xc3\xa9 chaud", "1"),
            ("SUBJECT", b"\xc3\xa9t\xc3\xa9", "1"),
            ("BODY", b"SGVsbG8", "1"), ("BODY", b"caf\xc3\xa9", "2")):
        tag = r.tag()
        r.send(b"%s SEARCH CHARSET UTF-8 %s {%d+}\r\n%s\r\n" % (
            tag.encode(), key.encode(), len(text), text))
        untagged, tagged = r.until_tagged(tag)
        t.eq((tagged.split()[1], untagged),
             ("OK", ["* SEARCH " + want]),
             "decoded SEARCH %s %r" % (key, text))
    r.close()
    ok(c.delete("Enc"), "DELETE Enc")


def test_condstore(c):
    c.unselect()
    typ, data = c.enable("CONDSTORE QRESYNC")
    t.eq(typ, "OK", "ENABLE CONDSTORE QRESYNC")
    typ, data = c.select("INBOX")
    hms = untagged(c, "HIGHESTMODSEQ")
    t.ok(len(hms) == 1, "SELECT reports HIGHESTMODSEQ")
    typ, data = c.fetch("1:*", "(MODSEQ)")
    mods = [int(re.search(rb"MODSEQ \((\d+)\)", x).group(1)) for x in data]
    t.ok(len(mods) == 3, "FETCH MODSEQ")
    typ, data = c._simple_command("STORE", "1", "(UNCHANGEDSINCE %d)" %
                                  (mods[0] - 1), "+FLAGS", "(\\Flagged)")
    t.ok(typ == "OK" and b"MODIFIED 1" in data[0],
         "STORE UNCHANGEDSINCE fails with [MODIFIED]: %r" % data[0])
    typ, data = c._simple_command("STORE", "1", "(UNCHANGEDSINCE %d)" %
                                  mods[0], "+FLAGS", "(\\Answered)")
    fetches = untagged(c, "FETCH")
    t.ok(typ == "OK" and any(b"MODSEQ" in x for x in fetches),
         "conditional STORE succeeds and reports MODSEQ")
    typ, data = c.uid("FETCH", "1:*", "(FLAGS)", "(CHANGEDSINCE %d)" %
                      max(mods))
    t.eq(len(data), 1, "FETCH CHANGEDSINCE returns only the changed one")
    typ, data = c.search(None, "MODSEQ", str(mods[0] + 1))
    t.ok(typ == "OK" and b"(MODSEQ" in data[0], "SEARCH MODSEQ: %r" % data)
    typ, data = c.status("INBOX", "(UIDVALIDITY HIGHESTMODSEQ)")
    m = re.search(rb"UIDVALIDITY (\d+) HIGHESTMODSEQ (\d+)", data[0])
    uidv, hms = int(m.group(1)), int(m.group(2))
    c.store("1", "+FLAGS", r"($QResync)")
    c.store("2", "+FLAGS", r"(\Deleted)")
    c.expunge()
    c.untagged_responses.clear()
    typ, data = c._simple_command("SELECT", "INBOX",
                                  "(QRESYNC (%d %d 1:10))" % (uidv, hms))
    van = c.untagged_responses.pop("VANISHED", [])
    t.ok(typ == "OK" and any(b"EARLIER" in x for x in van),
         "SELECT QRESYNC reports VANISHED (EARLIER): %r" % van)
    fetched = c.untagged_responses.pop("FETCH", [])
    t.ok(any(b"MODSEQ" in x and b"UID" in x for x in fetched),
         "SELECT QRESYNC reports changed flags: %r" % fetched)
    typ, data = c.uid("FETCH", "1:*", "(FLAGS)", "(CHANGEDSINCE 1 VANISHED)")
    van = c.untagged_responses.pop("VANISHED", [])
    t.ok(typ == "OK" and van and re.match(rb"\(EARLIER\) [0-9:,]+$",
                                         van[0]),
         "UID FETCH (CHANGEDSINCE VANISHED): %r" % van)
    other = ic.imaps(d)
    other.select("INBOX")
    other.store("1", "+FLAGS", r"(\Deleted)")
    other.expunge()
    other.logout()
    c.noop()
    van = c.untagged_responses.pop("VANISHED", [])
    t.ok(van and not van[0].startswith(b"(EARLIER)"),
         "with QRESYNC an expunge is reported as VANISHED: %r" % van)


def test_idle(c, d):
    c.select("INBOX")
    tag = c._new_tag()
    c.send(tag + b" IDLE\r\n")
    t.ok(c.readline().startswith(b"+"), "IDLE continuation")
    other = ic.imaps(d)
    other.append("INBOX", None, None, ic.message(77))
    line = c.readline()
    t.ok(re.match(rb"\* \d+ EXISTS", line), "IDLE sees EXISTS from another "
         "session's APPEND: %r" % line)
    other.logout()
    c.send(b"DONE\r\n")
    while True:
        line = c.readline()
        if line.startswith(tag):
            break
    t.ok(b"OK" in line, "DONE ends IDLE")


def session(c, how):
    test_auth(c, how)


def main():
    c = ic.imaps(d)
    t.run(lambda: session(c, "imaps"), "imaps session")
    t.run(lambda: test_mailboxes(c), "mailboxes")
    t.run(lambda: test_append_fetch(c), "append and fetch")
    t.run(lambda: test_store_search(c), "store and search")
    t.run(lambda: test_copy_move_expunge(c), "copy, move, expunge")
    t.run(lambda: test_search_decoding(c), "search decoding")
    t.run(lambda: test_idle(c, d), "idle")
    t.run(lambda: test_condstore(c), "condstore")
    t.eq(c.logout()[0], "BYE", "LOGOUT")
    c = ic.imap_starttls(d, "b@example.com")
    t.run(lambda: session(c, "starttls"), "starttls session")
    t.run(lambda: test_append_fetch(c), "starttls: append and fetch")
    t.eq(c.logout()[0], "BYE", "LOGOUT after STARTTLS")
    c = ic.imap_starttls(d, login=False)
    typ, data = c.authenticate("PLAIN", lambda _: b"\0a@example.com\0" +
                               ic.PASSWORD.encode())
    t.eq(typ, "OK", "AUTHENTICATE PLAIN after STARTTLS")
    c.logout()
    c = ic.imaps(d, login=False)
    try:
        c.login("a@example.com", "wrong")
        t.ok(False, "wrong password refused")
    except imaplib.IMAP4.error as e:
        t.ok("AUTHENTICATIONFAILED" in str(e), "wrong password: "
             "[AUTHENTICATIONFAILED]")
    c.logout()


try:
    main()
finally:
    d.stop()
    d.cleanup()
t.done()
