# queue_util.py: loopback DNS and "remote" SMTP servers, and postad with the queue, for queue_*.py
import base64
import os
import socket
import socketserver
import ssl
import struct
import subprocess
import threading
import time

from posta import BUILDDIR, Postad

QUEUE_ADMIN = os.path.join(BUILDDIR, "plugins", "queue", "queue-admin")
POSTA_BIN = os.path.join(BUILDDIR, "tools", "posta", "posta")

T_A, T_MX, T_AAAA = 1, 15, 28


class DNSServer:
    """A tiny authoritative DNS server on 127.0.0.1 (UDP).

    records: {(name, type): [rdata...]}: MX rdata is (pref, host), A rdata
    an IPv4 string.  A name with records of another type answers NODATA;
    an unknown name NXDOMAIN; names in servfail answer SERVFAIL."""

    def __init__(self, records, servfail=()):
        self.records = {(n.lower().rstrip("."), t): v
                        for (n, t), v in records.items()}
        self.names = {n for (n, _t) in self.records}
        self.servfail = set(servfail)
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()

    def serve(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                reply = self.answer(data)
            except Exception:  # a malformed query gets no answer
                continue
            self.sock.sendto(reply, peer)

    @staticmethod
    def encode_name(name):
        out = b""
        for label in name.rstrip(".").split("."):
            if label:
                out += bytes([len(label)]) + label.encode()
        return out + b"\0"

    def answer(self, data):
        qid, flags, qd = struct.unpack("!HHH", data[:6])
        pos, labels = 12, []
        while data[pos] != 0:
            n = data[pos]
            labels.append(data[pos + 1:pos + 1 + n].decode())
            pos += 1 + n
        qname = ".".join(labels).lower()
        qtype, _qclass = struct.unpack("!HH", data[pos + 1:pos + 5])
        question = data[12:pos + 5]
        self.queries.append((qname, qtype))
        rrs = []
        rcode = 0
        if qname in self.servfail:
            rcode = 2
        elif qname not in self.names:
            rcode = 3
        else:
            for rd in self.records.get((qname, qtype), []):
                if qtype == T_MX:
                    rdata = struct.pack("!H", rd[0]) + \
                        self.encode_name(rd[1])
                elif qtype == T_A:
                    rdata = socket.inet_pton(socket.AF_INET, rd)
                else:
                    rdata = socket.inet_pton(socket.AF_INET6, rd)
                rrs.append(b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 60,
                                                     len(rdata)) + rdata)
        hdr = struct.pack("!HHHHHH", qid, 0x8400 | (flags & 0x0100) | rcode,
                          1, len(rrs), 0, 0)
        return hdr + question + b"".join(rrs)


