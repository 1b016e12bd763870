# smtp_util.py: shared setup for the smtp_*.py tests: server, directory, Maildir
import glob
import os
import shutil
import subprocess

from posta import (BUILDDIR, SANITIZERS, LineClient, Postad,  # noqa: F401
                   client_tls_context)

POSTA_BIN = os.path.join(BUILDDIR, "tools", "posta", "posta")
SWAKS = shutil.which("swaks")

USERS = {
    "alice@example.com": "alice-secret",
    "bob@example.com": "bob-secret",
    "carol@example.org": "carol-secret",
}
ALIASES = {
    "info@example.com": "alice@example.com",
    "team@example.com": "alice@example.com,bob@example.com",
    "fwd@example.com": "alice@example.com,someone@elsewhere.test",
}
ALIAS_DOMAINS = {"example.net": "example.com"}


def have_module(path):
    return os.path.exists(os.path.join(BUILDDIR, path))


def start(tap, services=None, smtp_settings="", extra_blocks="",
          pop3=False):
    """postad with smtp (STARTTLS), submission (STARTTLS) and smtps
    (implicit TLS), auth-lmdb with USERS/ALIASES/ALIAS_DOMAINS and
    maildir; pop3s too when asked and built.  smtp_settings go into each
    of the three protocol blocks."""
    if services is None:
        services = {
            "smtp": {"protocol": "smtp", "tls": "starttls",
                     "max_line_length": "12k"},
            "submission": {"protocol": "submission", "tls": "starttls",
                           "max_line_length": "12k"},
            "smtps": {"protocol": "smtps", "tls": "implicit",
                      "max_line_length": "12k"},
        }
        if pop3:
            services["pop3s"] = {"protocol": "pop3", "tls": "implicit"}
    blocks = "plugin auth-lmdb {\n}\nplugin maildir {\n}\n"
    for proto in ("smtp", "submission", "smtps"):
        blocks += "protocol %s {\n  postmaster_address = " \
                  "alice@example.com\n%s\n}\n" % (proto, smtp_settings)
    blocks += extra_blocks
    d = Postad(services, blocks=blocks, tap=tap, start=False)
    domains = sorted({a.split("@", 1)[1] for a in USERS})
    for dom in domains:
        admin(d, "domain", "add", dom)
    for alias, target in ALIAS_DOMAINS.items():
        admin(d, "alias-domain", "add", alias, target)
    for address, password in USERS.items():
        admin(d, "user", "add", address, "--password-stdin",
              stdin=password + "\n")
    for alias, targets in ALIASES.items():
        admin(d, "alias", "add", alias, targets)
    d.start()
    return d


def admin(d, *args, stdin=""):
    r = subprocess.run([POSTA_BIN, "--state-dir", d.state, "--config",
                        d.conf] + list(args),
                       input=stdin, capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError("posta %s: rc=%d %s" % (
            " ".join(args), r.returncode, r.stderr.strip()))
    return r.stdout


def maildir(d, address):
    local, domain = address.split("@", 1)
    return os.path.join(d.state, "mail", domain, local)


def inbox_files(d, address):
    """Every message file in the user's INBOX (new/ and cur/), in order
    of delivery (the file's change time, then its name)."""
    base = maildir(d, address)
    files = glob.glob(os.path.join(base, "new", "*")) + \
        glob.glob(os.path.join(base, "cur", "*"))
    return sorted(files, key=lambda p: (os.stat(p).st_ctime_ns,
                                        os.path.basename(p)))


def inbox(d, address):
    """The contents of every message in the INBOX, oldest first."""
    out = []
    for path in inbox_files(d, address):
        with open(path, "rb") as f:
            out.append(f.read())
    return out


class Inbox:
    """What arrived in an INBOX since the object was made."""

    def __init__(self, d, address):
        self.d = d
        self.address = address
        self.before = set(self.key(p) for p in inbox_files(d, address))

    @staticmethod
    def key(path):
        # the unique part of a Maildir name: moving new/ -> cur/ and
        # flag changes keep it
        return os.path.basename(path).split(":")[0].split(",")[0]

    def new(self):
        out = []
        for path in inbox_files(self.d, self.address):
            if self.key(path) not in self.before:
                with open(path, "rb") as f:
                    out.append(f.read())
        return out


def split_trace(msg):
    """(trace fields we add at the top, the rest) of a delivered message:
    Return-Path and the folded Received field."""
    lines = msg.split(b"\r\n")
    i = 0
    if lines and lines[0].startswith(b"Return-Path: "):
        i = 1
    if i < len(lines) and lines[i].startswith(b"Received: "):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    return b"\r\n".join(lines[:i]) + b"\r\n", b"\r\n".join(lines[i:])


def client(d, service="smtp"):
    """A LineClient past the 220 greeting."""
    c = LineClient(d.connect(service))
    c.greeting = c.line()
    return c


def read_reply(c):
    """One (possibly multi-line) reply: (code, [texts])."""
    texts = []
    while True:
        line = c.line()
        texts.append(line[4:])
        if len(line) < 4 or line[3] != "-":
            return int(line[:3]), texts


def cmd(c, text):
    c.send(text + "\r\n")
    return read_reply(c)


def starttls(c):
    code, _ = cmd(c, "STARTTLS")
    if code != 220:
        raise RuntimeError("STARTTLS refused: %d" % code)
    c.sock = client_tls_context().wrap_socket(c.sock)


def swaks(d, service, *args, timeout=30):
    """Runs swaks against a service; returns (rc, output)."""
    cmdline = [SWAKS, "--server", "127.0.0.1:%d" % d.ports[service],
               "--timeout", "20", "--helo", "client.test"] + list(args)
    r = subprocess.run(cmdline, capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def wait_closed(c, timeout=10):
    c.sock.settimeout(timeout)
    return c.closed()
