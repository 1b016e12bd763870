# quota.py: storage quotas through real clients: SMTP 452 at RCPT and after SIZE=, IMAP OVERQUOTA, GETQUOTA, MOVE, a per-user file
import imaplib
import os
import smtplib
import time

from tap import TAP
import smtp_util as U

t = TAP()
d = U.start(t, services={
    "smtp": {"protocol": "smtp", "tls": "starttls"},
    "imaps": {"protocol": "imap", "tls": "implicit"},
})
CTX = U.client_tls_context()
ALICE, BOB = "alice@example.com", "bob@example.com"
BODY = ("x" * 70 + "\r\n") * 14


def message(n):
    return ("From: carol@example.org\r\nTo: you\r\nSubject: q%d\r\n\r\n%s"
            % (n, BODY)).encode()


def set_quota(address, text):
    """Writes the per-user file as an admin would, as postad's user."""
    md = U.maildir(d, address)
    st = os.stat(d.state)
    # a Maildir not made yet: its directories belong to postad's user
    missing = []
    p = md
    while not os.path.isdir(p):
        missing.append(p)
        p = os.path.dirname(p)
    for p in reversed(missing):
        os.mkdir(p, 0o700)
        os.chown(p, st.st_uid, st.st_gid)
    path = os.path.join(md, "quota")
    with open(path + ".new", "w") as f:
        f.write(text)
    os.chown(path + ".new", st.st_uid, st.st_gid)
    os.rename(path + ".new", path)
    # the file is known by mtime/size/inode: a new inode is enough, but
    # make sure the mtime moves too on coarse clocks
    now = time.time() + 1
    os.utime(path, (now, now))


def rcpt_after_size(address, size):
    """The RCPT reply code after MAIL FROM with SIZE=size."""
    s = smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30)
    try:
        s.ehlo()
        code, _ = s.mail("carol@example.org", ["SIZE=%d" % size])
        if code != 250:
            return code
        return s.rcpt(address)[0]
    finally:
        s.close()


def send(rcpts, n):
    """(per-recipient refusals, exception or None) for one transaction."""
    s = smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30)
    try:
        refused = s.sendmail("carol@example.org", rcpts, message(n))
        return refused, None
    except smtplib.SMTPRecipientsRefused as e:
        return e.recipients, e
    finally:
        s.close()


def imap(address):
    m = imaplib.IMAP4_SSL("127.0.0.1", d.ports["imaps"], ssl_context=CTX,
                          timeout=30)
    m.login(address, U.USERS[address])
    return m


def count(address):
    m = imap(address)
    typ, data = m.select("INBOX", readonly=True)
    m.logout()
    return int(data[0])


def test_smtp_rcpt():
    set_quota(ALICE, "messages = 3\n")
    for i in range(3):
        refused, _ = send([ALICE], i)
        t.eq(refused, {}, "delivery %d within the quota" % (i + 1))
    refused, err = send([ALICE, BOB], 10)
    t.ok(ALICE in refused and refused[ALICE][0] == 452 and
         b"4.2.2" in refused[ALICE][1],
         "the full mailbox gets 452 4.2.2 at RCPT: %r" % (refused,))
    t.ok(BOB not in refused and err is None,
         "the other recipient of the same transaction is accepted")
    t.eq(count(ALICE), 3, "nothing more reached the full mailbox")
    t.eq(count(BOB), 1, "the other recipient got the message")
    t.ok("reason=quota" in d.log(),
         "the refusal is logged with reason=quota")


def test_imap():
    m = imap(ALICE)
    typ, data = m.capability()
    caps = data[0].split()
    t.ok(b"QUOTA" in caps and b"QUOTA=RES-MESSAGE" in caps and
         b"QUOTA=RES-STORAGE" in caps, "QUOTA is advertised")
    typ, data = m.getquotaroot("INBOX")
    text = b" ".join(data[0] + data[1])
    t.ok(typ == "OK" and b'"INBOX" ""' in text and b"MESSAGE 3 3" in text,
         "GETQUOTAROOT names the root \"\" and its MESSAGE 3 3: %r" % text)
    typ, data = m.getquota('""')
    t.ok(typ == "OK" and b"MESSAGE 3 3" in data[0],
         "GETQUOTA \"\": %r" % data)
    typ, data = m._simple_command("SETQUOTA", '""', "(STORAGE 1)")
    t.eq(typ, "NO", "SETQUOTA is the administrator's")
    m.logout()
    # bob has no limit: no quota root (RFC 9208 wants a resource in QUOTA)
    m = imap(BOB)
    typ, data = m.getquotaroot("INBOX")
    t.ok(typ == "OK" and data[0] == [b'"INBOX"'] and data[1] == [None],
         "an account without limits has no quota root: %r" % (data,))
    typ, data = m.getquota('""')
    t.ok(typ == "NO" and b"NONEXISTENT" in data[0],
         "GETQUOTA \"\" without limits: NO [NONEXISTENT]: %r" % data)
    m.logout()


def test_append_over_quota():
    m = imap(ALICE)
    typ, data = m.append("INBOX", None, None, message(21))
    t.ok(typ == "NO" and b"OVERQUOTA" in data[0],
         "APPEND over quota: NO [OVERQUOTA]: %r" % data)
    m.create("Old")
    m.select("INBOX")
    typ, data = m.copy("1", "Old")
    t.ok(typ == "NO" and b"OVERQUOTA" in data[0],
         "COPY over quota: NO [OVERQUOTA]: %r" % data)
    typ, data = m._simple_command("MOVE", "1", "Old")
    t.eq(typ, "OK", "MOVE still works when full")
    m.store("1", "+FLAGS", "\\Deleted")
    m.expunge()
    m.logout()
    refused, _ = send([ALICE], 30)
    t.eq(refused, {}, "after an expunge the user receives mail again")


def test_size_and_storage():
    # 4 messages held; a storage limit just above that
    set_quota(ALICE, "messages = 0\nstorage = 8k\n")
    t.eq(rcpt_after_size(ALICE, 200000), 452,
         "MAIL SIZE= that would overfill the mailbox: 452 at RCPT")
    t.eq(rcpt_after_size(ALICE, 500), 250, "a SIZE= that fits is accepted")
    refused, _ = send([ALICE], 41)
    t.eq(refused, {}, "and a message that fits is delivered")
    m = imap(ALICE)
    typ, data = m.getquota('""')
    t.ok(typ == "OK" and b"STORAGE " in data[0] and b" 8)" in data[0],
         "GETQUOTA shows STORAGE in KiB with the 8 KiB limit: %r" % data)
    m.logout()


def test_file_changes():
    set_quota(ALICE, "storage = 0\nmessages = 0\n")
    refused, _ = send([ALICE], 50)
    t.eq(refused, {}, "a lifted limit applies without a restart")
    set_quota(ALICE, "storage = lots\n")
    refused, _ = send([ALICE], 51)
    t.eq(refused, {}, "a malformed file falls back to the defaults")
    d.wait_log("event=maildir.quota_invalid")
    t.ok("event=maildir.quota_invalid" in d.log(),
         "and the malformed file is logged")


try:
    t.run(test_smtp_rcpt, "SMTP 452 at RCPT")
    t.run(test_imap, "IMAP QUOTA")
    t.run(test_append_over_quota, "APPEND, COPY and MOVE over quota")
    t.run(test_size_and_storage, "SIZE= and storage limits")
    t.run(test_file_changes, "the per-user file changes")
    d.stop()
finally:
    d.cleanup()
t.done()
