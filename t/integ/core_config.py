# core_config.py: configuration errors, module ABI checks, startup failures, shutdown
import os
import signal
import socket
import subprocess
import tempfile
import time

from posta import (BUILDDIR, SRCDIR, LineClient, MODULE_DIRS, Postad,
                   make_cert)
from tap import TAP

t = TAP()
POSTAD = os.path.join(BUILDDIR, "core", "postad")
tmp = tempfile.mkdtemp(prefix="posta-conf-")
os.chmod(tmp, 0o755)
cert, key = make_cert(tmp)
BASE = "\n".join([
    "state_dir = %s/state" % tmp,
    "module_dir = %s" % ", ".join(os.path.join(BUILDDIR, d)
                                  for d in MODULE_DIRS),
    "tls_cert = %s" % cert,
    "tls_key = %s" % key,
] + (["user = nobody"] if os.getuid() == 0 else [])) + "\n"


def check(text, name="bad.conf", extra_files=None):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    for fname, body in (extra_files or {}).items():
        os.makedirs(os.path.dirname(os.path.join(tmp, fname)), exist_ok=True)
        with open(os.path.join(tmp, fname), "w") as f:
            f.write(body)
    p = subprocess.run([POSTAD, "-t", "-c", path], capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def refused(text, needle, desc, **kw):
    code, out = check(text, **kw)
    t.ok(code != 0, desc + ": refused")
    t.contains(out, needle, desc + ": message names the problem")


def test_good():
    code, out = check(BASE + "service e {\n protocol = echo\n"
                      " listen = 127.0.0.1:1\n}\n", "good.conf")
    t.eq(code, 0, "-t accepts a valid config")
    t.contains(out, "is valid", "-t says so")
    p = subprocess.run([POSTAD, "-V"], capture_output=True, text=True)
    t.ok(p.returncode == 0 and "module ABI 1." in p.stdout,
         "-V prints version and ABI")


def test_errors():
    svc = "service e {\n protocol = echo\n listen = 127.0.0.1:1\n}\n"
    refused(BASE + "bogus = 1\n" + svc, "bad.conf:%d: unknown setting 'bogus'"
            % (BASE.count("\n") + 1), "unknown global setting")
    refused(BASE + "service e {\n listen = 127.0.0.1:1\n}\n",
            'expected "protocol = NAME"', "service without protocol")
    refused(BASE + "service e {\n protocol = echo\n listen = nowhere\n}\n",
            "bad.conf:%d:" % (BASE.count("\n") + 3), "bad listen address")
    refused(BASE + svc.replace("}", " idle_timeout = soon\n}"),
            "bad.conf:%d:" % (BASE.count("\n") + 4), "bad duration")
    refused(BASE + svc.replace("}", " tls = maybe\n}"), "none, starttls",
            "bad enum lists the choices")
    refused(BASE + "frobnicate x {\n}\n" + svc, "bad.conf:%d:" %
            (BASE.count("\n") + 1), "unknown block kind")
    refused(BASE + svc + svc, "bad.conf", "duplicate service block")
    refused(BASE + svc + "protocol echo {\n  colour = blue\n}\n",
            "unknown setting 'colour'", "unknown module setting")
    refused(BASE + "service e {\n protocol = nosuch\n listen = "
            "127.0.0.1:1\n}\n", "cannot load module nosuch",
            "missing module")
    refused(BASE + svc + "include \"conf.d/*.conf\"\n",
            "conf.d/10-x.conf:2:", "error in an included file",
            extra_files={"conf.d/10-x.conf": "# ok\nbroken line\n"})
    refused("module_dir = %s\nstate_dir=%s/s\n" % (
        os.path.join(BUILDDIR, "t/modules"), tmp) + svc.replace(
        "}", " tls = implicit\n}"), "expected tls_cert and tls_key",
        "TLS service without certificate")
    refused(BASE + "tls_priority = NONSENSE:+NOPE\n" + svc, "tls_priority",
            "invalid TLS priority string")


def read_abi():
    """(major, minor) from the public header, as postad has it."""
    path = os.path.join(SRCDIR, "core", "include", "posta", "abi.h")
    v = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "#define" and \
                    parts[1] in ("POSTA_ABI_MAJOR", "POSTA_ABI_MINOR"):
                v[parts[1]] = int(parts[2])
    return v["POSTA_ABI_MAJOR"], v["POSTA_ABI_MINOR"]


ABI = read_abi()


def test_abi():
    refused(BASE + "plugin badabi {\n}\n",
            "was built for Posta module ABI 2.0, but this postad provides "
            "ABI %d.%d" % ABI, "module with another ABI major refused "
            "naming both")
    _, out = check(BASE + "plugin badabi {\n}\n")
    t.contains(out, "badabi", "the refusal names the module file")


def test_root():
    if os.getuid() != 0:
        t.ok(True, "not root: privilege drop not testable (skipped)")
        return
    refused(BASE.replace("user = nobody", "user = root") +
            "service e {\n protocol = echo\n listen = 127.0.0.1:1\n}\n",
            "allow_root", "sessions as root refused without allow_root")
    d = Postad({"e": {"protocol": "echo"}}, tap=t)
    try:
        with open("/proc/%d/status" % d.pid()) as f:
            uid_line = [l for l in f if l.startswith("Uid:")][0]
        t.ok(uid_line.split()[1] != "0", "postad dropped root (%s)" %
             uid_line.strip())
        d.stop()
    finally:
        d.cleanup()


def test_state_dir_parents():
    # a fresh --localstatedir: postad makes the missing parents itself
    d = Postad({"e": {"protocol": "echo"}}, tap=t, start=False)
    try:
        deep = os.path.join(d.dir, "fresh", "var", "lib", "posta")
        with open(d.conf) as f:
            text = f.read().replace("state_dir = %s" % d.state,
                                    "state_dir = %s" % deep)
        with open(d.conf, "w") as f:
            f.write(text)
        d.state = deep
        d.start()
        t.ok(os.path.isdir(deep), "postad made state_dir and its parents")
        t.eq(d.stop(), 0, "and ran")
    finally:
        d.cleanup()


def test_port_in_use():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    path = os.path.join(tmp, "busy.conf")
    with open(path, "w") as f:
        f.write(BASE + "service e {\n protocol = echo\n listen = "
                "127.0.0.1:%d\n}\n" % port)
    p = subprocess.run([POSTAD, "-F", "-c", path], capture_output=True,
                       text=True, timeout=30)
    s.close()
    t.ok(p.returncode != 0, "port in use: postad refuses to start")
    t.contains(p.stderr, "cannot listen on 127.0.0.1:%d" % port,
               "port in use: message names the address")


def test_shutdown():
    d = Postad({"e": {"protocol": "echo"}}, tap=None)
    try:
        c = LineClient(d.connect("e"))
        c.line()
        start = time.monotonic()
        d.signal(signal.SIGTERM)
        d.wait_log("event=postad.stopping")
        t.eq(c.cmd("still"), "+ECHO still",
             "a session keeps working during the grace period")
        t.ok(c.closed(), "the session is closed at the end of the grace")
        code = d.proc.wait(20)
        t.eq(code, 0, "postad exits 0 after SIGTERM")
        t.ok(time.monotonic() - start < 15, "within the grace period")
        refused_conn = False
        try:
            socket.create_connection(("127.0.0.1", d.ports["e"]), timeout=2)
        except OSError:
            refused_conn = True
        t.ok(refused_conn, "no longer listening")
        log = d.log()
        t.ok("AddressSanitizer" not in log and "runtime error" not in log,
             "clean shutdown under sanitizers")
    finally:
        d.cleanup()


t.run(test_good, "valid config")
t.run(test_errors, "config errors")
t.run(test_abi, "ABI")
t.run(test_root, "root")
t.run(test_state_dir_parents, "state_dir parents")
t.run(test_port_in_use, "port in use")
t.run(test_shutdown, "shutdown")
t.done()
