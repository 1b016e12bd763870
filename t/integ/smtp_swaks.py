# smtp_swaks.py: swaks against smtp, submission and smtps
from tap import TAP
import smtp_util as U

t = TAP()
if U.SWAKS is None:
    t.skip("swaks tests", "swaks not installed")
    t.done()
d = U.start(t)
ALICE, ALICE_PW = "alice@example.com", U.USERS["alice@example.com"]


def delivered(address, fn):
    box = U.Inbox(d, address)
    rc, out = fn()
    return rc, out, box.new()


def test_port25():
    for to, owner, why in (
            ("alice@example.com", "alice@example.com", "a local user"),
            ("info@example.com", "alice@example.com", "an alias"),
            ("bob@example.net", "bob@example.com", "an alias-domain address")):
        rc, out, got = delivered(owner, lambda: U.swaks(
            d, "smtp", "--from", "x@remote.test", "--to", to,
            "--header", "Subject: swaks " + why))
        t.eq(rc, 0, "swaks to %s on port 25" % why)
        t.ok(len(got) == 1 and b"Subject: swaks " + why.encode() in got[0],
             "%s: delivered to %s" % (why, owner))
    rc, out = U.swaks(d, "smtp", "--from", "x@remote.test", "--to",
                      "nobody@example.com")
    t.eq(rc, 24, "unknown user: swaks says no RCPT accepted")
    t.contains(out, "* 550 5.1.1", "unknown user: 550 5.1.1")
    rc, out = U.swaks(d, "smtp", "--from", "x@remote.test", "--to",
                      "someone@elsewhere.test")
    t.eq(rc, 24, "relay: no RCPT accepted")
    t.contains(out, "* 554 5.7.1", "relay denied: 554 5.7.1")
    rc, out, got = delivered("alice@example.com", lambda: U.swaks(
        d, "smtp", "--pipeline", "--from", "x@remote.test", "--to",
        "alice@example.com,nobody@example.com"))
    t.eq(rc, 0, "swaks --pipeline with one bad recipient")
    t.ok(len(got) == 1, "delivered to the good one")


def test_submission():
    for mech in ("PLAIN", "LOGIN"):
        rc, out, got = delivered("bob@example.com", lambda: U.swaks(
            d, "submission", "--tls", "--auth", mech, "--auth-user", ALICE,
            "--auth-password", ALICE_PW, "--from", ALICE, "--to",
            "bob@example.com"))
        t.eq(rc, 0, "submission with STARTTLS and AUTH %s" % mech)
        t.contains(out, "<~  235 2.7.0", "AUTH %s accepted" % mech)
        t.ok(len(got) == 1 and b"with ESMTPSA" in got[0] and
             b"\r\nMessage-Id: <" in got[0],
             "AUTH %s: delivered, with its own Message-Id" % mech)
    rc, out, got = delivered("bob@example.com", lambda: U.swaks(
        d, "smtps", "--tls-on-connect", "--auth", "PLAIN", "--auth-user",
        ALICE, "--auth-password", ALICE_PW, "--from", "info@example.com",
        "--to", "bob@example.com"))
    t.eq(rc, 0, "SMTPS with AUTH PLAIN, sending as an alias")
    t.ok(len(got) == 1, "delivered over SMTPS")


def test_submission_refusals():
    rc, out = U.swaks(d, "submission", "--auth", "PLAIN", "--auth-user",
                      ALICE, "--auth-password", ALICE_PW, "--from", ALICE,
                      "--to", "bob@example.com")
    t.ok(rc != 0, "AUTH without STARTTLS: swaks fails (rc %d)" % rc)
    t.ok("530 5.7.0" in out or "did not advertise" in out.lower(),
         "AUTH is not offered before STARTTLS")
    rc, out = U.swaks(d, "submission", "--auth-optional", "--auth-user",
                      ALICE, "--auth-password", ALICE_PW, "--from", ALICE,
                      "--to", "bob@example.com")
    t.eq(rc, 23, "MAIL without STARTTLS refused")
    t.contains(out, "* 530 5.7.0", "with 530 5.7.0")
    rc, out = U.swaks(d, "submission", "--tls", "--auth", "PLAIN",
                      "--auth-user", ALICE, "--auth-password", "wrong",
                      "--from", ALICE, "--to", "bob@example.com")
    t.ok(rc != 0, "wrong password: swaks fails")
    t.contains(out, "* 535 5.7.8", "with 535 5.7.8")
    rc, out = U.swaks(d, "submission", "--tls", "--auth", "LOGIN",
                      "--auth-user", ALICE, "--auth-password", ALICE_PW,
                      "--from", "bob@example.com", "--to",
                      "bob@example.com")
    t.eq(rc, 23, "sender mismatch refused at MAIL")
    t.contains(out, "* 553 5.7.1", "with 553 5.7.1")
    rc, out = U.swaks(d, "submission", "--tls", "--from", ALICE, "--to",
                      "bob@example.com")
    t.eq(rc, 23, "submission without AUTH refused at MAIL")
    t.contains(out, "* 530 5.7.0", "with 530 5.7.0")


try:
    t.run(test_port25, "port 25")
    t.run(test_submission, "submission and smtps")
    t.run(test_submission_refusals, "submission refusals")
finally:
    d.stop()
    d.cleanup()
t.done()
