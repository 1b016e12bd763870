# queue_delivery.py: outbound queue against loopback DNS and SMTP servers: MX, fallback, retry, bounces
import email
import email.policy
import os
import subprocess

from posta import Postad
from queue_util import (POSTA_BIN, T_A, T_MX, DNSServer, SMTPSink,
                        admin_queue, free_port_on, logged, queue_block,
                        server_tls_context, spool_ids, submit, wait_for)
import pop3_util
from tap import TAP

t = TAP()

HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"]
port = free_port_on(HOSTS)

dns = DNSServer({
    ("example.net", T_MX): [(10, "mx1.example.net")],
    ("mx1.example.net", T_A): ["127.0.0.2"],
    ("twomx.example", T_MX): [(20, "mx2.twomx.example"),
                              (10, "dead.twomx.example")],
    ("dead.twomx.example", T_A): ["127.0.0.3"],
    ("mx2.twomx.example", T_A): ["127.0.0.4"],
    ("retry.example", T_MX): [(10, "mx.retry.example")],
    ("mx.retry.example", T_A): ["127.0.0.5"],
    ("reject.example", T_MX): [(10, "mx.reject.example")],
    ("mx.reject.example", T_A): ["127.0.0.6"],
    ("nullmx.example", T_MX): [(0, ".")],
    ("nomx.example", T_A): ["127.0.0.2"],
    ("down.example", T_MX): [(10, "mx.down.example")],
    ("mx.down.example", T_A): ["127.0.0.3"],
})

tries = {}


def retry_rcpt(addr):
    tries[addr] = tries.get(addr, 0) + 1
    if tries[addr] == 1:
        return "451 4.7.1 greylisted, try again"
    return "250 2.1.5 ok"


def reject_rcpt(addr):
    return "550 5.1.1 <%s>: no such user here" % addr


d = Postad({}, blocks=pop3_util.PLUGINS + queue_block(dns.port, port),
           tap=t, start=False)
pop3_util.add_user(d, "alice@example.com", "secret-pw")
sink_a = SMTPSink("127.0.0.2", port, starttls=server_tls_context(d))
sink_b = SMTPSink("127.0.0.4", port, pipelining=False)
sink_c = SMTPSink("127.0.0.5", port, rcpt_reply=retry_rcpt)
sink_d = SMTPSink("127.0.0.6", port, rcpt_reply=reject_rcpt)
d.start()


def message(subject, body="Hello.\r\n"):
    return ("From: alice@example.com\r\nTo: someone\r\nSubject: %s\r\n"
            "Message-ID: <%s@test>\r\n\r\n%s" % (
                subject, subject.replace(" ", "-"), body)).encode()


def inbox(address):
    new = os.path.join(pop3_util.maildir(d, address), "new")
    try:
        return [os.path.join(new, n) for n in sorted(os.listdir(new))]
    except FileNotFoundError:
        return []


def new_mail(address, before, needle, what):
    """Waits for a message in address's new/ that was not among before
    and holds needle; returns its path.  (Names sort by time only to the
    second, so "the last one" may be an older message.)"""
    found = []

    def look():
        found[:] = []
        for p in inbox(address):
            if p in before:
                continue
            with open(p, "rb") as f:
                if needle in f.read():
                    found.append(p)
        return bool(found)
    wait_for(look, what=what)
    return found[0]


def removed(qid):
    return logged(d, "queue.removed", "id=" + qid)


def test_mx_delivery():
    body = "line one\r\n.leading dot\r\n..two dots\r\nend\r\n"
    qid = submit(d, "alice@example.com", ["bob@example.net"],
                 message("via mx", body))
    wait_for(lambda: sink_a.count() >= 1, what="delivery via MX")
    m = sink_a.messages[0]
    t.eq(m["mail_from"], "alice@example.com", "envelope sender kept")
    t.eq(m["rcpts"], ["bob@example.net"], "envelope recipient kept")
    t.eq(m["data"], message("via mx", body),
         "message arrives byte for byte (dot-stuffing undone by the sink)")
    t.ok(m["tls"], "STARTTLS used when the server offers it")
    wait_for(lambda: removed(qid), what="removal")
    t.ok(qid not in spool_ids(d), "a delivered message leaves the spool")
    t.contains(d.log(), "event=queue.tls", "TLS logged")


