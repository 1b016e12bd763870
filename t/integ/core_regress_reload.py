# core_regress_reload.py: a module whose reload fails keeps its old settings; they must outlive SIGHUP
import signal

from posta import LineClient, Postad
from tap import TAP

t = TAP()
d = Postad({"echo": {"protocol": "echo"}},
           blocks="plugin limiter {\n  max_connections = 100\n}\n", tap=t)


def test_failed_module_reload():
    c = LineClient(d.connect("echo"))
    t.eq(c.line(), "* echo ready", "a connection before the reload")
    c.close()
    d.wait_log("event=conn.close", 10)
    # valid for the core's parser, refused by the limiter's own reload:
    # module.h says "on error the old settings stay in force"
    with open(d.conf) as f:
        text = f.read()
    with open(d.conf, "w") as f:
        f.write(text.replace("max_connections = 100",
                             "max_connections = 100\n"
                             "  trusted_networks = not-an-address"))
    d.signal(signal.SIGHUP)
    d.wait_log("event=postad.reloaded", 10)
    t.contains(d.log(), "event=reload.module_failed",
               "the limiter refused the new settings")
    # the limiter's connect hook reads its (old) settings now
    c = LineClient(d.connect("echo"))
    t.eq(c.line(), "* echo ready", "a connection after the failed reload")
    t.eq(c.cmd("QUIT"), "+BYE", "and it works")
    c.close()


t.run(test_failed_module_reload, "failed module reload")
try:
    d.stop()
finally:
    d.cleanup()
t.done()
