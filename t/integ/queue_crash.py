# queue_crash.py: SIGKILL while the queue is busy: nothing lost, nothing sent twice
import signal
import subprocess

from posta import Postad
from queue_util import (T_A, T_MX, DNSServer, SMTPSink, free_port_on,
                        logged, queue_block, spool_ids, submit, wait_for)
import threading
from tap import TAP

t = TAP()
N = 40
port = free_port_on(["127.0.0.2"])
dns = DNSServer({
    ("example.net", T_MX): [(10, "mx1.example.net")],
    ("mx1.example.net", T_A): ["127.0.0.2"],
})
sink = SMTPSink("127.0.0.2", port)
d = Postad({}, blocks=queue_block(dns.port, port,
                                  "  max_connections_per_domain = 4\n"),
           tap=t)


def msgid(i):
    return "<crash-%d@test>" % i


def message(i):
    return ("From: alice@example.com\r\nTo: bob@example.net\r\n"
            "Subject: crash %d\r\nMessage-ID: %s\r\n\r\n%s\r\n" % (
                i, msgid(i), "x" * (i * 100))).encode()


def delivered_logged():
    return d.log().count(" event=queue.delivered ")


def test_kill_and_restart():
    ids = [submit(d, "alice@example.com", ["bob@example.net"], message(i))
           for i in range(N)]
    t.eq(len(set(ids)), N, "%d messages queued with distinct ids" % N)
    wait_for(lambda: sink.count() >= 5, what="the first deliveries")
    # from now on the remote takes messages but never answers: every
    # connection ends up waiting for its final reply
    sink.hold = threading.Event()
    wait_for(lambda: sink.held >= 1, what="a transaction held open")
    # every 250 the sink sent is in the journal (queue.delivered is
    # logged once that is durable): the kill falls in no window
    wait_for(lambda: delivered_logged() == sink.count(),
             what="acknowledged deliveries journaled")
    accepted_before = sink.count()
    t.ok(accepted_before < N, "the queue was still busy (%d of %d "
         "accepted) when killed" % (accepted_before, N))
    d.signal(signal.SIGKILL)
    d.proc.wait(10)
    t.eq(d.proc.returncode, -signal.SIGKILL, "postad died of SIGKILL")
    sink.hold.set()
    sink.hold = None
    t.ok(len(spool_ids(d)) >= N - accepted_before,
         "the unacknowledged messages are still in the spool")
    # the same state directory, a new process
    d.proc = subprocess.Popen(d.command(), stdout=d.logf, stderr=d.logf,
                              stdin=subprocess.DEVNULL)
    d.wait_log("event=postad.ready", count=2)
    t.ok(logged(d, "queue.loaded"), "the spool was scanned at start")
    wait_for(lambda: sink.count() >= N, timeout=60,
             what="every message delivered after the restart")
    wait_for(lambda: spool_ids(d) == [], timeout=30, what="an empty spool")
    got = [m["data"].split(b"Message-ID: ")[1].split(b"\r\n")[0].decode()
           for m in sink.messages]
    t.eq(sorted(got), sorted(msgid(i) for i in range(N)),
         "each message accepted exactly once: none lost, none twice")


try:
    t.run(test_kill_and_restart, "SIGKILL and restart")
    d.stop()
finally:
    d.cleanup()
    sink.stop()
    dns.stop()
t.done()
