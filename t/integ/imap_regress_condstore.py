# imap_regress_condstore.py: regressions: CONDSTORE STORE (UNCHANGEDSINCE 0)
import imap_common as ic
from tap import TAP

t = TAP()
PW = ic.PASSWORD
d = ic.start(t, plaintext=True)


def raw():
    r = ic.Raw(d.connect("imapplain"))
    r.line()
    _, tagged = r.run('LOGIN "a@example.com" "%s"' % PW)
    assert " OK " in tagged, tagged
    return r


def test_unchangedsince_zero():
    # RFC 7162 3.1.3: UNCHANGEDSINCE 0 always fails, since a system flag
    # always exists.  The store takes 0 as "no condition", so the STORE
    # used to go through.
    r = raw()
    for i in range(3):
        m = ic.message(i)
        r.send(b"a%d APPEND INBOX {%d+}\r\n%s\r\n" % (i, len(m), m))
        r.until_tagged("a%d" % i)
    r.run("SELECT INBOX")
    untagged, tagged = r.run("STORE 1:2 (UNCHANGEDSINCE 0) "
                             "+FLAGS (\\Seen)")
    t.eq(tagged, "t3 OK [MODIFIED 1:2] Conditional STORE failed.",
         "STORE (UNCHANGEDSINCE 0) fails for every message")
    t.eq([u for u in untagged if "FETCH" in u], [],
         "no FETCH for messages that failed")
    _, tagged = r.run("UID STORE 3 (UNCHANGEDSINCE 0) FLAGS.SILENT "
                      "(\\Flagged)")
    t.eq(tagged, "t4 OK [MODIFIED 3] Conditional STORE failed.",
         "UID STORE (UNCHANGEDSINCE 0): MODIFIED names the UID")
    untagged, _ = r.run("FETCH 1:3 (FLAGS)")
    t.eq(untagged, ["* 1 FETCH (FLAGS ())", "* 2 FETCH (FLAGS ())",
                    "* 3 FETCH (FLAGS ())"], "no flag was changed")
    # a real condition still works: message 1 is unchanged since its modseq
    untagged, _ = r.run("FETCH 1 (MODSEQ)")
    modseq = int(untagged[0].split("MODSEQ (")[1].split(")")[0])
    untagged, tagged = r.run("STORE 1 (UNCHANGEDSINCE %d) +FLAGS "
                             "(\\Seen)" % modseq)
    t.ok(tagged.startswith("t7 OK Store") and
         any("FLAGS (\\Seen)" in u for u in untagged),
         "UNCHANGEDSINCE of the current modseq succeeds: %s" % tagged)
    r.run("LOGOUT")
    r.close()


t.run(test_unchangedsince_zero, "STORE (UNCHANGEDSINCE 0)")
d.stop()
d.cleanup()
t.done()
