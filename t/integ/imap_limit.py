# imap_limit.py: the limiter's IMAP cap through real logins: 25 per user and address
import imaplib
import os
import socket

import imap_common as ic
from posta import BUILDDIR, client_tls_context
from tap import TAP

t = TAP()

if not os.path.exists(os.path.join(BUILDDIR, "plugins", "limiter",
                                   "limiter.la")):
    t.skip("IMAP session cap", "plugins/limiter is not built")
    t.done()

d = ic.start(t, limiter=True, limiter_extra="  max_connections_per_ip = 4\n")


def connect_from(src, service):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(15)
    s.bind((src, 0))
    s.connect(("127.0.0.1", d.ports[service]))
    return s


class IMAPFrom(imaplib.IMAP4_SSL):
    """imaplib over implicit TLS from a chosen loopback address."""

    def __init__(self, src):
        self.src = src
        super().__init__("127.0.0.1", d.ports["imaps"],
                         ssl_context=client_tls_context(), timeout=15)

    def _create_socket(self, timeout):
        s = connect_from(self.src, "imaps")
        return self.ssl_context.wrap_socket(s, server_hostname=None)


def login_error(c, user):
    try:
        c.login(user, ic.PASSWORD)
        return None
    except imaplib.IMAP4.error as e:
        return str(e)


def test_cap():
    sessions = []
    for i in range(25):
        if i % 2:
            c = ic.imaps(d)
        else:
            c = ic.imap_starttls(d)
        c.select("INBOX")
        sessions.append(c)
    t.ok(True, "25 sessions for one user from 127.0.0.1 (imap and imaps)")
    extra = ic.imap_starttls(d, login=False)
    err = login_error(extra, "a@example.com")
    t.ok(err is not None and "[LIMIT]" in err and "25" in err,
         "the 26th login (over STARTTLS) gets NO [LIMIT] naming it: %s" % err)
    extra2 = ic.imaps(d, login=False)
    err = login_error(extra2, "a@example.com")
    t.ok(err is not None and "[LIMIT]" in err,
         "and over IMAPS: imap and imaps count together")
    t.eq(extra2.noop()[0], "OK", "the refused connection stays open")
    t.ok(all(c.noop()[0] == "OK" and c.fetch("1:*", "(FLAGS)")[0] == "OK"
             for c in sessions), "the 25 keep working")
    b = ic.imaps(d, "b@example.com")
    t.eq(b.select("INBOX")[0], "OK", "another user from 127.0.0.1 is fine")
    b.logout()
    other = IMAPFrom("127.0.0.2")
    t.eq(login_error(other, "a@example.com"), None,
         "the same user from 127.0.0.2 is fine")
    other.logout()
    sessions.pop().logout()
    t.eq(login_error(extra2, "a@example.com"), None,
         "after one LOGOUT the refused connection can log in")
    extra2.logout()
    extra.logout()
    # a session cut off without LOGOUT gives its slot back as well
    sessions.pop().sock.close()
    again = None
    for _ in range(50):
        c = ic.imaps(d, login=False)
        err = login_error(c, "a@example.com")
        if err is None:
            again = c
            break
        c.logout()
    t.ok(again is not None, "a dropped session's slot comes back")
    if again is not None:
        again.logout()
    for c in sessions:
        c.logout()


def test_connect_refusal():
    socks = [connect_from("127.0.0.3", "imap") for _ in range(4)]
    for s in socks:
        s.recv(4096)
    s = connect_from("127.0.0.3", "imap")
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    t.ok(data.startswith(b"* BYE "), "a connect-hook refusal is * BYE: %r" %
         data)
    for x in socks + [s]:
        x.close()


t.run(test_cap, "session cap")
t.run(test_connect_refusal, "connect refusal")
d.stop()
d.cleanup()
t.done()
