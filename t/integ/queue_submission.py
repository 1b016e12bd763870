# queue_submission.py: end to end: submission with AUTH, the queue, a remote server, a bounce
import email
import smtplib

from posta import client_tls_context
from queue_util import (T_A, T_MX, DNSServer, SMTPSink, free_port_on,
                        logged, queue_block, spool_ids, wait_for)
import smtp_util
from tap import TAP

t = TAP()
port = free_port_on(["127.0.0.2", "127.0.0.6"])
dns = DNSServer({
    ("remote.test", T_MX): [(10, "mx.remote.test")],
    ("mx.remote.test", T_A): ["127.0.0.2"],
    ("reject.test", T_MX): [(10, "mx.reject.test")],
    ("mx.reject.test", T_A): ["127.0.0.6"],
})
sink = SMTPSink("127.0.0.2", port)
rejecter = SMTPSink("127.0.0.6", port,
                    rcpt_reply=lambda a: "550 5.1.1 unknown user")
d = smtp_util.start(t, extra_blocks=queue_block(dns.port, port))


def submission():
    s = smtplib.SMTP("127.0.0.1", d.ports["submission"], timeout=30)
    s.starttls(context=client_tls_context())
    s.login("alice@example.com", smtp_util.USERS["alice@example.com"])
    return s


MSG = (b"From: alice@example.com\r\nTo: dave@remote.test, bob@example.com\r\n"
       b"Subject: mixed\r\nMessage-ID: <mixed@test>\r\n"
       b"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\nHi both.\r\n"
       b".dot line\r\n")


def test_mixed_recipients():
    bob = smtp_util.Inbox(d, "bob@example.com")
    s = submission()
    refused = s.sendmail("alice@example.com",
                         ["dave@remote.test", "bob@example.com"], MSG)
    t.eq(refused, {}, "submission takes a local and an external recipient")
    s.quit()
    t.ok(logged(d, "smtp.queued"), "the external part went to the queue")
    t.eq(len(bob.new()), 1, "the local copy is in bob's INBOX at once")
    wait_for(lambda: sink.count() >= 1, what="remote delivery")
    m = sink.messages[0]
    t.eq(m["mail_from"], "alice@example.com", "envelope sender kept")
    t.eq(m["rcpts"], ["dave@remote.test"],
         "only the external recipient goes to the remote server")
    t.ok(m["data"].startswith(b"Received: "),
         "the remote gets the message with our Received: line")
    t.ok(m["data"].endswith(MSG.split(b"\r\n\r\n", 1)[1]),
         "and the body byte for byte")
    wait_for(lambda: spool_ids(d) == [], what="an empty spool")


def test_bounce_to_sender():
    alice = smtp_util.Inbox(d, "alice@example.com")
    s = submission()
    s.sendmail("alice@example.com", ["nobody@reject.test"],
               b"From: alice@example.com\r\nTo: nobody@reject.test\r\n"
               b"Subject: doomed\r\n\r\nbody\r\n")
    s.quit()
    wait_for(lambda: len(alice.new()) >= 1, what="the bounce")
    msg = email.message_from_bytes(alice.new()[0])
    t.eq(msg.get_content_type(), "multipart/report",
         "the sender gets a delivery report in her INBOX")
    status = msg.get_payload()[1].get_payload()[1]
    t.eq(status.get("Status"), "5.1.1", "with the remote's status")
    t.eq(rejecter.count(), 0, "nothing was accepted by the rejecting host")


def test_relay_still_denied():
    s = smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=30)
    s.ehlo()
    s.mail("someone@elsewhere.test")
    code, text = s.rcpt("dave@remote.test")
    t.eq((code, text[:5]), (554, b"5.7.1"),
         "port 25 without AUTH still refuses to relay")
    s.quit()


try:
    t.run(test_mixed_recipients, "submission to local and external")
    t.run(test_bounce_to_sender, "bounce to the submitting user")
    t.run(test_relay_still_denied, "no open relay")
    d.stop()
finally:
    d.cleanup()
    sink.stop()
    rejecter.stop()
    dns.stop()
t.done()
