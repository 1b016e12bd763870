# smtp_rollback.py: one recipient fails: 451, no copy kept, no duplicate later
import os
import smtplib
import stat

from tap import TAP
import smtp_util as U

t = TAP()
d = U.start(t)
MSG = b"Subject: all or nothing\r\n\r\nbody\r\n"


def send(rcpts):
    s = smtplib.SMTP("127.0.0.1", d.ports["smtp"], timeout=20)
    try:
        s.sendmail("x@remote.test", rcpts, MSG)
        return 250
    except smtplib.SMTPDataError as e:
        return e.smtp_code
    finally:
        s.quit()


def test_rollback():
    rcpts = ["alice@example.com", "bob@example.com"]
    # both Maildirs exist once each has mail
    t.eq(send(rcpts), 250, "first message to both")
    alice = U.Inbox(d, "alice@example.com")
    bob = U.Inbox(d, "bob@example.com")
    new = os.path.join(U.maildir(d, "bob@example.com"), "new")
    mode = stat.S_IMODE(os.stat(new).st_mode)
    os.chmod(new, 0o500)
    try:
        code = send(rcpts)
    finally:
        os.chmod(new, mode)
    t.eq(code, 451, "bob's store fails: the message gets 451")
    t.eq(alice.new(), [], "alice's copy was taken back")
    t.eq(bob.new(), [], "bob has none")
    t.contains(d.log(), "event=smtp.rollback ",
               "the rollback is logged")
    t.eq(send(rcpts), 250, "the sender's retry succeeds")
    t.eq(len(alice.new()), 1, "alice has exactly one copy")
    t.eq(len(bob.new()), 1, "bob has exactly one copy")


try:
    if os.geteuid() == 0 and "user = nobody" not in open(d.conf).read():
        t.skip("rollback", "running as root without a user to drop to")
    else:
        t.run(test_rollback, "rollback")
finally:
    d.stop()
    d.cleanup()
t.done()
