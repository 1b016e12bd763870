# core_regress_tls.py: the handshake timeout bounds a whole handshake; no plaintext leaves after the STARTTLS go-ahead
import socket
import ssl
import time
from posta import LineClient, Postad, client_tls_context
from tap import TAP
t = TAP()
d = Postad({"echos": {"protocol": "echo", "tls": "implicit"},
            "echo": {"protocol": "echo", "tls": "starttls",
                     "write_queue_max": "64k"}},
           global_extra="tls_handshake_timeout = 1s", tap=t)

def dribble():
    # a real ClientHello, sent one byte every 0.4 s: the handshake
    # timeout (1s) must still end it
    inc = ssl.MemoryBIO(); out = ssl.MemoryBIO()
    o = client_tls_context().wrap_bio(inc, out, server_side=False)
    try:
        o.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    s = d.connect("echos")
    s.settimeout(0.4)
    start = time.monotonic()
    alive = True
    for i in range(min(len(hello) - 1, 12)):   # ~4.8 s, bounded
        try:
            s.send(hello[i:i + 1])
            if s.recv(1) == b"":
                alive = False
                break
        except socket.timeout:
            pass
        except OSError:
            alive = False
            break
    el = time.monotonic() - start
    t.ok(not alive, "handshake dribbled over %.1fs is cut by the 1s handshake timeout" % el)
    s.close()

def starttls_plain_leak():
    c = LineClient(d.connect("echo"))
    c.line()
    c.send("BIG 3000000\r\nSTARTTLS\r\n")
    # read until the go-ahead, then see whether more plaintext follows
    got = b""
    c.sock.settimeout(5)
    while b"+OK begin TLS\r\n" not in c.buf + got:
        ch = c.sock.recv(65536)
        if not ch:
            break
        got += ch
    allb = c.buf + got
    after = allb.split(b"+OK begin TLS\r\n", 1)[1] if b"+OK begin TLS\r\n" in allb else b""
    c.sock.settimeout(1)
    try:
        while len(after) < 200000:
            ch = c.sock.recv(65536)
            if not ch:
                break
            after += ch
    except socket.timeout:
        pass
    t.eq(after[:20], b"", "nothing in plaintext after the STARTTLS go-ahead (got %d bytes)" % len(after))
    c.close()

t.run(dribble, "dribble")
t.run(starttls_plain_leak, "leak")
try:
    d.stop()
finally:
    d.cleanup()
t.done()