class SMTPSink:
    """A scripted SMTP server on (host, port) for the queue to talk to.

    rcpt_reply(addr) -> reply line for RCPT (default "250 2.1.5 ok");
    data_reply(msg) -> reply after the data (default "250 2.0.0 ok");
    hold: when set (a threading.Event), final replies wait for it and the
    held message is dropped unanswered (a server that crashed).
    messages: list of dicts (mail_from, rcpts, data, tls) answered 250."""

    def __init__(self, host, port, greeting="220 sink ESMTP",
                 rcpt_reply=None, data_reply=None, starttls=None,
                 pipelining=True, size=None, auth=None):
        self.host = host
        self.greeting = greeting
        self.rcpt_reply = rcpt_reply or (lambda a: "250 2.1.5 ok")
        self.data_reply = data_reply or (lambda m: "250 2.0.0 ok")
        self.tls_ctx = starttls
        self.pipelining = pipelining
        self.size = size
        self.auth = auth            # (user, password) to require AUTH
        self.auth_seen = []
        self.messages = []
        self.connections = 0
        self.lock = threading.Lock()
        self.hold = None
        self.held = 0
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                sink.session(self.connection)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server((host, port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()

    def count(self):
        with self.lock:
            return len(self.messages)

    def session(self, sock):
        with self.lock:
            self.connections += 1
        sock.settimeout(30)
        f = sock.makefile("rb")
        tls = False

        def send(line):
            sock.sendall(line.encode() + b"\r\n")

        send(self.greeting)
        if not self.greeting.startswith("220"):
            return
        authed = False
        mail_from, rcpts = None, []
        for _ in range(100000):     # bounded: one command per turn
            line = f.readline(4096)
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "EHLO":
                caps = ["250-sink"]
                if self.pipelining:
                    caps.append("250-PIPELINING")
                if self.size:
                    caps.append("250-SIZE %d" % self.size)
                caps.append("250-8BITMIME")
                if self.tls_ctx is not None and not tls:
                    caps.append("250-STARTTLS")
                if self.auth is not None:
                    caps.append("250-AUTH PLAIN LOGIN")
                caps.append("250 SMTPUTF8")
                send("\r\n".join(caps))
            elif verb == "HELO":
                send("250 sink")
            elif verb == "STARTTLS" and self.tls_ctx is not None:
                send("220 2.0.0 go ahead")
                sock = self.tls_ctx.wrap_socket(sock, server_side=True)
                sock.settimeout(30)
                f = sock.makefile("rb")
                tls = True
            elif verb == "AUTH" and self.auth is not None:
                parts = cmd.split(" ")
                try:
                    raw = base64.b64decode(parts[2]) if len(parts) > 2 \
                        else b""
                except ValueError:
                    raw = b""
                self.auth_seen.append(raw)
                if raw == b"\0%s\0%s" % (self.auth[0].encode(),
                                          self.auth[1].encode()):
                    authed = True
                    send("235 2.7.0 ok")
                else:
                    send("535 5.7.8 bad credentials")
            elif verb == "MAIL":
                if self.auth is not None and not authed:
                    send("530 5.7.0 authentication required")
                    continue
                mail_from, rcpts = cmd[10:].split(">")[0].lstrip("<"), []
                send("250 2.1.0 ok")
            elif verb == "RCPT":
                addr = cmd[8:].split(">")[0].lstrip("<")
                reply = self.rcpt_reply(addr)
                if reply.startswith("2"):
                    rcpts.append(addr)
                send(reply)
            elif verb == "DATA":
                if not rcpts:
                    send("554 5.5.1 no valid recipients")
                    continue
                send("354 go ahead")
                data = b""
                while True:
                    chunk = f.readline(65536)
                    if not chunk:
                        return
                    if chunk == b".\r\n":
                        break
                    if chunk.startswith(b"."):
                        chunk = chunk[1:]
                    data += chunk
                msg = {"mail_from": mail_from, "rcpts": list(rcpts),
                       "data": data, "tls": tls}
                hold = self.hold
                if hold is not None:
                    with self.lock:
                        self.held += 1
                    hold.wait(60)
                    return          # crashed before answering
                reply = self.data_reply(msg)
                if reply.startswith("2"):
                    with self.lock:
                        self.messages.append(msg)
                send(reply)
                mail_from, rcpts = None, []
            elif verb == "RSET":
                mail_from, rcpts = None, []
                send("250 2.0.0 ok")
            elif verb == "NOOP":
                send("250 2.0.0 ok")
            elif verb == "QUIT":
                send("221 2.0.0 bye")
                return
            else:
                send("502 5.5.2 unknown command")


def free_port_on(hosts):
    """A TCP port free on every one of hosts (127.0.0.x)."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((hosts[0], 0))
        port = s.getsockname()[1]
        ok = True
        others = []
        for h in hosts[1:]:
            o = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                o.bind((h, port))
            except OSError:
                ok = False
            others.append(o)
        s.close()
        for o in others:
            o.close()
        if ok:
            return port
    raise RuntimeError("no common free port")


def queue_block(dns_port, smtp_port, extra=""):
    return ("plugin queue {\n"
            "  dns_servers = 127.0.0.1:%d\n"
            "  smtp_port = %d\n"
            "  retry_min = 1s\n"
            "  retry_max = 2s\n"
            "  connect_timeout = 3s\n"
            "  command_timeout = 10s\n"
            "  dns_timeout = 1s\n"
            "%s}\n" % (dns_port, smtp_port, extra))


def admin_queue(d, *args, stdin=None):
    r = subprocess.run([QUEUE_ADMIN, "--state-dir", d.state] + list(args),
                       input=stdin, capture_output=True, timeout=60)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def submit(d, sender, rcpts, data):
    args = ["submit", "--from", sender]
    for r in rcpts:
        args += ["--to", r]
    rc, out, err = admin_queue(d, *args, stdin=data)
    if rc != 0:
        raise RuntimeError("queue submit: rc=%d %s" % (rc, err))
    return out.strip()


def logged(d, event, *fields):
    """True when a log line has event=EVENT and every "key=value" field."""
    for line in d.log().splitlines():
        if (" event=%s " % event) in line and \
                all((" %s" % f) in line + " " for f in fields):
            return True
    return False


def wait_for(pred, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for " + what)


def spool_ids(d):
    qdir = os.path.join(d.state, "queue", "q")
    try:
        return sorted(n[:-4] for n in os.listdir(qdir) if n.endswith(".env"))
    except FileNotFoundError:
        return []


def server_tls_context(d):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d.cert, d.key)
    return ctx