def test_fallback():
    qid = submit(d, "alice@example.com", ["carol@twomx.example"],
                 message("fallback"))
    wait_for(lambda: sink_b.count() >= 1, what="delivery via second MX")
    t.eq(sink_b.messages[0]["rcpts"], ["carol@twomx.example"],
         "the second MX got it when the first refused connections")
    t.contains(d.log(), "dead.twomx.example[127.0.0.3]",
               "the refused first MX is in the log")
    t.ok(not sink_b.messages[0]["tls"], "no STARTTLS when not offered")
    wait_for(lambda: removed(qid), what="removal")


def test_retry():
    qid = submit(d, "alice@example.com", ["dave@retry.example"],
                 message("retry"))
    wait_for(lambda: sink_c.count() >= 1, timeout=30,
             what="delivery after 4xx")
    t.eq(tries.get("dave@retry.example"), 2,
         "the 451 was retried once, then accepted")
    log = d.log()
    t.ok(logged(d, "queue.deferred", "id=" + qid, "status=4.7.1"),
         "the temporary failure was logged")
    wait_for(lambda: removed(qid), what="removal")


def bounce_parts(path):
    with open(path, "rb") as f:
        raw = f.read()
    return raw, email.message_from_bytes(raw, policy=email.policy.compat32)


def check_dsn(path, rcpt, status, desc):
    raw, msg = bounce_parts(path)
    t.ok(raw.startswith(b"Return-Path: <>\r\n"),
         desc + ": Return-Path <> (a bounce has the null sender)")
    t.eq(msg.get_content_type(), "multipart/report",
         desc + ": multipart/report")
    t.eq(msg.get_param("report-type"), "delivery-status",
         desc + ": report-type=delivery-status")
    parts = msg.get_payload()
    t.eq(len(parts), 3, desc + ": three parts (RFC 3462)")
    t.eq([p.get_content_type() for p in parts],
         ["text/plain", "message/delivery-status", "message/rfc822"],
         desc + ": text, delivery-status, original message")
    # message/delivery-status: per-message block, then per-recipient
    blocks = parts[1].get_payload()
    t.ok(len(blocks) >= 2, desc + ": per-message and per-recipient fields")
    t.ok(blocks[0].get("Reporting-MTA", "").startswith("dns;"),
         desc + ": Reporting-MTA")
    t.ok(blocks[0].get("Arrival-Date") is not None, desc + ": Arrival-Date")
    r = blocks[1]
    t.eq(r.get("Final-Recipient", "").replace(" ", ""), "rfc822;" + rcpt,
         desc + ": Final-Recipient")
    t.eq(r.get("Action"), "failed", desc + ": Action: failed")
    t.eq(r.get("Status"), status, desc + ": Status")
    return r, parts


def test_bounce_5xx():
    before = set(inbox("alice@example.com"))
    qid = submit(d, "alice@example.com", ["nobody@reject.example"],
                 message("rejected"))
    path = new_mail("alice@example.com", before, b"<rejected@test>",
                    "bounce in alice's INBOX")
    r, parts = check_dsn(path, "nobody@reject.example", "5.1.1", "5xx")
    t.ok(r.get("Diagnostic-Code", "").startswith("smtp; 550 5.1.1"),
         "5xx: the remote's reply is the Diagnostic-Code")
    t.eq(r.get("Remote-MTA"), "dns; mx.reject.example", "5xx: Remote-MTA")
    inner = parts[2].get_payload()[0]
    t.eq(inner["Subject"], "rejected", "5xx: the original comes back")
    t.eq(sink_d.count(), 0, "nothing was delivered to the rejecting host")
    wait_for(lambda: removed(qid), what="removal of the bounced message")
    # the bounce itself was queued, delivered locally, and removed
    wait_for(lambda: spool_ids(d) == [], what="empty spool")
    t.ok(True, "the spool is empty once the bounce is delivered")


