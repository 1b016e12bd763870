# pop3_clients.py: curl (pop3s://, STLS) and fetchmail over SSL, keep and flush
import os
import re
import shutil
import subprocess

import pop3_util as u
from tap import TAP

t = TAP()
USER, PW = "erin@example.com", "pw-erin"
d = u.start(t, {USER: PW})
MSGS = [u.message(i, body_lines=i + 2) for i in range(4)]
MSGS.append(b"From: x@example.net\r\nSubject: dotted\r\n\r\n.\r\n..x\r\n")


def curl(url, *extra):
    r = subprocess.run(["curl", "-sS", "-k", "--max-time", "30", "--user",
                        "%s:%s" % (USER, PW)] + list(extra) + [url],
                       capture_output=True, timeout=60)
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")


def test_setup():
    u.ensure_maildir(d, USER, PW)
    for m in MSGS:
        u.deliver(d, USER, m)


def test_curl():
    if shutil.which("curl") is None:
        t.ok(True, "# SKIP curl is not installed")
        return
    base = "pop3s://127.0.0.1:%d/" % d.ports["pop3s"]
    rc, out, err = curl(base)
    t.eq(rc, 0, "curl pop3s:// list exits 0 (%s)" % err.strip())
    lines = out.decode().split("\r\n")
    t.eq([l.split()[0] for l in lines if l], ["1", "2", "3", "4", "5"],
         "curl lists five messages")
    sizes = [int(l.split()[1]) for l in lines if l]
    for n in (1, 5):
        rc, out, err = curl(base + str(n))
        t.eq(rc, 0, "curl retrieves message %d" % n)
        t.eq(out, MSGS[n - 1], "message %d arrives intact (unstuffed)" % n)
        t.eq(len(out), sizes[n - 1], "its size is what LIST said")
    rc, out, err = curl(base + "9")
    t.ok(rc != 0, "curl of a message that does not exist fails")
    # STLS on the plain port
    rc, out, err = curl("pop3://127.0.0.1:%d/2" % d.ports["pop3"],
                        "--ssl-reqd")
    t.eq((rc, out), (0, MSGS[1]), "curl over pop3:// with STLS (--ssl-reqd)")
    # curl with a wrong password
    r = subprocess.run(["curl", "-sS", "-k", "--max-time", "30", "--user",
                        USER + ":wrong", base], capture_output=True,
                       timeout=60)
    t.ok(r.returncode != 0, "curl with a wrong password fails")


def fetchmail(home, out, *opts):
    rc = os.path.join(home, "fetchmailrc")
    with open(rc, "w") as f:
        f.write('set no syslog\n'
                'poll 127.0.0.1 with proto POP3 service %d\n'
                '  user "%s" there with password "%s" is "root" here\n'
                '  options ssl no sslcertck\n'
                '  mda "cat >> %s"\n' % (d.ports["pop3s"], USER, PW, out))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
    r = subprocess.run(["fetchmail", "-f", rc, "--nodetach", "--nosyslog",
                        "--pidfile", os.path.join(home, "pid"), "-i",
                        os.path.join(home, "ids"), "-v"] + list(opts),
                       capture_output=True, timeout=120, env=env)
    return r.returncode, r.stdout.decode("utf-8", "replace") + \
        r.stderr.decode("utf-8", "replace")


def count(path, needle):
    try:
        with open(path, "rb") as f:
            return f.read().count(needle)
    except FileNotFoundError:
        return 0


def test_fetchmail():
    if shutil.which("fetchmail") is None:
        t.ok(True, "# SKIP fetchmail is not installed")
        return
    home = os.path.join(d.dir, "fetchmail")
    os.mkdir(home, 0o700)
    out = os.path.join(home, "mbox")
    rc, log = fetchmail(home, out, "--keep", "--fetchall", "--uidl")
    if not t.eq(rc, 0, "fetchmail --keep --fetchall exits 0"):
        t.diag(log[-3000:])
    t.eq(count(out, b"\nSubject: "), 5, "fetchmail delivered five messages")
    mbox = open(out, "rb").read().replace(b"\r\n", b"\n")
    t.ok(b"\n\n.\n..x\n" in mbox and b"...x" not in mbox,
         "fetchmail unstuffed the dotted lines")
    p = u.pop3s(d, USER, PW)
    t.eq(p.stat()[0], 5, "keep: all five still on the server")
    p.quit()
    rc, log = fetchmail(home, out, "--keep", "--uidl")
    t.eq(rc, 1, "second keep run: no new mail (UIDLs remembered)")
    t.eq(count(out, b"\nSubject: "), 5, "nothing fetched twice")
    u.deliver(d, USER, u.message(50))
    rc, log = fetchmail(home, out, "--flush", "--uidl")
    if not t.eq(rc, 0, "fetchmail --flush exits 0"):
        t.diag(log[-3000:])
    t.eq(count(out, b"\nSubject: "), 6, "flush run fetched only the new one")
    t.eq(len(re.findall(r"skipping message \S+ flushed", log)), 5,
         "fetchmail flushed the five old messages")
    p = u.pop3s(d, USER, PW)
    t.eq(p.stat()[0], 0, "flush: the server's maildrop is empty now")
    p.quit()
    t.eq(u.maildir_files(d, USER), [], "and so is the Maildir on disk")


t.run(test_setup, "setup")
t.run(test_curl, "curl")
t.run(test_fetchmail, "fetchmail")
d.stop()
d.cleanup()
t.done()
