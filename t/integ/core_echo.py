# core_echo.py: connection layer through the echo module: lines, limits, timeouts, backpressure
import socket
import struct
import time

from posta import SANITIZERS, LineClient, Postad
from tap import TAP

t = TAP()
d = Postad({
    "echo": {"protocol": "echo", "max_line_length": "1k",
             "write_queue_max": "64k"},
    "echofast": {"protocol": "echo", "idle_timeout": "1s"},
}, blocks='protocol echo {\n  greeting = "hello there"\n}\n', tap=t)


def test_basic():
    c = LineClient(d.connect("echo"))
    t.eq(c.line(), "* hello there", "greeting comes from the protocol block")
    t.eq(c.cmd("hello"), "+ECHO hello", "a CRLF line is echoed")
    c.send("bare\n")
    t.eq(c.line(), "+ECHO bare (LF)", "a bare-LF line is flagged")
    t.eq(c.cmd("WHO"), "+WHO echo echo 127.0.0.1 -",
         "service, protocol and peer address are known")
    t.eq(c.cmd("TLS"), "+TLS off", "plain connection reports no TLS")
    t.eq(c.cmd("QUIT"), "+BYE", "QUIT answered")
    t.ok(c.closed(), "server closed after QUIT")


def test_pipelining():
    c = LineClient(d.connect("echo"))
    c.line()
    # SLOW pauses the session: the pipelined lines must wait their turn
    c.send("one\r\nSLOW\r\ntwo\r\nthree\r\n")
    got = [c.line() for _ in range(4)]
    t.eq(got, ["+ECHO one", "+SLOW done", "+ECHO two", "+ECHO three"],
         "pipelined commands answered in order around a paused one")
    c.close()


def test_exact_read():
    c = LineClient(d.connect("echo"))
    c.line()
    payload = bytes(range(256)) * 40 + b"\r\n.\r\nQUIT\r\n"
    t.eq(c.cmd("READ %d" % len(payload)), "+READ go", "exact read starts")
    c.send(payload + b"after\r\n")
    t.eq(c.line(), "+READ %d bytes sum=%d" % (len(payload), sum(payload)),
         "exact read takes binary data including CRLF and QUIT")
    t.eq(c.line(), "+ECHO after", "line mode resumes after the exact read")
    c.close()


def test_long_line():
    c = LineClient(d.connect("echo"))
    c.line()
    t.eq(c.cmd("x" * 1024), "+ECHO " + "x" * 1024,
         "a line of exactly max_line_length is accepted")
    t.eq(c.cmd("y" * 1025), "-ERR line too long",
         "one byte more is refused")
    t.eq(c.cmd("still here"), "+ECHO still here",
         "the session goes on after an over-long line")
    rss0 = d.rss_kib()
    chunk = b"z" * 65536
    for _ in range(300):          # 19 MiB in one line, bounded loop
        c.send(chunk)
    c.send(b"\r\n")
    t.eq(c.line(), "-ERR line too long", "a 19 MiB line is refused")
    rss1 = d.rss_kib()
    if SANITIZERS:
        t.skip("memory stays flat during a 19 MiB line", "RSS under ASan")
    else:
        t.ok(rss1 - rss0 < 4096,
             "memory stays flat during a 19 MiB line (grew %d KiB)" %
             (rss1 - rss0))
    t.eq(c.cmd("ok"), "+ECHO ok", "and the session still works")
    c.close()


def test_idle_timeout():
    c = LineClient(d.connect("echofast", timeout=10))
    c.line()
    start = time.monotonic()
    t.eq(c.line(), "-ERR idle timeout", "idle session is told why")
    t.ok(c.closed(), "idle session is closed")
    t.ok(time.monotonic() - start < 5, "within the configured 1s (+slack)")


def test_backpressure():
    c = LineClient(d.connect("echo"))
    c.line()
    rss0 = d.rss_kib()
    total = 32 * 1024 * 1024
    c.send("BIG %d\r\n" % total)
    # the client reads nothing for a while: postad must not buffer 64 MiB
    time.sleep(0.5)
    c.send("after\r\n" * 1000)   # input from a client that does not read
    rss1 = d.rss_kib()
    if SANITIZERS:
        t.skip("a client that does not read cannot grow the server",
               "RSS under ASan")
    else:
        t.ok(rss1 - rss0 < 8192,
             "a client that does not read cannot grow the server "
             "(grew %d KiB)" % (rss1 - rss0))
    got = 0
    while got < total:
        data = c.sock.recv(1 << 20)
        if not data:
            break
        got += len(data)
    # the tail of the last chunk may already hold the next lines
    c.buf = b""
    t.ok(got >= total, "all %d bytes arrive once the client reads" % total)
    c.close()


def test_abrupt():
    for _ in range(20):
        s = d.connect("echo")
        s.sendall(b"half a li")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
        s.close()    # RST
    c = LineClient(d.connect("echo"))
    t.eq(c.line(), "* hello there", "server still answers after resets")
    c.send("last words\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    t.eq(c.line(), "+ECHO last words", "a half-closed client gets its reply")
    t.ok(c.closed(), "and then the connection closes")


def test_last_words_survive_trailing_input():
    # A client that keeps sending after the server said goodbye (a
    # pipelining client, or one that did not notice) must not be reset:
    # the server drains its input after FIN (lingering close), so the
    # client reads the goodbye and a clean EOF.
    lost = 0
    for _ in range(5):
        s = d.connect("echo")
        c = LineClient(s)
        c.line()
        try:
            c.send(b"QUIT\r\n")
            if c.line() != "+BYE":
                lost += 1
            for _ in range(3):
                time.sleep(0.05)
                s.sendall(b"junk after goodbye\r\n" * 50)
            while s.recv(65536):    # a reset raises: that counts as lost
                pass
        except OSError as e:
            t.diag("reset: %r" % e)
            lost += 1
        c.close()
    t.eq(lost, 0, "the goodbye and a clean EOF although the client "
         "kept sending")
    c = LineClient(d.connect("echo"))
    t.eq(c.line(), "* hello there", "and the server goes on")
    c.close()


try:
    t.run(test_basic, "basic")
    t.run(test_pipelining, "pipelining")
    t.run(test_exact_read, "exact read")
    t.run(test_long_line, "long line")
    t.run(test_idle_timeout, "idle timeout")
    t.run(test_backpressure, "backpressure")
    t.run(test_abrupt, "abrupt disconnects")
    t.run(test_last_words_survive_trailing_input, "lingering close")
    d.stop()
finally:
    d.cleanup()
t.done()
