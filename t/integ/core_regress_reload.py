# core_regress_reload.py: a module whose reload fails keeps its old settings; what needs a restart is said
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
    t.contains(d.log(), "modules_failed=1",
               "postad.reloaded says a module kept its old settings")
    # the limiter's connect hook reads its (old) settings now
    c = LineClient(d.connect("echo"))
    t.eq(c.line(), "* echo ready", "a connection after the failed reload")
    t.eq(c.cmd("QUIT"), "+BYE", "and it works")
    c.close()


def test_needs_restart():
    # what a reload cannot change is named, not silently ignored
    with open(d.conf) as f:
        text = f.read()
    port = d.ports["echo"]
    other = [l for l in text.splitlines() if l.startswith("state_dir = ")][0]
    text = text.replace(other, other + "-elsewhere")
    text = text.replace("listen = 127.0.0.1:%d" % port,
                        "listen = 127.0.0.1:%d, 127.0.0.2:%d" % (port, port))
    with open(d.conf, "w") as f:
        f.write(text)
    before = d.log().count("event=postad.reloaded")
    d.signal(signal.SIGHUP)
    d.wait_log("event=postad.reloaded", 10, count=before + 1)
    log = d.log()
    t.contains(log, "event=reload.needs_restart setting=state_dir",
               "a new state_dir is reported as needing a restart")
    t.contains(log, "event=reload.needs_restart service=echo "
               "setting=listen", "so is a changed listen address")
    last = [l for l in log.splitlines() if "event=postad.reloaded" in l][-1]
    t.ok("needs_restart=2" in last and "level=warn" in last,
         "postad.reloaded counts them, as a warning: %s" % last)
    c = LineClient(d.connect("echo"))
    t.eq(c.line(), "* echo ready", "the running listener still serves")
    c.close()


t.run(test_failed_module_reload, "failed module reload")
t.run(test_needs_restart, "settings that need a restart")
try:
    d.stop()
finally:
    d.cleanup()
t.done()
