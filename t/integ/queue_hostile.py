# queue_hostile.py: remote servers that refuse, drop and misbehave; odd spool files
import os
import socket
import threading
import time

from posta import Postad
from queue_util import (T_A, T_MX, DNSServer, SMTPSink, admin_queue,
                        free_port_on, logged, queue_block, spool_ids,
                        submit, wait_for)
from tap import TAP

t = TAP()

HOSTS = ["127.0.0.2", "127.0.0.3"]
port = free_port_on(HOSTS)

class BrokenDNS(DNSServer):
    """Answers the names in `broken` with a reply cut short inside its
    one answer record, as a damaged packet or a buggy server would."""

    broken = ("mx.broken.example",)

    def answer(self, data):
        reply = super().answer(data)
        labels, pos = [], 12
        while data[pos] != 0:
            labels.append(data[pos + 1:pos + 1 + data[pos]].decode())
            pos += 1 + data[pos]
        if ".".join(labels).lower() in self.broken:
            # ancount 1, then only the start of the record
            reply = reply[:6] + b"\0\1" + reply[8:pos + 5] + \
                b"\xc0\x0c\0\1\0\1\0\0\0\x3c\0\4\x7f\0"
        return reply


dns = BrokenDNS({
    ("busy.example", T_MX): [(10, "mx.busy.example")],
    ("mx.busy.example", T_A): ["127.0.0.2"],
    ("example.net", T_MX): [(10, "mx.example.net")],
    ("mx.example.net", T_A): ["127.0.0.3"],
    ("broken.example", T_MX): [(10, "mx.broken.example")],
    ("mx.broken.example", T_A): ["127.0.0.3"],
})


