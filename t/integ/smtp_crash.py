# smtp_crash.py: SIGKILL during concurrent SMTP deliveries: every acknowledged message survives once, UIDs stay unique
import glob
import imaplib
import os
import signal
import smtplib
import threading
import time

from tap import TAP
import smtp_util as U

t = TAP()
SENDERS = 8
MAX_PER_SENDER = 400        # bounds the load in count ...
MAX_SECONDS = 30            # ... and in time
KILL_AFTER = 150            # acknowledged messages before the kill
RCPTS = ["alice@example.com", "bob@example.com"]
d = U.start(t, services={
    "smtp": {"protocol": "smtp", "tls": "starttls"},
    "imaps": {"protocol": "imap", "tls": "implicit"},
})
CTX = U.client_tls_context()
acked = []                  # (message id, recipients) that got a 250
lock = threading.Lock()
stop = threading.Event()
killed = threading.Event()


def message(mid, rcpts):
    return ("From: carol@example.org\r\nTo: %s\r\nSubject: crash\r\n"
            "Message-ID: <%s@crash.test>\r\n\r\n%s\r\n" % (
                ", ".join(rcpts), mid, "body line\r\n" * 40)).encode()


def sender(n):
    deadline = time.monotonic() + MAX_SECONDS
    s = None
    for i in range(MAX_PER_SENDER):
        if stop.is_set() or time.monotonic() > deadline:
            break
        mid = "s%d-%d" % (n, i)
        # one message in three goes to both users: all-or-nothing matters
        rcpts = RCPTS if i % 3 == 0 else [RCPTS[i % 2]]
        try:
            if s is None:
                s = smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=20)
            s.sendmail("carol@example.org", rcpts, message(mid, rcpts))
        except (OSError, smtplib.SMTPException):
            break           # the kill: whatever was in flight is not ours
        with lock:
            acked.append((mid, rcpts))
    if s is not None:
        try:
            s.close()
        except OSError:
            pass


def ids_in(address):
    """Message-IDs of the files in address's INBOX, with repeats."""
    out = []
    for path in glob.glob(os.path.join(U.maildir(d, address), "new", "*")) + \
            glob.glob(os.path.join(U.maildir(d, address), "cur", "*")):
        with open(path, "rb") as f:
            for line in f:
                if line.startswith(b"Message-ID: <"):
                    out.append(line.split(b"<")[1].split(b"@")[0].decode())
                    break
                if line in (b"\r\n", b"\n"):
                    break
    return out


seen = {}                   # message id -> UID, as an IMAP client saw it
seen_uidvalidity = []


def parse_uid_ids(data):
    out = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        head, body = item
        uid = int(head.split(b"UID ")[1].split()[0].rstrip(b")"))
        if b"<" in body:
            out[body.split(b"<")[1].split(b"@")[0].decode()] = uid
    return out


def watcher():
    """An IMAP client that keeps up with alice's INBOX until the kill."""
    try:
        m = imaplib.IMAP4_SSL("127.0.0.1", d.ports["imaps"],
                              ssl_context=CTX, timeout=20)
        m.login(RCPTS[0], U.USERS[RCPTS[0]])
        m.select("INBOX", readonly=True)
        seen_uidvalidity.append(m.response("UIDVALIDITY")[1][0])
        deadline = time.monotonic() + MAX_SECONDS
        while not stop.is_set() and time.monotonic() < deadline:
            m.noop()
            nxt = max(seen.values(), default=0) + 1
            typ, data = m.uid("FETCH", "%d:*" % nxt,
                              "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            if typ == "OK":
                seen.update(parse_uid_ids(data))
            if len(acked) >= KILL_AFTER:
                # kill right after a client learnt the newest UIDs: the
                # ones most at risk if the index were not yet durable
                d.signal(signal.SIGKILL)
                killed.set()
                break
    except (OSError, imaplib.IMAP4.abort, imaplib.IMAP4.error):
        pass                # the kill


def imap_uids(address):
    m = imaplib.IMAP4_SSL("127.0.0.1", d.ports["imaps"], ssl_context=CTX,
                          timeout=30)
    m.login(address, U.USERS[address])
    typ, data = m.select("INBOX", readonly=True)
    exists = int(data[0])
    typ, data = m.uid("SEARCH", "ALL")
    uids = [int(x) for x in data[0].split()]
    m.logout()
    return exists, uids


def test_kill_mid_delivery():
    threads = [threading.Thread(target=sender, args=(n,))
               for n in range(SENDERS)]
    threads.append(threading.Thread(target=watcher))
    for th in threads:
        th.start()
    killed.wait(MAX_SECONDS + 10)
    if not killed.is_set():
        d.signal(signal.SIGKILL)
    d.proc.wait(10)
    stop.set()
    for th in threads:
        th.join(30)
    t.eq(d.proc.returncode, -signal.SIGKILL, "postad died of SIGKILL "
         "with deliveries in flight (%d acknowledged)" % len(acked))
    t.ok(len(acked) >= KILL_AFTER, "enough messages were acknowledged")

    for address in RCPTS:
        want = sorted(mid for mid, rcpts in acked if address in rcpts)
        have = ids_in(address)
        missing = sorted(set(want) - set(have))
        twice = sorted({m for m in have if have.count(m) > 1})
        t.eq(missing, [], "%s: every acknowledged message is in the "
             "Maildir (%d)" % (address, len(want)))
        t.eq(twice, [], "%s: no message is there twice" % address)
    # all-or-nothing across recipients holds for what was acknowledged;
    # an unacknowledged one may be in both, one (the sender retries: a
    # duplicate is allowed by RFC 5321 6.1, a loss is not) or neither

    d.start()
    m = imaplib.IMAP4_SSL("127.0.0.1", d.ports["imaps"], ssl_context=CTX,
                          timeout=30)
    m.login(RCPTS[0], U.USERS[RCPTS[0]])
    m.select("INBOX", readonly=True)
    uidvalidity = m.response("UIDVALIDITY")[1][0]
    typ, data = m.uid("FETCH", "1:*",
                      "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    m.logout()
    now = parse_uid_ids(data)
    changed = sorted(mid for mid, uid in seen.items() if now.get(mid) != uid)
    t.ok(len(seen) > 0, "an IMAP client saw %d UIDs before the kill" %
         len(seen))
    t.ok(uidvalidity != seen_uidvalidity[0] or changed == [],
         "every UID a client saw still names the same message, or "
         "UIDVALIDITY changed (changed: %s)" % changed[:5])
    for address in RCPTS:
        files = len(ids_in(address))
        exists, uids = imap_uids(address)
        t.eq(exists, files, "%s: after the restart IMAP sees every file "
             "(%d)" % (address, files))
        t.eq(len(set(uids)), len(uids), "%s: UIDs are unique" % address)
        s = smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=20)
        s.sendmail("carol@example.org", [address],
                   message("after-" + address, [address]))
        s.quit()
        exists2, uids2 = imap_uids(address)
        t.ok(exists2 == exists + 1 and uids2[-1] > max(uids or [0]),
             "%s: a new delivery gets a UID above every old one" % address)


try:
    t.run(test_kill_mid_delivery, "SIGKILL mid-delivery")
    d.stop()
finally:
    d.cleanup()
t.done()
