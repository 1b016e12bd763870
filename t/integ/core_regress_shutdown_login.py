# core_regress_shutdown_login.py: forced shutdown while auth providers still owe answers
import os
import signal
import subprocess
import time

from posta import BUILDDIR, LineClient, Postad
from tap import TAP

t = TAP()
POSTA_BIN = os.path.join(BUILDDIR, "tools", "posta", "posta")
d = Postad({"e": {"protocol": "echo", "allow_plaintext_auth": "yes"}},
           blocks="plugin auth-lmdb {\n}\n", start=False, tap=t)


def admin(*args, stdin=""):
    subprocess.run([POSTA_BIN, "--state-dir", d.state, "--config", d.conf] +
                   list(args), input=stdin, text=True, check=True,
                   capture_output=True, timeout=60)


def test_forced_shutdown_with_pending_logins():
    admin("domain", "add", "example.com")
    admin("user", "add", "alice@example.com", "--password-stdin",
          stdin="alice-pw\n")
    d.start()
    cs = []
    for _ in range(16):
        c = LineClient(d.connect("e"))
        c.line()
        cs.append(c)
    # each LOGIN hashes on the thread pool: the answers arrive after the
    # sessions were torn down and after the loop was told to stop
    for c in cs:
        c.send("LOGIN alice@example.com alice-pw\r\n")
    time.sleep(0.01)
    d.signal(signal.SIGTERM)
    time.sleep(0.005)
    d.signal(signal.SIGTERM)   # the second one ends every session at once
    try:
        d.proc.wait(20)
    except subprocess.TimeoutExpired:
        pass
    t.ok("uv_close: Assertion" not in d.log(),
         "no double uv_close of a login's timer at exit")
    for c in cs:
        c.close()


t.run(test_forced_shutdown_with_pending_logins, "forced shutdown, pending logins")
try:
    d.stop()
finally:
    d.cleanup()
t.done()
