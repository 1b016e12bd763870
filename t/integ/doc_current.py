# doc_current.py: the admin guide's settings reference matches the conf.d snippets
import os
import subprocess
import sys

from tap import TAP

t = TAP()
src = os.environ.get("POSTA_SRCDIR", ".")
r = subprocess.run([sys.executable, os.path.join(src, "scripts",
                                                 "settings-doc.py"),
                    "--check"], capture_output=True, text=True)
t.ok(r.returncode == 0, "doc/admin-guide.md lists every conf.d setting "
     "with its default (%s)" % (r.stdout.strip() or r.stderr.strip()))
t.done()
