# auth_live.py: auth-lmdb inside a running postad: logins, resolution, live admin changes, bad databases
import os
import subprocess

from posta import BUILDDIR, LineClient, Postad
from tap import TAP

t = TAP()
POSTA_BIN = os.path.join(BUILDDIR, "tools", "posta", "posta")
POSTAD = os.path.join(BUILDDIR, "core", "postad")
BLOCKS = "plugin auth-lmdb {\n}\n"
SVC = {"e": {"protocol": "echo", "allow_plaintext_auth": "yes"}}


def admin(d, *args, stdin="", check=True):
    r = subprocess.run([POSTA_BIN, "--state-dir", d.state, "--config",
                        d.conf] + list(args), input=stdin,
                       capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise RuntimeError("posta %s: %s" % (args, r.stderr))
    return r


def login(d, user, pw):
    c = LineClient(d.connect("e"))
    c.line()
    reply = c.cmd("LOGIN %s %s" % (user, pw))
    c.close()
    return reply


def resolve(d, address):
    c = LineClient(d.connect("e"))
    c.line()
    reply = c.cmd("RESOLVE " + address)
    c.close()
    return reply


def test_bad_databases():
    d = Postad(SVC, blocks=BLOCKS, start=False)
    try:
        p = subprocess.run([POSTAD, "-F", "-c", d.conf], capture_output=True,
                           text=True, timeout=30)
        t.ok(p.returncode != 0, "missing database: postad refuses to start")
        t.contains(p.stderr, "posta domain add",
                   "missing database: the message says how to create it")
        admin(d, "domain", "add", "example.com")
        data = os.path.join(d.state, "auth", "data.mdb")
        with open(data, "r+b") as f:
            f.write(b"\x00garbage" * 512)
        p = subprocess.run([POSTAD, "-F", "-c", d.conf], capture_output=True,
                           text=True, timeout=30)
        t.ok(p.returncode == 1, "damaged database: a clean refusal, no crash "
             "(exit %d)" % p.returncode)
        t.contains(p.stderr, d.state + "/auth",
                   "damaged database: the message names it")
    finally:
        d.cleanup()


def test_live():
    d = Postad(SVC, blocks=BLOCKS, tap=t, start=False)
    try:
        admin(d, "domain", "add", "example.com")
        admin(d, "user", "add", "alice@example.com", "--password-stdin",
              stdin="alice-pw\n")
        d.start()
        t.eq(login(d, "alice@example.com", "alice-pw"),
             "+OK logged in as alice@example.com", "a user logs in")
        t.eq(login(d, "Alice@EXAMPLE.com", "alice-pw"),
             "+OK logged in as alice@example.com",
             "case-insensitive, canonical account name")
        t.ok(login(d, "alice@example.com", "nope").startswith("-ERR [FAIL]"),
             "wrong password fails")
        t.ok(login(d, "carol@example.com", "x").startswith("-ERR [FAIL]"),
             "unknown user fails")
        # changes while postad runs are seen at the next lookup
        admin(d, "user", "add", "bob@example.com", "--password-stdin",
              stdin="bob-pw\n")
        t.eq(login(d, "bob@example.com", "bob-pw"),
             "+OK logged in as bob@example.com",
             "a user added while postad runs can log in at once")
        admin(d, "user", "passwd", "bob@example.com", "--password-stdin",
              stdin="bob-new\n")
        t.ok(login(d, "bob@example.com", "bob-pw").startswith("-ERR"),
             "the old password stops working at once")
        t.ok(login(d, "bob@example.com", "bob-new").startswith("+OK"),
             "the new one works")
        admin(d, "user", "disable", "bob@example.com")
        t.ok(login(d, "bob@example.com", "bob-new").startswith("-ERR"),
             "a disabled user cannot log in")
        admin(d, "user", "enable", "bob@example.com")
        t.ok(login(d, "bob@example.com", "bob-new").startswith("+OK"),
             "enabled again")
        admin(d, "alias", "add", "info@example.com",
              "alice@example.com,bob@example.com,someone@elsewhere.test")
        admin(d, "domain", "add", "example.net")
        admin(d, "alias-domain", "add", "example.org", "example.com")
        admin(d, "catch-all", "set", "example.net", "alice@example.com")
        t.ok(login(d, "info@example.com", "alice-pw").startswith("-ERR"),
             "an alias never logs in, even with a target's password")
        t.ok(login(d, "alice@example.org", "alice-pw").startswith("-ERR"),
             "an alias-domain address never logs in")
        t.eq(resolve(d, "alice@example.com"),
             "+RESOLVE LOCAL alice@example.com", "a user resolves to itself")
        t.eq(resolve(d, "info@example.com"),
             "+RESOLVE LOCAL alice@example.com bob@example.com "
             "ext:someone@elsewhere.test",
             "an alias resolves to local accounts and external targets")
        t.eq(resolve(d, "ALICE@example.org"),
             "+RESOLVE LOCAL alice@example.com",
             "an alias-domain address resolves into the target domain")
        t.eq(resolve(d, "whoever@example.net"),
             "+RESOLVE LOCAL alice@example.com", "catch-all")
        t.eq(resolve(d, "nobody@example.com"), "+RESOLVE UNKNOWN",
             "unknown local address")
        t.eq(resolve(d, "x@elsewhere.test"), "+RESOLVE EXTERNAL",
             "a domain that is not ours is external")
        admin(d, "alias", "add", "loop2@example.com", "alice@example.com")
        admin(d, "alias", "add", "loop1@example.com", "loop2@example.com")
        admin(d, "alias", "add", "loop2@example.com", "loop1@example.com")
        t.eq(resolve(d, "loop1@example.com"),
             "+RESOLVE LOCAL alice@example.com",
             "an alias loop is cut, its other targets kept")
        d.stop()
    finally:
        d.cleanup()


t.run(test_bad_databases, "bad databases")
t.run(test_live, "live")
t.done()
