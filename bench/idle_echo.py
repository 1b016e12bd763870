# idle_echo.py: postad RSS per idle TLS connection, measured with the echo test module
# usage: POSTA_BUILDDIR=... PYTHONPATH=t/lib python3 bench/idle_echo.py [N...]
import asyncio
import resource
import ssl
import sys
import time

from posta import Postad, client_tls_context


async def open_many(port, n, ctx):
    conns = []
    for i in range(n):
        r, w = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=ctx), 10)
        await asyncio.wait_for(r.readline(), 10)   # greeting
        conns.append((r, w))
    return conns


async def main(counts):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    d = Postad({"echos": {"protocol": "echo", "tls": "implicit",
                          "idle_timeout": "1h"}},
               global_extra="", start=True)
    d_log = None
    try:
        ctx = client_tls_context()
        base = d.rss_kib()
        print("baseline RSS %d KiB" % base)
        opened = []
        for n in counts:
            t0 = time.monotonic()
            opened += await open_many(d.ports["echos"], n - len(opened), ctx)
            await asyncio.sleep(0.5)
            rss = d.rss_kib()
            print("%6d idle TLS sessions: RSS %d KiB, %.1f KiB/session "
                  "(opened in %.1fs)" % (len(opened), rss,
                                         (rss - base) / len(opened),
                                         time.monotonic() - t0))
        for r, w in opened:
            w.close()
    finally:
        d.stop()
        d.cleanup()

asyncio.run(main([int(a) for a in sys.argv[1:]] or [1000]))
