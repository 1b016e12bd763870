#!/usr/bin/env python3
# queue_bench.py: outbound messages per second from the queue to a local SMTP sink
"""Fills the spool with N messages (posta queue submit, postad stopped),
starts postad with max_connections_per_domain = CONNS and measures how
fast the queue empties into an asyncio SMTP sink on 127.0.0.2, the
destination found through a loopback DNS server.

Run from a build tree:
  POSTA_BUILDDIR=$PWD POSTA_SRCDIR=/path/to/src \\
  PYTHONPATH=$POSTA_SRCDIR/t/lib:$POSTA_SRCDIR/t/integ \\
  python3 $POSTA_SRCDIR/bench/queue_bench.py [N] [CONNS] [SIZE]
"""
import asyncio
import os
import pwd
import sys
import threading
import time

from posta import Postad
from queue_util import (T_A, T_MX, DNSServer, free_port_on, queue_block,
                        spool_ids, submit, wait_for)

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
CONNS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
SIZE = int(sys.argv[3]) if len(sys.argv) > 3 else 4096


class Sink:
    """asyncio SMTP sink: PIPELINING, accepts everything, counts."""

    def __init__(self, host, port):
        self.count = 0
        self.max_conns = 0
        self.conns = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.run, args=(host, port),
                                       daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def run(self, host, port):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self.session, host, port))
        self.ready.set()
        self.loop.run_forever()

    async def session(self, r, w):
        self.conns += 1
        self.max_conns = max(self.max_conns, self.conns)
        w.write(b"220 sink\r\n")
        try:
            for _ in range(1000000):
                line = await r.readline()
                if not line:
                    break
                verb = line[:4].upper()
                if verb == b"EHLO":
                    w.write(b"250-sink\r\n250-PIPELINING\r\n"
                            b"250 8BITMIME\r\n")
                elif verb == b"DATA":
                    w.write(b"354 go\r\n")
                    while (await r.readline()) != b".\r\n":
                        pass
                    self.count += 1
                    w.write(b"250 ok\r\n")
                elif verb == b"QUIT":
                    w.write(b"221 bye\r\n")
                    break
                else:
                    w.write(b"250 ok\r\n")
                await w.drain()
        except ConnectionError:
            pass
        finally:
            self.conns -= 1
            w.close()

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)


def main():
    port = free_port_on(["127.0.0.2"])
    dns = DNSServer({("example.net", T_MX): [(10, "mx.example.net")],
                     ("mx.example.net", T_A): ["127.0.0.2"]})
    sink = Sink("127.0.0.2", port)
    d = Postad({}, blocks=queue_block(
        dns.port, port, "  max_connections_per_domain = %d\n" % CONNS),
        start=False)
    body = ("x" * 76 + "\r\n") * (SIZE // 78)
    msg = ("From: a@example.com\r\nTo: b@example.net\r\nSubject: bench\r\n"
           "\r\n" + body).encode()
    t0 = time.monotonic()
    os.makedirs(d.state, mode=0o750, exist_ok=True)
    for i in range(N):
        submit(d, "a@example.com", ["b%d@example.net" % (i % 50)], msg)
    fill = time.monotonic() - t0
    if os.getuid() == 0:
        pw = pwd.getpwnam("nobody")
        for root, dirs, files in os.walk(d.state):
            for n in dirs + files:
                os.chown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)
        os.chown(d.state, pw.pw_uid, pw.pw_gid)
    try:
        d.start()
        t1 = time.monotonic()
        wait_for(lambda: sink.count >= N, timeout=600, what="all delivered")
        t2 = time.monotonic()
        wait_for(lambda: spool_ids(d) == [], timeout=120,
                 what="an empty spool")
        t3 = time.monotonic()
        print("queue_bench: %d messages of %d bytes, %d connections "
              "(sink saw at most %d at once)" % (N, len(msg), CONNS,
                                                 sink.max_conns))
        print("  spool fill with posta queue submit: %.1f s" % fill)
        print("  delivered: %.2f s, %.0f messages/s" % (t2 - t1,
                                                       N / (t2 - t1)))
        print("  spool empty (journal + removal durable): %.2f s, "
              "%.0f messages/s" % (t3 - t1, N / (t3 - t1)))
        d.stop()
    finally:
        d.cleanup()
        sink.stop()
        dns.stop()


if __name__ == "__main__":
    main()
