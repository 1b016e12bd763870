# oot_login.py: logs in through an auth plugin built out of tree against the installed API
import os
import sys

from posta import LineClient, Postad
from tap import TAP

t = TAP()
oot_dir = sys.argv[1]
d = Postad({"e": {"protocol": "echo", "tls": "starttls",
                  "allow_plaintext_auth": "yes"}},
           blocks="plugin oot-auth {\n  users = alice@example.org:s3cret\n}\n",
           global_extra="module_dir = %s, %s" % (
               oot_dir, os.path.join(os.environ["POSTA_BUILDDIR"],
                                     "t/modules")),
           tap=t, start=False)
# the generated module_dir line comes first; keep only ours
with open(d.conf) as f:
    lines = [l for l in f.read().splitlines()
             if not (l.startswith("module_dir") and oot_dir not in l)]
with open(d.conf, "w") as f:
    f.write("\n".join(lines) + "\n")
try:
    d.start()
    t.contains(d.log(), "event=oot.ready module=oot-auth users=1",
               "the out-of-tree plugin loaded and read its settings")
    c = LineClient(d.connect("e"))
    c.line()
    t.eq(c.cmd("LOGIN alice@example.org s3cret"),
         "+OK logged in as alice@example.org",
         "login through the out-of-tree provider")
    t.eq(c.cmd("WHO"), "+WHO e echo 127.0.0.1 alice@example.org",
         "the session knows its user")
    c.close()
    c = LineClient(d.connect("e"))
    c.line()
    t.ok(c.cmd("LOGIN alice@example.org wrong").startswith("-ERR [FAIL]"),
         "wrong password refused")
    t.ok(c.cmd("LOGIN bob@example.org x").startswith("-ERR [FAIL]"),
         "NOT_MINE from the only provider is a failed login")
    c.close()
    d.stop()
finally:
    d.cleanup()
t.done()
