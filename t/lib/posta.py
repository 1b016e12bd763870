# posta.py: starts a real postad on free loopback ports with a temporary config
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

BUILDDIR = os.environ.get("POSTA_BUILDDIR", os.getcwd())
SRCDIR = os.environ.get("POSTA_SRCDIR", BUILDDIR)

# Where the build tree keeps loadable modules (libtool .la files).
MODULE_DIRS = [
    "t/modules",
    "plugins/auth-lmdb", "plugins/maildir", "plugins/limiter",
    "plugins/queue",
    "modules/imap", "modules/pop3", "modules/smtp",
]


# RSS says nothing under ASan: its quarantine keeps freed memory on purpose.
SANITIZERS = os.environ.get("POSTA_SANITIZERS") == "yes"


def free_port():
    """A port the kernel just handed out; postad binds it right after."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_cert(dirpath, name="cert", cn="localhost"):
    """A self-signed certificate for tests; returns (cert, key) paths."""
    cert = os.path.join(dirpath, name + ".pem")
    key = os.path.join(dirpath, name + ".key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec",
         "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + cn,
         "-addext", "subjectAltName=DNS:" + cn],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # postad re-reads them as its unprivileged user on SIGHUP
    os.chmod(cert, 0o644)
    os.chmod(key, 0o644)
    return cert, key


def client_tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Postad:
    """One postad under test.

    services: {name: {"protocol": p, "tls": mode, ...extra settings}}
    blocks:   extra config text (plugin and protocol blocks)
    """

    def __init__(self, services, blocks="", global_extra="", tap=None,
                 start=True, ipv6=False):
        self.dir = tempfile.mkdtemp(prefix="posta-test-")
        os.chmod(self.dir, 0o755)
        self.state = os.path.join(self.dir, "state")
        self.conf = os.path.join(self.dir, "postad.conf")
        self.logpath = os.path.join(self.dir, "postad.log")
        self.cert, self.key = make_cert(self.dir)
        self.ports = {}
        self.proc = None
        self.tap = tap
        lines = [
            "state_dir = %s" % self.state,
            "module_dir = %s" % ", ".join(
                os.path.join(BUILDDIR, d) for d in MODULE_DIRS),
            "tls_cert = %s" % self.cert,
            "tls_key = %s" % self.key,
            "log_level = debug",
            "shutdown_grace = 2s",
            "auth_failure_delay = 100ms",
            "hostname = mail.test",
        ]
        if os.getuid() == 0:
            lines.append("user = nobody")
        if global_extra:
            lines.append(global_extra)
        for name, svc in services.items():
            port = svc.pop("port", None) or free_port()
            self.ports[name] = port
            listen = "127.0.0.1:%d" % port
            if ipv6:
                listen += ", [::1]:%d" % port
            lines.append("service %s {" % name)
            lines.append("  listen = %s" % listen)
            for k, v in svc.items():
                lines.append("  %s = %s" % (k, v))
            lines.append("}")
        lines.append(blocks)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        if tap is not None:
            tap.on_fail.append(self.dump_log)
        if start:
            self.start()

    def command(self):
        cmd = [os.path.join(BUILDDIR, "core", "postad"), "-F", "-c",
               self.conf]
        return cmd

    def start(self, timeout=20):
        # a restarted postad appends; only its own lines count for stop()
        log = self.log()
        self.log_start = len(log)
        self.logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self.logf,
                                     stderr=self.logf,
                                     stdin=subprocess.DEVNULL)
        # a restart: wait for this process's ready line, not the last one
        self.wait_log("event=postad.ready", timeout,
                      count=log.count("event=postad.ready") + 1)

    def wait_log(self, needle, timeout=20, count=1):
        """Waits until the log holds needle count times (or postad dies)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log().count(needle) >= count:
                return True
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError("postad exited with %d:\n%s" % (
                    self.proc.returncode, self.log()[-4000:]))
            time.sleep(0.02)
        raise RuntimeError("timed out waiting for %r in log:\n%s" % (
            needle, self.log()[-4000:]))

    def log(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def dump_log(self):
        print("# --- postad log (%s) ---" % self.logpath)
        for line in self.log().splitlines()[-80:]:
            print("# " + line)

    def pid(self):
        return self.proc.pid

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def signal(self, sig):
        self.proc.send_signal(sig)

    def connect(self, service, timeout=10, family=socket.AF_INET):
        host = "127.0.0.1" if family == socket.AF_INET else "::1"
        return socket.create_connection((host, self.ports[service]),
                                        timeout=timeout)

    def connect_tls(self, service, timeout=10, server_hostname=None):
        raw = self.connect(service, timeout)
        return client_tls_context().wrap_socket(
            raw, server_hostname=server_hostname)

    def stop(self, timeout=20):
        """SIGTERM; returns the exit code.  Sanitizer reports fail tests."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            # a test may have stopped it already: a second signal after
            # the loop ended would kill it with the default action
            if "event=postad.stopping" not in \
                    self.log()[getattr(self, "log_start", 0):]:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.logf.close()
        log = self.log()
        if self.tap is not None:
            self.tap.ok("ERROR: AddressSanitizer" not in log and
                        "runtime error:" not in log and
                        "ERROR: LeakSanitizer" not in log,
                        "postad ran without sanitizer reports")
            self.tap.eq(code, 0, "postad exited cleanly")
        self.proc = None
        return code

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        if os.environ.get("POSTA_KEEP_TMP") is None:
            shutil.rmtree(self.dir, ignore_errors=True)


class LineClient:
    """A socket (plain or TLS) with line reads, for raw protocol tests."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; buffered %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.line()

    def read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def closed(self):
        """True when the server closed the connection (EOF, maybe after
        some final lines)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
