# queue_routes.py: static routes, a smarthost with AUTH, and giving up after max_age
import email
import os

from posta import Postad
from queue_util import SMTPSink, free_port_on, logged, submit, wait_for
import pop3_util
from tap import TAP

t = TAP()
port = free_port_on(["127.0.0.7", "127.0.0.8", "127.0.0.9"])
smart = SMTPSink("127.0.0.7", port, auth=("relay-user", "relay pass"))
routed = SMTPSink("127.0.0.8", port)
d = Postad({}, blocks=pop3_util.PLUGINS, tap=t, start=False)
secret = os.path.join(d.dir, "smarthost.secret")
with open(secret, "w") as f:
    f.write("relay pass\n")
os.chmod(secret, 0o644)
with open(d.conf, "a") as f:
    f.write("plugin queue {\n"
            "  smarthost = 127.0.0.7:%d\n"
            "  smarthost_user = relay-user\n"
            "  smarthost_password_file = %s\n"
            "  smarthost_auth_plaintext = yes\n"
            "  routes = special.test=127.0.0.8:%d, "
            ".dead.test=127.0.0.9:%d\n"
            "  retry_min = 1s\n"
            "  retry_max = 1s\n"
            "  max_age = 3s\n"
            "  connect_timeout = 2s\n"
            "}\n" % (port, secret, port, port))
pop3_util.add_user(d, "alice@example.com", "pw")
d.start()


def message(subject):
    return ("From: alice@example.com\r\nSubject: %s\r\n\r\nbody\r\n" %
            subject).encode()


def inbox():
    new = os.path.join(pop3_util.maildir(d, "alice@example.com"), "new")
    try:
        return sorted(os.path.join(new, n) for n in os.listdir(new))
    except FileNotFoundError:
        return []


def test_route_and_smarthost():
    submit(d, "alice@example.com", ["x@special.test", "y@elsewhere.test"],
           message("routes"))
    wait_for(lambda: routed.count() >= 1 and smart.count() >= 1,
             what="both deliveries")
    t.eq(routed.messages[0]["rcpts"], ["x@special.test"],
         "a static route takes its domain, without DNS")
    t.eq(smart.messages[0]["rcpts"], ["y@elsewhere.test"],
         "the smarthost takes everything else")
    t.eq(smart.auth_seen, [b"\0relay-user\0relay pass"],
         "AUTH PLAIN with the configured user and password file")


def test_max_age():
    before = set(inbox())
    qid = submit(d, "alice@example.com", ["z@a.dead.test"],
                 message("expires"))
    wait_for(lambda: set(inbox()) - before, timeout=30,
             what="the bounce after max_age")
    t.ok(logged(d, "queue.expired", "id=" + qid),
         "the recipient expired after max_age")
    t.ok(d.log().count("event=queue.deferred") >= 1,
         "after being retried")
    with open(sorted(set(inbox()) - before)[0], "rb") as f:
        msg = email.message_from_bytes(f.read())
    st = msg.get_payload()[1].get_payload()[1]
    t.eq((st.get("Action"), st.get("Status")), ("failed", "4.4.1"),
         "the report says failed, with the last temporary status")
    t.ok("connection refused" in st.get("Diagnostic-Code", ""),
         "and the last error")


try:
    t.run(test_route_and_smarthost, "routes and smarthost")
    t.run(test_max_age, "max_age")
    d.stop()
finally:
    d.cleanup()
    smart.stop()
    routed.stop()
t.done()
