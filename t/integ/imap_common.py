# imap_common.py: a postad with imap, imaps, auth-lmdb and maildir for IMAP tests
import imaplib
import os
import socket
import ssl
import subprocess

from posta import BUILDDIR, LineClient, Postad, client_tls_context

PASSWORD = "secret pass"


def add_users(d, users, domain="example.com"):
    """Creates domain and users with the admin tool before postad runs;
    --config tells the tool whose the database files must be."""
    posta = os.path.join(BUILDDIR, "tools", "posta", "posta")
    base = [posta, "--state-dir", d.state, "--config", d.conf]
    subprocess.run(base + ["domain", "add", domain], check=True,
                   stdout=subprocess.DEVNULL, timeout=60)
    for u in users:
        subprocess.run(base + ["user", "add", u, "--password-stdin"],
                       input=PASSWORD.encode(), check=True,
                       stdout=subprocess.DEVNULL, timeout=60)


def start(tap, users=("a@example.com", "b@example.com"), limiter=False,
          protocol_extra="", maildir_extra="", services_extra=None,
          plaintext=False, limiter_extra=""):
    services = {
        "imap": {"protocol": "imap", "tls": "starttls"},
        "imaps": {"protocol": "imap", "tls": "implicit"},
    }
    if plaintext:
        services["imapplain"] = {"protocol": "imap",
                                 "allow_plaintext_auth": "yes"}
    if services_extra:
        services.update(services_extra)
    blocks = "plugin auth-lmdb {\n}\nplugin maildir {\n  fsync = no\n%s}\n" \
        "protocol imap {\n%s}\n" % (maildir_extra, protocol_extra)
    if limiter:
        blocks += "plugin limiter {\n%s}\n" % limiter_extra
    d = Postad(services, blocks=blocks, tap=tap, start=False)
    add_users(d, users)
    d.start()
    return d


def imaps(d, user="a@example.com", login=True, timeout=15):
    c = imaplib.IMAP4_SSL("127.0.0.1", d.ports["imaps"],
                          ssl_context=client_tls_context(), timeout=timeout)
    if login:
        c.login(user, PASSWORD)
    return c


def imap_starttls(d, user="a@example.com", login=True, timeout=15):
    c = imaplib.IMAP4("127.0.0.1", d.ports["imap"], timeout=timeout)
    c.starttls(ssl_context=client_tls_context())
    if login:
        c.login(user, PASSWORD)
    return c


class Raw(LineClient):
    """A raw IMAP connection: tagged commands and their untagged lines."""

    def __init__(self, sock):
        super().__init__(sock)
        self.n = 0

    def tag(self):
        self.n += 1
        return "t%d" % self.n

    def until_tagged(self, tag):
        """Lines up to and including the tagged one; returns (untagged,
        tagged)."""
        lines = []
        while True:
            line = self.line()
            if line.startswith(tag + " "):
                return lines, line
            lines.append(line)

    def run(self, text):
        tag = self.tag()
        self.send("%s %s\r\n" % (tag, text))
        return self.until_tagged(tag)


def raw_tls(d, login=True):
    r = Raw(d.connect_tls("imaps"))
    greeting = r.line()
    assert greeting.startswith("* OK"), greeting
    if login:
        _, tagged = r.run('LOGIN "a@example.com" "%s"' % PASSWORD)
        assert " OK " in tagged, tagged
    return r


def message(n, subject=None, body=None, sender="alice@example.org"):
    subject = subject or "Test message %d" % n
    body = body or "Hello number %d.\r\nSecond line.\r\n" % n
    return ("From: %s\r\nTo: a@example.com\r\nSubject: %s\r\n"
            "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
            "Message-ID: <%d@example.org>\r\n\r\n%s" %
            (sender, subject, n, body)).encode()
