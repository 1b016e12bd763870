#!/usr/bin/env python3
# maildir_dovecot.py: a Maildir written by a real Dovecot keeps its UIDs in Posta
"""Migration from Dovecot with Dovecot's own tools: doveadm fills a Maildir
(messages, a folder, flags, a keyword, an expunge that leaves a UID gap,
a subscription); the maildir plugin, through t/unit/maildir_tool, must
then show the same UIDVALIDITY, UIDs, flags and keywords, continue at
Dovecot's UIDNEXT, and list the subscription.  Skipped when doveadm is
missing.  Dovecot refuses to run as root, so as root the Maildir is made
by the user nobody."""

import os
import pwd
import shutil
import subprocess
import sys
import tempfile

from tap import TAP

t = TAP()
builddir = os.environ.get("POSTA_BUILDDIR", ".")
tool = os.path.join(builddir, "t", "unit", "maildir_tool")
doveadm = shutil.which("doveadm")
if not os.access(tool, os.X_OK) or doveadm is None:
    print("1..0 # SKIP needs %s and doveadm" % tool)
    sys.exit(0)

state = tempfile.mkdtemp(prefix="posta-dovecot-")
os.chmod(state, 0o755)
t.on_fail.append(lambda: t.diag("state dir kept: " + state))
ACCT = "alice@example.com"
maildir = os.path.join(state, "mail", "example.com", "alice")
os.makedirs(maildir)
home = os.path.join(state, "dovecot")
os.makedirs(home)
conf = os.path.join(home, "dovecot.conf")
with open(conf, "w") as f:
    f.write("""base_dir = {h}/run
state_dir = {h}/state
log_path = {h}/log
mail_location = maildir:{m}
first_valid_uid = 1
first_valid_gid = 1
ssl = no
namespace inbox {{
  inbox = yes
  separator = .
}}
""".format(h=home, m=maildir))

as_user = []
if os.getuid() == 0:
    nobody = pwd.getpwnam("nobody")
    for root, dirs, files in os.walk(state):
        for d in dirs + files:
            os.chown(os.path.join(root, d), nobody.pw_uid, nobody.pw_gid)
    os.chown(state, nobody.pw_uid, nobody.pw_gid)
    as_user = ["runuser", "-u", "nobody", "--"]
    user, env_home = "nobody", home
else:
    user, env_home = pwd.getpwuid(os.getuid()).pw_name, home
env = dict(os.environ, USER=user, HOME=env_home)


def dove(*args, stdin=None):
    p = subprocess.run(as_user + [doveadm, "-c", conf] + list(args),
                       input=stdin, capture_output=True, env=env, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("doveadm %s: %s" % (" ".join(args),
                                              p.stderr.decode()))
    return p.stdout.decode()


def tool_run(*args):
    p = subprocess.run([tool, state] + list(args), capture_output=True,
                       timeout=60)
    if p.returncode != 0:
        raise RuntimeError("maildir_tool %s: %s" % (" ".join(args),
                                                   p.stderr.decode()))
    return p.stdout.decode()


def dove_state(box):
    """uidvalidity, uidnext, {uid: (system flags, keywords)}"""
    st = dict(kv.split("=") for kv in
              dove("mailbox", "status", "uidvalidity uidnext",
                   box).split()[1:])
    msgs = {}
    out = dove("-f", "tab", "fetch", "uid flags", "mailbox", box, "all")
    for line in out.splitlines()[1:]:
        uid, flags = (line.split("\t") + [""])[:2]
        fl = flags.split()
        system = "".join(sorted(
            {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R",
             "\\Seen": "S", "\\Deleted": "T"}[x]
            for x in fl if x.startswith("\\") and x != "\\Recent"))
        kws = ",".join(x for x in fl if not x.startswith("\\"))
        msgs[int(uid)] = (system or "-", kws or "-")
    return int(st["uidvalidity"]), int(st["uidnext"]), msgs


def posta_state(box):
    out = tool_run("list", ACCT, box).splitlines()
    uidv = int(out[0].split()[1])
    msgs = {}
    for line in out[1:]:
        uid, letters, kws, _size, _date = line.split()
        msgs[int(uid)] = ("".join(sorted(letters)) if letters != "-"
                          else "-", kws)
    return uidv, msgs


def build():
    for i in range(5):
        dove("save", "-m", "INBOX", stdin=(
            "From: sender%d@example.org\nSubject: message %d\n"
            "Message-ID: <%d@example.org>\n\nbody %d\n" % (i, i, i, i)
        ).encode())
    dove("mailbox", "create", "-s", "Lists.Dev")
    dove("save", "-m", "Lists.Dev", stdin=b"Subject: list mail\n\nx\n")
    dove("flags", "add", "\\Seen $Label1", "mailbox", "INBOX", "uid", "2")
    dove("flags", "add", "\\Flagged \\Answered", "mailbox", "INBOX",
         "uid", "4")
    dove("expunge", "mailbox", "INBOX", "uid", "3")


def compare():
    for box in ("INBOX", "Lists.Dev"):
        d_uidv, d_next, d_msgs = dove_state(box)
        p_uidv, p_msgs = posta_state(box)
        t.eq(p_uidv, d_uidv, "%s: UIDVALIDITY taken over" % box)
        t.eq(sorted(p_msgs), sorted(d_msgs), "%s: same UIDs" % box)
        t.eq(p_msgs, d_msgs, "%s: same flags and keywords" % box)
        status = tool_run("status", ACCT, box).split()
        t.eq(int(status[status.index("uidnext") + 1]), d_next,
             "%s: UIDNEXT continues Dovecot's" % box)
    folders = tool_run("folders", ACCT).splitlines()
    dev = [f for f in folders if f.split()[0] == "Lists.Dev"]
    t.ok(dev and int(dev[0].split()[1]) & 4,
         "Lists.Dev is listed and subscribed (%r)" % dev)
    # new mail continues after Dovecot's last UID
    msg = os.path.join(state, "new.eml")
    with open(msg, "w") as f:
        f.write("Subject: after the move\r\n\r\nhello\r\n")
    _, d_next, _ = dove_state("INBOX")
    out = tool_run("deliver", ACCT, msg).split()
    t.eq(int(out[1]), d_next, "the first Posta delivery gets UIDNEXT")


t.run(build, "doveadm builds a Maildir")
t.run(compare, "the plugin shows Dovecot's UIDs")
if t.failed == 0:
    shutil.rmtree(state, ignore_errors=True)
t.done()