class BusyServer:
    """One MX host that takes a first connection, answers a second one
    with 421 (as servers limiting connections per client do), then drops
    the first in the middle of its transaction; later connections are
    served normally."""

    def __init__(self, host, port, log_has):
        self.log_has = log_has
        self.in_data = threading.Event()
        self.refused = threading.Event()
        self.delivered = []
        self.n = 0
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping = True
        self.in_data.set()
        self.thread.join(5)
        self.sock.close()

    def serve(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.n += 1
                n = self.n
            threading.Thread(target=self.session, args=(c, n),
                             daemon=True).start()

    def session(self, c, n):
        c.settimeout(30)
        f = c.makefile("rb")
        try:
            if n == 2:
                c.sendall(b"421 4.7.0 too many connections from you\r\n")
                self.refused.set()
                return
            c.sendall(b"220 busy ESMTP\r\n")
            data, rcpts = None, []
            for _ in range(1000):
                line = f.readline(4096)
                if not line:
                    return
                verb = line[:4].upper()
                if data is not None:
                    if line == b".\r\n":
                        self.delivered.append((rcpts, data))
                        c.sendall(b"250 2.0.0 ok\r\n")
                        data, rcpts = None, []
                    else:
                        data += line
                elif verb == b"EHLO":
                    c.sendall(b"250-busy\r\n250 8BITMIME\r\n")
                elif verb == b"RCPT":
                    rcpts.append(line.decode().strip())
                    c.sendall(b"250 2.1.5 ok\r\n")
                elif verb == b"DATA":
                    if n == 1:
                        # wait until postad has seen the 421, then die
                        self.in_data.set()
                        wait_for(lambda: self.stopping or self.log_has(),
                                 what="the 421 logged")
                        return
                    c.sendall(b"354 go ahead\r\n")
                    data = b""
                elif verb == b"QUIT":
                    c.sendall(b"221 bye\r\n")
                    return
                else:
                    c.sendall(b"250 2.0.0 ok\r\n")
        except OSError:
            pass
        finally:
            f.close()
            c.close()


d = Postad({}, blocks=queue_block(dns.port, port,
                                  "  max_connections_per_domain = 2\n"),
           tap=t)
busy = BusyServer("127.0.0.2", port,
                  lambda: logged(d, "queue.conn_failed", "status=4.0.0"))
sink = SMTPSink("127.0.0.3", port)


def message(subject):
    return ("From: alice@example.com\r\nTo: someone\r\nSubject: %s\r\n"
            "\r\nHello.\r\n" % subject).encode()


def test_dead_host_after_drop():
    q1 = submit(d, "alice@example.com", ["one@busy.example"],
                message("first"))
    wait_for(busy.in_data.is_set, what="the first transaction at DATA")
    q2 = submit(d, "alice@example.com", ["two@busy.example"],
                message("second"))
    wait_for(busy.refused.is_set, what="the second connection refused")
    # the refusal marked the only host dead for the round; the first
    # connection then died with a job still waiting: both messages must
    # still go out on a later round, not wait forever
    wait_for(lambda: len(busy.delivered) >= 2, timeout=30,
             what="both messages delivered after the host recovered")
    got = sorted(r[0] for r, _ in busy.delivered)
    t.eq(got, ["RCPT TO:<one@busy.example>", "RCPT TO:<two@busy.example>"],
         "each message delivered once")
    wait_for(lambda: q1 not in spool_ids(d) and q2 not in spool_ids(d),
             what="both removed from the spool")
    t.ok(True, "the spool is empty again")


def test_submit_too_many_rcpts():
    before = spool_ids(d)
    args = ["submit", "--from", "alice@example.com"]
    for i in range(10001):
        args += ["--to", "r%d@example.net" % i]
    rc, out, err = admin_queue(d, *args, stdin=message("many"))
    t.eq(rc, 1, "posta queue submit refuses 10001 recipients")
    t.contains(err, "at most 10000 recipients", "and says why")
    t.eq(spool_ids(d), before, "nothing was queued that could not be "
         "read back")


grey_tries = {}


def grey_rcpt(addr):
    grey_tries[addr] = grey_tries.get(addr, 0) + 1
    if grey_tries[addr] == 1:
        return "451 4.7.1 greylisted"
    return "250 2.1.5 ok"


sink.rcpt_reply = grey_rcpt


def request_rescan():
    # postad takes the request the moment it appears: make it whole first
    qdir = os.path.join(d.state, "queue")
    st = os.stat(qdir)
    tmp = os.path.join(qdir, "ctl", ".new")
    open(tmp, "w").close()
    os.chown(tmp, st.st_uid, st.st_gid)
    os.rename(tmp, os.path.join(qdir, "ctl", "new"))


def put_in_spool(created, rcpt, body, journal="", write_body=True,
                 rescan=True, body_dir=False):
    """A message written into q/ by hand (as if an earlier clock had
    made it), then (with rescan) a rescan requested.  body_dir: a
    directory stands where the message file should be, so reading it
    fails (EISDIR), as a bad disk would (EIO)."""
    qdir = os.path.join(d.state, "queue")
    st = os.stat(qdir)
    qid = "%016x%08x" % (int(time.time() * 1e6), os.getpid())
    env = ("POSTA-QUEUE 1\nid %s\ncreated %d\nsender alice@example.com\n"
           "envid -\nret 0\nutf8 0\n8bit 0\nauth -\nclient -\nsize %d\n"
           "R 0 e - %s\nend\n%s" % (qid, created, len(body), rcpt,
                                     journal))
    if body_dir:
        os.mkdir(os.path.join(qdir, "q", qid + ".msg"), 0o755)
    for ext, data in ((".msg", body), (".env", env.encode())):
        if ext == ".msg" and (not write_body or body_dir):
            continue
        path = os.path.join(qdir, "q", qid + ext)
        with open(path, "wb") as f:
            f.write(data)
        os.chown(path, st.st_uid, st.st_gid)
    if rescan:
        request_rescan()
    return qid


def test_clock_behind():
    # the clock was set back an hour after the message arrived: a
    # temporary failure is a retry, not an expiry of max_age
    qid = put_in_spool(int(time.time()) + 3600, "late@example.net",
                       message("from the future"))
    wait_for(lambda: logged(d, "queue.removed", "id=" + qid), timeout=30,
             what="the message delivered and removed")
    t.ok(logged(d, "queue.deferred", "id=" + qid, "status=4.7.1"),
         "the 451 deferred it")
    t.ok(not logged(d, "queue.expired", "id=" + qid),
         "it did not expire")
    t.eq(sum(1 for m in sink.messages if m["rcpts"] == ["late@example.net"]),
         1, "delivered once after the retry")


def test_clock_set_back():
    # the journal was written before the clock went back a year: on the
    # new clock its next attempt is a year away.  No wait is longer than
    # retry_max (2s here), so the message goes out within it, not in a
    # year
    now = int(time.time())
    qid = put_in_spool(now, "back@example.net", message("clock set back"),
                       "T 0 %d 1 %d 4.4.1 - no%%20answer\n" % (
                           now, now + 366 * 86400))
    wait_for(lambda: logged(d, "queue.removed", "id=" + qid), timeout=30,
             what="the message tried again and delivered")
    t.eq(sum(1 for m in sink.messages if m["rcpts"] == ["back@example.net"]),
         1, "a next attempt a year away was pulled back to retry_max")


def test_bounce_retried():
    # a failed recipient whose message file cannot be read: the bounce
    # cannot be made; once the file is readable, the next try must come
    # by itself (retry_min), not wait for unrelated queue activity
    now = int(time.time())
    body = message("bounce me")
    qid = put_in_spool(now, "gone@example.net", body,
                       "F 0 %d 5.1.1 mx.example.net 550%%20no\n" % now,
                       body_dir=True)
    wait_for(lambda: logged(d, "queue.bounce_failed", "id=" + qid),
             what="the bounce failing without the message")
    t.ok(logged(d, "queue.bounce_failed", "id=" + qid,
                "error=\"cannot read the message: Is a directory\""),
         "a read error fails the bounce (it is tried again)")
    path = os.path.join(d.state, "queue", "q", qid + ".msg")
    os.rmdir(path)
    with open(path, "wb") as f:
        f.write(body)
    st = os.stat(os.path.join(d.state, "queue"))
    os.chown(path, st.st_uid, st.st_gid)
    wait_for(lambda: logged(d, "queue.bounce", "id=" + qid), timeout=20,
             what="the bounce made on a later try")
    t.ok(logged(d, "queue.bounce", "id=" + qid, "original=attached"),
         "the bounce was retried once the message was readable")


def bounce_file(qid):
    """The spooled bounce that queue.bounce names for message qid."""
    for line in d.log().splitlines():
        if " event=queue.bounce " in line and (" id=%s " % qid) in line:
            bid = line.split(" bounce_id=")[1].split(" ")[0]
            with open(os.path.join(d.state, "queue", "q",
                                   bid + ".msg"), "rb") as f:
                return f.read().decode()
    return None


def test_bounce_without_message():
    # the message file was removed by hand: it will not come back, so
    # the bounce goes without it (RFC 3464 allows that) rather than
    # failing every retry_min forever
    now = int(time.time())
    qid = put_in_spool(now, "removed@example.net", message("removed"),
                       "F 0 %d 5.1.1 mx.example.net 550%%20no\n" % now,
                       write_body=False)
    wait_for(lambda: logged(d, "queue.removed", "id=" + qid), timeout=20,
             what="the bounce made and the message removed")
    t.ok(logged(d, "queue.bounce", "id=" + qid, "original=missing"),
         "the bounce was made without the message")
    t.ok(logged(d, "queue.message_missing", "id=" + qid),
         "the missing file is logged")
    t.ok(not logged(d, "queue.bounce_failed", "id=" + qid),
         "and no bounce attempt failed")
    t.ok(logged(d, "queue.removed", "id=" + qid, "bounced=1"),
         "the message left the queue, its recipient bounced")
    text = bounce_file(qid) or ""
    t.contains(text, "The original message was not available",
               "the report says the message is not attached")
    t.contains(text, "Final-Recipient: rfc822; removed@example.net",
               "and names the failed recipient")
    t.ok("message/rfc822" not in text and "Subject: removed" not in text,
         "it has no third part")


def test_message_removed_before_delivery():
    # a recipient still waiting when its message file went: no retry can
    # bring the file back, so it fails at once (5.3.0) and is bounced,
    # instead of being deferred until max_age
    qid = put_in_spool(int(time.time()), "pending@example.net",
                       message("removed while queued"), write_body=False)
    wait_for(lambda: logged(d, "queue.removed", "id=" + qid), timeout=20,
             what="the recipient failed and the message removed")
    t.ok(logged(d, "queue.failed", "id=" + qid, "status=5.3.0"),
         "the recipient failed permanently with 5.3.0")
    t.ok(not logged(d, "queue.deferred", "id=" + qid),
         "it was not deferred")
    t.ok(logged(d, "queue.bounce", "id=" + qid, "original=missing"),
         "the sender is told, without the message")
    t.contains(bounce_file(qid) or "", "Status: 5.3.0",
               "the report gives 5.3.0")
    t.eq(sum(1 for m in sink.messages
             if m["rcpts"] == ["pending@example.net"]), 0,
         "nothing was sent to the remote")


def test_unreadable_at_start():
    # an envelope postad may not read is not a corrupt one: root's 0600
    # file while postad runs as nobody (or mode 0 when the test does not
    # run as root) is named in the log, counted, and left in q/, to be
    # delivered once its owner is fixed
    qdir = os.path.join(d.state, "queue")
    st = os.stat(qdir)
    qid = put_in_spool(int(time.time()), "locked@example.net",
                       message("locked"), rescan=False)
    env = os.path.join(qdir, "q", qid + ".env")
    if os.getuid() == 0:
        os.chown(env, 0, 0)
        os.chmod(env, 0o600)
    else:
        os.chmod(env, 0)
    starts = d.log().count("event=queue.loaded ")
    d.stop()
    d.start()
    d.wait_log("event=queue.loaded ", count=starts + 1)
    t.ok(logged(d, "queue.unreadable", "id=" + qid,
                "error=\"Permission denied\""),
         "the unreadable envelope is logged with its id and errno")
    t.ok(logged(d, "queue.loaded", "unreadable=1"),
         "and counted in the queue.loaded line")
    t.ok(os.path.exists(env) and not os.path.exists(
        os.path.join(qdir, "corrupt", qid + ".env")),
        "it stays in q/, not set aside as corrupt")
    os.chown(env, st.st_uid, st.st_gid)
    os.chmod(env, 0o600)
    request_rescan()
    wait_for(lambda: logged(d, "queue.removed", "id=" + qid), timeout=30,
             what="the message delivered once readable")
    t.ok(True, "delivered once its owner was fixed")


def test_malformed_dns_answer():
    # a reply that does not parse says nothing about the name: retry
    qid = submit(d, "alice@example.com", ["x@broken.example"],
                 message("broken dns"))
    wait_for(lambda: logged(d, "queue.deferred", "id=" + qid) or
             logged(d, "queue.failed", "id=" + qid),
             what="a result for the broken lookup")
    t.ok(logged(d, "queue.deferred", "id=" + qid, "status=4.4.3"),
         "a malformed address answer defers (4.4.3)")
    t.ok(not logged(d, "queue.failed", "id=" + qid),
         "and does not fail the recipient")
    admin_queue(d, "delete", qid)
    wait_for(lambda: logged(d, "queue.removed", "id=" + qid),
             what="the message deleted")


try:
    t.run(test_malformed_dns_answer, "a malformed DNS answer")
    t.run(test_bounce_retried, "a bounce that failed once")
    t.run(test_bounce_without_message, "a bounce without its message")
    t.run(test_message_removed_before_delivery,
          "a message file removed before delivery")
    t.run(test_clock_behind, "a message younger than zero")
    t.run(test_clock_set_back, "a next attempt set by a clock ahead")
    t.run(test_submit_too_many_rcpts, "posta queue submit, too many rcpts")
    t.run(test_dead_host_after_drop,
          "a host refused by one connection and dropped by another")
    t.run(test_unreadable_at_start, "an envelope postad may not read")
    d.stop()
finally:
    d.cleanup()
    busy.stop()
    sink.stop()
    dns.stop()
t.done()
