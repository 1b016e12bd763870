# core_tls.py: implicit TLS, STARTTLS (with the injection fix), SNI and SIGHUP certificate reload
import hashlib
import shutil
import signal
import socket
import ssl
import os

from posta import LineClient, Postad, client_tls_context, make_cert
from tap import TAP

t = TAP()
d = Postad({
    "echos": {"protocol": "echo", "tls": "implicit"},
    "echo": {"protocol": "echo", "tls": "starttls"},
    "echoplain": {"protocol": "echo"},
}, tap=t, start=False)
alt_cert, alt_key = make_cert(d.dir, "alt", "alt.test")
with open(d.conf, "a") as f:
    f.write("certificate alt.test {\n  cert = %s\n  key = %s\n}\n" %
            (alt_cert, alt_key))
d.start()


def fingerprint(sock):
    return hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()


def file_fp(path):
    der = ssl.PEM_cert_to_DER_cert(open(path).read())
    return hashlib.sha256(der).hexdigest()


def test_implicit():
    c = LineClient(d.connect_tls("echos"))
    t.eq(c.line(), "* echo ready", "greeting arrives over implicit TLS")
    t.ok(c.sock.version() in ("TLSv1.2", "TLSv1.3"),
         "TLS 1.2 or 1.3 negotiated (%s)" % c.sock.version())
    t.ok(c.cmd("TLS").startswith("+TLS TLS1."), "module sees TLS info")
    t.eq(c.cmd("ping"), "+ECHO ping", "echo over TLS")
    t.eq(c.cmd("QUIT"), "+BYE", "QUIT over TLS")
    c.close()


def test_old_tls_refused():
    ctx = client_tls_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    raw = d.connect("echos")
    try:
        ctx.wrap_socket(raw)
        t.ok(False, "TLS 1.1 must be refused")
    except (ssl.SSLError, OSError):
        t.ok(True, "TLS 1.1 is refused")
    raw.close()


def test_starttls():
    c = LineClient(d.connect("echo"))
    c.line()
    t.eq(c.cmd("TLS"), "+TLS off", "plain before STARTTLS")
    t.ok(c.cmd("LOGIN a b").startswith("-ERR [PRIVACY]"),
         "password refused before TLS")
    t.eq(c.cmd("STARTTLS"), "+OK begin TLS", "STARTTLS accepted")
    c.sock = client_tls_context().wrap_socket(c.sock)
    t.ok(c.cmd("TLS").startswith("+TLS TLS1."), "TLS after STARTTLS")
    t.eq(c.cmd("STARTTLS"), "+OK begin TLS", "second STARTTLS: reply")
    t.ok(c.line().startswith("-ERR"), "second STARTTLS refused")
    c.close()


def test_injection():
    # CVE-2011-0411: commands pipelined with STARTTLS must never run
    c = LineClient(d.connect("echo"))
    c.line()
    c.send("STARTTLS\r\nINJECTED\r\n")
    t.eq(c.line(), "+OK begin TLS", "STARTTLS answered")
    c.sock = client_tls_context().wrap_socket(c.sock)
    t.eq(c.cmd("after"), "+ECHO after",
         "the plaintext pipelined before the handshake was discarded")
    c.close()


def test_starttls_unavailable():
    c = LineClient(d.connect("echoplain"))
    c.line()
    t.eq(c.cmd("STARTTLS"), "+OK begin TLS", "reply")
    t.ok(c.line().startswith("-ERR"),
         "STARTTLS on a tls = none service fails cleanly")
    t.eq(c.cmd("still"), "+ECHO still", "and the session continues")
    c.close()


def test_bad_handshake():
    for junk in (b"\x16\x03\x01\x00\x05hello", b"GET / HTTP/1.0\r\n\r\n",
                 b"\x00" * 100):
        s = d.connect("echos")
        s.sendall(junk)
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()
    t.contains(d.log(), "event=tls.handshake_failed",
               "failed handshakes are logged")
    c = LineClient(d.connect_tls("echos"))
    t.eq(c.line(), "* echo ready", "server fine after garbage handshakes")
    c.close()


def test_sni():
    a = d.connect_tls("echos", server_hostname="alt.test")
    t.eq(fingerprint(a), file_fp(alt_cert), "SNI alt.test gets its cert")
    a.close()
    b = d.connect_tls("echos", server_hostname="other.test")
    t.eq(fingerprint(b), file_fp(d.cert), "unknown name gets the default")
    b.close()


def test_reload():
    old = LineClient(d.connect_tls("echos"))
    old.line()
    fp_old = fingerprint(old.sock)
    t.eq(fp_old, file_fp(d.cert), "default certificate before reload")
    new_cert, new_key = make_cert(d.dir, "new", "new.test")
    shutil.copy(new_cert, d.cert)
    shutil.copy(new_key, d.key)
    d.signal(signal.SIGHUP)
    d.wait_log("event=postad.reloaded")
    c = LineClient(d.connect_tls("echos"))
    c.line()
    t.eq(fingerprint(c.sock), file_fp(new_cert),
         "a new connection gets the new certificate after SIGHUP")
    c.close()
    t.eq(old.cmd("still alive"), "+ECHO still alive",
         "the connection from before the reload keeps working")
    old.close()
    # a broken config on reload keeps the running one
    with open(d.conf, "a") as f:
        f.write("bogus_setting = 1\n")
    d.signal(signal.SIGHUP)
    d.wait_log("event=reload.failed")
    c = LineClient(d.connect_tls("echos"))
    t.eq(c.line(), "* echo ready", "a failed reload keeps serving")
    c.close()


try:
    t.run(test_implicit, "implicit TLS")
    t.run(test_old_tls_refused, "old TLS")
    t.run(test_starttls, "STARTTLS")
    t.run(test_injection, "STARTTLS injection")
    t.run(test_starttls_unavailable, "STARTTLS unavailable")
    t.run(test_bad_handshake, "bad handshakes")
    t.run(test_sni, "SNI")
    t.run(test_reload, "SIGHUP reload")
    d.stop()
finally:
    d.cleanup()
t.done()
