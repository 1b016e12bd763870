# imap_clients.py: real IMAP clients against postad: curl and mbsync (isync)
import os
import shutil
import subprocess

import imap_common as ic
from tap import TAP

t = TAP()
d = ic.start(t)
USER = "a@example.com"


def curl(*args, data=None):
    cmd = ["curl", "-sS", "-k", "--max-time", "30", "--user",
           "%s:%s" % (USER, ic.PASSWORD)] + list(args)
    return subprocess.run(cmd, input=data, capture_output=True, timeout=60)


def test_curl():
    if shutil.which("curl") is None:
        t.skip("curl tests", "curl is not installed")
        return
    base = "imaps://127.0.0.1:%d" % d.ports["imaps"]
    c = ic.imaps(d)
    for i in range(1, 4):
        c.append("INBOX", None, None, ic.message(i))
    c.logout()
    p = curl(base + "/INBOX", "-X", "EXAMINE INBOX")
    out = p.stdout.decode()
    t.ok(p.returncode == 0 and "3 EXISTS" in out and "UIDVALIDITY" in out,
         "curl EXAMINE INBOX: %r" % (out or p.stderr)[:300])
    p = curl(base + "/INBOX;UID=2")
    t.eq(p.stdout, ic.message(2), "curl fetches a message by UID")
    p = curl(base + "/")
    out = p.stdout.decode()
    t.ok(p.returncode == 0 and '"INBOX"' in out and "Sent" in out,
         "curl lists mailboxes")
    upload = os.path.join(d.dir, "upload.eml")
    with open(upload, "wb") as f:
        f.write(ic.message(42, subject="uploaded by curl"))
    p = curl(base + "/INBOX", "-T", upload)
    t.eq(p.returncode, 0, "curl uploads (APPEND): %r" % p.stderr[-200:])
    p = curl(base + "/INBOX", "-X", "SEARCH SUBJECT curl")
    t.ok(b"SEARCH 4" in p.stdout, "the upload is found: %r" % p.stdout)
    p = curl("imap://127.0.0.1:%d/INBOX;UID=1" % d.ports["imap"],
             "--ssl-reqd")
    t.eq(p.stdout, ic.message(1), "curl over STARTTLS")
    p = subprocess.run(["curl", "-sS", "-k", "--user", USER + ":wrong",
                        base + "/INBOX;UID=1"], capture_output=True,
                       timeout=60)
    t.ok(p.returncode != 0, "curl with a wrong password fails")


def count(path):
    n = 0
    for sub in ("cur", "new"):
        p = os.path.join(path, sub)
        if os.path.isdir(p):
            n += len(os.listdir(p))
    return n


def local_msg(path, name, data):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    with open(os.path.join(path, "cur", name + ":2,S"), "wb") as f:
        f.write(data)


def test_mbsync():
    if shutil.which("mbsync") is None:
        t.skip("mbsync tests", "mbsync (isync) is not installed")
        return
    local = os.path.join(d.dir, "local")
    rc = os.path.join(d.dir, "mbsyncrc")
    with open(rc, "w") as f:
        f.write("""IMAPAccount test
Host localhost
Port %d
User %s
Pass "%s"
SSLType IMAPS
CertificateFile %s

IMAPStore remote
Account test

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel test
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""" % (d.ports["imaps"], USER, ic.PASSWORD, d.cert, local, local))
    local_msg(os.path.join(local, "Projects"), "1.1.host",
              ic.message(100, subject="local project"))
    local_msg(os.path.join(local, "Projects", "Alpha"), "2.1.host",
              ic.message(101, subject="local alpha"))
    local_msg(os.path.join(local, "Projects", "Alpha"), "3.1.host",
              ic.message(102, subject="local alpha 2"))
    c = ic.imaps(d)
    c.create("Remote.Sub")
    c.append("Remote.Sub", None, None, ic.message(200))
    c.logout()

    def sync(what):
        p = subprocess.run(["mbsync", "-c", rc, "-a"], capture_output=True,
                           timeout=120, cwd=d.dir)
        if p.returncode != 0:
            t.diag(p.stdout.decode()[-1500:] + p.stderr.decode()[-1500:])
        t.eq(p.returncode, 0, "mbsync %s" % what)

    def remote_counts():
        c = ic.imaps(d)
        out = {}
        for name in ("INBOX", "Projects", "Projects.Alpha", "Remote.Sub"):
            typ, data = c.status(name, "(MESSAGES)")
            out[name] = int(data[0].split()[-1].rstrip(b")")) \
                if typ == "OK" else None
        c.logout()
        return out

    sync("first run")
    r1 = remote_counts()
    l1 = {"INBOX": count(os.path.join(local, "INBOX")),
          "Projects": count(os.path.join(local, "Projects")),
          "Projects.Alpha": count(os.path.join(local, "Projects", "Alpha")),
          "Remote.Sub": count(os.path.join(local, "Remote", "Sub"))}
    t.eq(r1["Projects.Alpha"], 2, "local folder tree reached the server")
    t.eq(r1["Projects"], 1, "with its parent's message")
    t.eq(l1["Remote.Sub"], 1, "the server's folder reached the Maildir")
    t.eq(l1["INBOX"], r1["INBOX"], "INBOX in step (%d)" % l1["INBOX"])
    sync("second run")
    t.eq(remote_counts(), r1, "second run: no duplicates on the server")
    # both sides change, then two more runs
    local_msg(os.path.join(local, "Projects"), "9.1.host",
              ic.message(300, subject="new local"))
    c = ic.imaps(d)
    c.append("Remote.Sub", None, None, ic.message(301))
    t.eq(c.select("Projects.Alpha")[0], "OK", "select a synced folder")
    c.store("1", "+FLAGS", "(\\Deleted)")
    c.expunge()
    c.logout()
    sync("after changes on both sides")
    sync("once more")
    r2 = remote_counts()
    t.eq(r2["Projects"], 2, "the new local message is on the server once")
    t.eq(count(os.path.join(local, "Remote", "Sub")), 2,
         "the new server message is in the Maildir once")
    t.eq(count(os.path.join(local, "Projects", "Alpha")), 1,
         "the server-side expunge reached the Maildir")
    t.eq(r2["Remote.Sub"], 2, "no duplicates on the server")


t.run(test_curl, "curl")
t.run(test_mbsync, "mbsync")
d.stop()
d.cleanup()
t.done()
