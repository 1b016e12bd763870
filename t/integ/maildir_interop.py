#!/usr/bin/env python3
# maildir_interop.py: Python's mailbox.Maildir reads what the plugin wrote, and back
"""The maildir plugin and an independent Maildir implementation (Python's
mailbox.Maildir) read each other's work: messages, flags, folders, and
changes made on either side.  The plugin is driven by t/unit/maildir_tool
(built by make check), which loads it through a fake host."""

import email
import email.policy
import mailbox
import os
import shutil
import subprocess
import sys
import tempfile

from tap import TAP

t = TAP()
builddir = os.environ.get("POSTA_BUILDDIR", ".")
tool = os.path.join(builddir, "t", "unit", "maildir_tool")
if not os.access(tool, os.X_OK):
    print("1..0 # SKIP %s not built" % tool)
    sys.exit(0)

state = tempfile.mkdtemp(prefix="posta-interop-")
t.on_fail.append(lambda: t.diag("state dir kept: " + state))
ACCT = "alice@example.com"
maildir = os.path.join(state, "mail", "example.com", "alice")


def run(*args, ok=True):
    p = subprocess.run([tool, state] + list(args), capture_output=True,
                       timeout=60)
    if ok and p.returncode != 0:
        t.diag("maildir_tool %s: %s" % (" ".join(args),
                                        p.stderr.decode(errors="replace")))
        raise RuntimeError("maildir_tool failed")
    return p.stdout


def listing(box="INBOX"):
    """{uid: (letters, keywords, size)} and the UIDVALIDITY."""
    out = run("list", ACCT, box).decode().splitlines()
    uidv = int(out[0].split()[1])
    msgs = {}
    for line in out[1:]:
        uid, letters, kws, size, _date = line.split()
        msgs[int(uid)] = (letters, kws, int(size))
    return uidv, msgs