def test_null_mx_and_nxdomain():
    before = set(inbox("alice@example.com"))
    submit(d, "alice@example.com",
           ["x@nullmx.example", "y@no-such-domain.example"],
           message("null mx"))
    raw, msg = bounce_parts(new_mail("alice@example.com", before,
                                     b"<null-mx@test>", "bounce for null MX"))
    blocks = msg.get_payload()[1].get_payload()
    got = {b.get("Final-Recipient", "").split(";")[-1].strip():
           b.get("Status") for b in blocks[1:]}
    t.eq(got, {"x@nullmx.example": "5.1.10",
               "y@no-such-domain.example": "5.1.2"},
         "null MX (RFC 7505) and NXDOMAIN fail at once, in one bounce")


def test_no_bounce_for_bounce():
    qid = submit(d, "", ["z@reject.example"], message("bounce of bounce"))
    wait_for(lambda: removed(qid), what="removal")
    t.ok(logged(d, "queue.bounce_suppressed", "id=" + qid,
                "reason=null-sender"), "a message from <> is never bounced")


def test_implicit_mx():
    before = sink_a.count()
    submit(d, "alice@example.com", ["eve@nomx.example"], message("no mx"))
    wait_for(lambda: sink_a.count() > before, what="A record fallback")
    t.eq(sink_a.messages[-1]["rcpts"], ["eve@nomx.example"],
         "a domain without MX is its own mail host (A record)")


def test_admin():
    qid = submit(d, "alice@example.com", ["f@down.example"],
                 message("stuck"))
    wait_for(lambda: logged(d, "queue.deferred", "id=" + qid),
             what="deferral")
    rc, out, err = admin_queue(d, "list")
    t.eq(rc, 0, "queue list runs")
    t.contains(out, qid, "queue list shows the deferred message")
    t.contains(out, "deferred  f@down.example", "and its recipient state")
    r = subprocess.run([POSTA_BIN, "--state-dir", d.state, "queue",
                        "list"], capture_output=True, text=True, timeout=60)
    t.ok(r.returncode == 0 and qid in r.stdout,
         "posta queue list (the admin command) shows it too")
    rc, out, err = admin_queue(d, "show", qid)
    t.eq(rc, 0, "queue show runs")
    t.contains(out, "Subject: stuck", "queue show prints the header")
    rc, out, err = admin_queue(d, "show", "0" * 24)
    t.eq(rc, 2, "queue show of an unknown id is a data error")
    n = d.log().count("event=queue.flush ")
    rc, out, err = admin_queue(d, "flush")
    t.eq(rc, 0, "queue flush runs")
    d.wait_log("event=queue.flush ", count=n + 1)
    t.ok(True, "postad saw the flush request")
    rc, out, err = admin_queue(d, "delete", qid)
    t.eq(rc, 0, "queue delete runs")
    wait_for(lambda: logged(d, "queue.removed", "id=" + qid,
                            "deleted=yes"), what="deletion")
    t.ok(qid not in spool_ids(d), "a deleted message leaves the spool")
    rc, out, err = admin_queue(d, "bogus")
    t.eq(rc, 1, "an unknown subcommand is a usage error")


try:
    t.run(test_mx_delivery, "delivery via MX")
    t.run(test_fallback, "fallback to the second MX")
    t.run(test_retry, "retry after 4xx")
    t.run(test_bounce_5xx, "bounce after 5xx")
    t.run(test_null_mx_and_nxdomain, "null MX and NXDOMAIN")
    t.run(test_no_bounce_for_bounce, "no bounce for a bounce")
    t.run(test_implicit_mx, "implicit MX")
    t.run(test_admin, "posta queue commands")
    d.stop()
finally:
    d.cleanup()
    for s in (sink_a, sink_b, sink_c, sink_d):
        s.stop()
    dns.stop()
t.done()
