# pop3_util.py: shared setup for the pop3_*.py tests: server, users, Maildir
import os
import poplib
import socket
import subprocess
import time

from posta import BUILDDIR, Postad, client_tls_context

POSTA_BIN = os.path.join(BUILDDIR, "tools", "posta", "posta")
PLUGINS = "plugin auth-lmdb {\n}\nplugin maildir {\n}\n"


def start(tap, users, limiter=False, blocks="", services=None, **kw):
    """postad with pop3 (STLS) and pop3s (implicit TLS), auth-lmdb and
    maildir; limiter only when asked (its caps are what it tests).  users
    ({address: password}) are created first: auth-lmdb wants its
    database to exist when postad starts."""
    if services is None:
        services = {
            "pop3": {"protocol": "pop3", "tls": "starttls"},
            "pop3s": {"protocol": "pop3", "tls": "implicit"},
        }
    extra = PLUGINS + ("plugin limiter {\n}\n" if limiter else "") + blocks
    d = Postad(services, blocks=extra, tap=tap, start=False, **kw)
    for address, password in users.items():
        add_user(d, address, password)
    d.start()
    return d


def admin(d, *args, stdin=""):
    # --config: before postad's first start the tool learns from it whose
    # the database files must be
    r = subprocess.run([POSTA_BIN, "--state-dir", d.state, "--config",
                        d.conf] + list(args),
                       input=stdin, capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError("posta %s: rc=%d %s" % (
            " ".join(args), r.returncode, r.stderr.strip()))
    return r.stdout


def add_user(d, address, password):
    domain = address.split("@", 1)[1]
    if not hasattr(d, "pop3_domains"):
        d.pop3_domains = set()
    if domain not in d.pop3_domains:
        admin(d, "domain", "add", domain)
        d.pop3_domains.add(domain)
    admin(d, "user", "add", address, "--password-stdin",
          stdin=password + "\n")


def maildir(d, address):
    """The user's INBOX in Maildir++ (mail root <state>/mail/%d/%n)."""
    local, domain = address.split("@", 1)
    return os.path.join(d.state, "mail", domain, local)


def pop3s(d, user=None, password=None, timeout=20):
    """A poplib client over implicit TLS, logged in when asked."""
    p = poplib.POP3_SSL("127.0.0.1", d.ports["pop3s"], timeout=timeout,
                        context=client_tls_context())
    if user is not None:
        p.user(user)
        p.pass_(password)
    return p


def drop(p):
    """Drops a poplib connection without QUIT (poplib's file object
    would keep the socket open past sock.close())."""
    try:
        p.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    p.file.close()
    p.sock.close()


def ensure_maildir(d, address, password):
    """Logs in once so the store creates the Maildir, then checks it."""
    p = pop3s(d, address, password)
    p.quit()
    path = maildir(d, address)
    for sub in ("cur", "new", "tmp"):
        if not os.path.isdir(os.path.join(path, sub)):
            raise RuntimeError("no Maildir at %s" % path)
    return path


_seq = [0]


def deliver(d, address, data, sub="new"):
    """Puts a message into the Maildir the way an external MDA does:
    written in tmp/, then renamed into new/.  Returns the file name."""
    path = maildir(d, address)
    st = os.stat(path)
    _seq[0] += 1
    name = "%d.M%dP%dQ%d.test" % (int(time.time()), _seq[0], os.getpid(),
                                   _seq[0])
    tmp = os.path.join(path, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(data)
    # postad runs unprivileged: the file must be its to rename and read
    os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, 0o600)
    final = os.path.join(path, sub, name + (":2," if sub == "cur" else ""))
    os.rename(tmp, final)
    return name


def maildir_files(d, address):
    path = maildir(d, address)
    out = []
    for sub in ("new", "cur"):
        out += [os.path.join(sub, n) for n in os.listdir(
            os.path.join(path, sub))]
    return sorted(out)


def message(i, body_lines=3, extra=b""):
    """A small message with CRLF line ends."""
    lines = [b"From: sender@example.net", b"To: user@example.com",
             b"Subject: message %d" % i, b"Message-ID: <%d@test>" % i, b""]
    lines += [b"line %d of message %d" % (j, i) for j in range(body_lines)]
    return b"\r\n".join(lines) + b"\r\n" + extra


def raw_pop3s(d, timeout=10):
    from posta import LineClient
    return LineClient(d.connect_tls("pop3s", timeout=timeout))


def raw_pop3(d, timeout=10):
    from posta import LineClient
    return LineClient(d.connect("pop3", timeout=timeout))


def read_multi(c):
    """Lines of a multi-line response up to the lone ".", unstuffed."""
    out = []
    while True:
        line = c.line()
        if line == ".":
            return out
        out.append(line[1:] if line.startswith("..") else line)


def wait_closed(c, timeout=10):
    c.sock.settimeout(timeout)
    try:
        return c.closed()
    except (OSError, socket.timeout):
        return True