def crlf(b):
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def write(name, data):
    path = os.path.join(state, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


MSGS = [
    b"From: Bob <bob@example.org>\r\nTo: alice@example.com\r\n"
    b"Subject: first\r\nMessage-ID: <a1@example.org>\r\n\r\nHello\r\n",
    # bare LF line ends, as many programs write them
    b"From: Carol <carol@example.net>\nSubject: second\n"
    b"Message-ID: <a2@example.net>\n\nline\n.dot line\n",
    b"From: Dave <dave@example.com>\r\nSubject: =?UTF-8?B?w7xtbGF1dA==?=\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n"
    b"\r\n--b\r\nContent-Type: text/plain\r\n\r\npart\r\n--b--\r\n",
]


def posta_writes():
    files = [write("m%d.eml" % i, m) for i, m in enumerate(MSGS)]
    out = run("deliver", ACCT, *files).decode().split()
    t.eq(out, ["uid", "1", "uid", "2", "uid", "3"], "three deliveries")
    run("append", ACCT, "Sent", files[0], "SF", "$Forwarded")
    run("store", ACCT, "INBOX", "2", "+RS")
    run("store", ACCT, "INBOX", "3", "+T")
    run("append", ACCT, "Drafts", files[1], "D")

    md = mailbox.Maildir(maildir, factory=None, create=False)
    t.eq(sorted(md.list_folders()), ["Drafts", "Junk", "Sent", "Trash"],
         "Python sees the special-use folders")
    got, raw_of = {}, {}
    for key, msg in md.items():
        got[msg["Message-ID"]] = msg
        raw_of[msg["Message-ID"]] = md.get_bytes(key)
    t.eq(len(got), 3, "Python reads three messages in INBOX")
    want_flags = {"<a1@example.org>": "", "<a2@example.net>": "RS",
                  None: "T"}
    for i, raw in enumerate(MSGS):
        m = email.message_from_bytes(raw, policy=email.policy.compat32)
        pm = got.get(m["Message-ID"])
        if not t.ok(pm is not None, "message %d found by Python" % i):
            continue
        t.eq(raw_of[m["Message-ID"]], crlf(raw),
             "message %d bytes as delivered, in CRLF form" % i)
        t.eq(pm.get_flags(), want_flags[m["Message-ID"]],
             "message %d flags" % i)
        t.eq(pm["Subject"], m["Subject"], "message %d subject" % i)
    # files written by the plugin are CRLF and say their size: S= equals
    # the file size, as other readers (Dovecot, quota tools) expect
    for sub in ("cur", "new"):
        for name in os.listdir(os.path.join(maildir, sub)):
            size = os.path.getsize(os.path.join(maildir, sub, name))
            field = [f for f in name.split(":")[0].split(",")
                     if f.startswith("S=")]
            t.eq(field, ["S=%d" % size], "S= of %s" % name)
    sent = md.get_folder("Sent")
    msgs = list(sent.values())
    t.eq(len(msgs), 1, "Python reads the appended message in Sent")
    t.eq(msgs[0].get_flags(), "FSa", "appended flags and keyword letter")
    t.eq(msgs[0].get_subdir(), "cur", "appended message is in cur/")
    drafts = list(md.get_folder("Drafts").values())
    t.eq([m.get_flags() for m in drafts], ["D"], "draft flag")


def python_writes():
    md = mailbox.Maildir(maildir, factory=None, create=False)
    # a new message from another MUA, already read and replied to
    m = mailbox.MaildirMessage(
        b"From: Eve <eve@example.com>\nSubject: from python\n"
        b"Message-ID: <p1@example.com>\n\nwritten by mailbox.Maildir\n")
    m.set_subdir("cur")
    m.set_flags("RS")
    key_new = md.add(m)
    # flags of a message the plugin indexed, changed by the other MUA
    for key, msg in md.items():
        if msg["Message-ID"] == "<a1@example.org>":
            msg.set_flags("F")
            md[key] = msg           # rewrites the file under a new name
    for key, msg in md.items():
        if msg["Message-ID"] == "<a2@example.net>":
            md.remove(key)
    # a whole folder made by Python, nested in Maildir++ style
    arch = md.add_folder("Archive.2024")
    arch.add(mailbox.MaildirMessage(b"Subject: archived\n\nold\n"))
    md.close()

    uidv, msgs = listing()
    t.ok(2 not in msgs, "a message Python removed is expunged")
    t.ok(1 in msgs and 3 in msgs, "the other messages keep their UIDs")
    t.eq(msgs.get(3, ("", "", 0))[0], "T", "uid 3 kept its flags")
    new = [u for u in msgs if u > 3]
    t.ok(len(new) >= 1, "Python's message got a new UID (%r)" % new)
    mine = msgs.get(max(new), ("", "", 0)) if new else ("", "", 0)
    expect = crlf(b"From: Eve <eve@example.com>\nSubject: from python\n"
                  b"Message-ID: <p1@example.com>\n\n"
                  b"written by mailbox.Maildir\n")
    t.eq(mine[0], "RS", "its flags came from the file name")
    t.eq(mine[2], len(expect), "its size is that of the CRLF form")
    if new:
        body = run("cat", ACCT, "INBOX", str(max(new)))
        t.eq(body, expect, "the plugin serves it with CRLF line ends")
    # Python rewrote message 1 under its old base name with new flags
    t.eq(msgs.get(1, ("",))[0], "F", "the flag Python set is seen")
    folders = run("folders", ACCT).decode().splitlines()
    names = [f.split()[0] for f in folders]
    t.ok("Archive.2024" in names, "Python's nested folder is listed")
    t.ok("Archive" in names, "its parent is listed too")
    uidv2, amsgs = listing("Archive.2024")
    t.eq(len(amsgs), 1, "its message is read")
    # the UIDs stay put across more runs (a restart each)
    uidv3, again = listing()
    t.eq((uidv3, again), (uidv, msgs), "a restart changes nothing")


def posta_changes_seen_by_python():
    run("store", ACCT, "INBOX", "3", "-T")
    run("store", ACCT, "INBOX", "3", "+S", "$label1")
    run("expunge", ACCT, "INBOX", "1")
    md = mailbox.Maildir(maildir, factory=None, create=False)
    flags = {}
    for key, msg in md.items():
        flags[msg["Message-ID"]] = msg.get_flags()
    t.ok("<a1@example.org>" not in flags, "the expunged file is gone")
    dave = [f for mid, f in flags.items() if mid is None]
    t.eq(dave, ["Sa"], "Python sees flags and the keyword letter")
    with open(os.path.join(maildir, "dovecot-keywords")) as f:
        t.eq(f.read(), "0 $label1\n", "keyword letter a is $label1")


t.run(posta_writes, "the plugin writes, Python reads")
t.run(python_writes, "Python writes, the plugin reads")
t.run(posta_changes_seen_by_python, "later changes seen by Python")
if t.failed == 0:
    shutil.rmtree(state, ignore_errors=True)
t.done()
