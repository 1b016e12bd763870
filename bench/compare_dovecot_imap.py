# compare_dovecot_imap.py: IMAP commands/s over TLS, Dovecot and Posta in alternating rounds, one client
# usage (from a build tree, see bench/README.md; run as root):
#   python3 ../bench/compare_dovecot_imap.py [--rounds 3] [--clients 10]
#       [--seconds 10] [--posta-log-level info] [--dovecot-fsync never]
#       [--dovecot-login high-security|performance]
#
# Starts a private Dovecot (Debian's dovecot-core/dovecot-imapd, `dovecot
# -F -c` a config written to a temporary directory: imaps only on a free
# 127.0.0.1 port, ssl = required, self-signed certificate, passwd-file
# with the Posta bench user, Maildir in the temporary directory owned by
# nobody, login processes as Debian ships them) and a postad as
# bench/imap_cmds.py does, fills both INBOXes with the same 100 messages
# (imap_bench.fill_maildir), then runs imap_cmds.run_clients() against
# each in turn, --rounds times, swapping which goes first every round.
# Prints commands/s per round, the server CPU time spent per command (all
# processes of the server: less sensitive to the shared machine's load
# than commands/s), the client CPU and the load average, then medians and
# the Posta / Dovecot ratio.  Every run is bounded by --seconds plus
# imap_cmds' own timeouts; both servers are stopped at the end.
import argparse
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "t", "lib"))

from imap_bench import (PASSWORD, USER, Client, cheap_hash,  # noqa: E402
                        fill_maildir, start)
from imap_cmds import MIX, run_clients  # noqa: E402
from posta import client_tls_context, free_port, make_cert  # noqa: E402

MESSAGES = 100
CLK = os.sysconf("SC_CLK_TCK")

DOVECOT_CONF = """\
# written by bench/compare_dovecot_imap.py; private instance
instance_name = posta-bench-dovecot
base_dir = {dir}/run
state_dir = {dir}/lib
log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {dir}/users
}}
userdb {{
  driver = passwd-file
  args = {dir}/users
}}
mail_location = maildir:{dir}/state/mail/%d/%n
mail_uid = nobody
mail_gid = nogroup
mail_fsync = {fsync}
service imap-login {{
{login}  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
protocol imap {{
  # Posta's limiter is raised the same way: rounds follow each other fast
  mail_max_userip_connections = 1000
}}
"""


# Debian ships high-security mode: one imap-login process per connection,
# which stays to proxy TLS.  Performance mode shares a few (one per core).
LOGIN = {"high-security": "",
         "performance": "  service_count = 0\n  process_min_avail = 2\n"}


class Dovecot:
    """A private Dovecot master in the foreground, all state in one dir."""

    def __init__(self, fsync, login):
        self.dir = tempfile.mkdtemp(prefix="posta-bench-dovecot-")
        os.chmod(self.dir, 0o755)
        self.state = os.path.join(self.dir, "state")   # for fill_maildir
        os.makedirs(os.path.join(self.state, "mail"))
        os.chmod(self.state, 0o755)
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.log = os.path.join(self.dir, "dovecot.log")
        self.port = free_port()
        cert, key = make_cert(self.dir)
        os.chmod(key, 0o600)
        with open(os.path.join(self.dir, "users"), "w") as f:
            f.write("%s:{SHA512-CRYPT}%s::::::\n" % (USER,
                                                    cheap_hash(PASSWORD)))
        with open(self.conf, "w") as f:
            f.write(DOVECOT_CONF.format(dir=self.dir, cert=cert, key=key,
                                        port=self.port, fsync=fsync,
                                        login=LOGIN[login]))
        self.proc = None

    def summary(self):
        out = subprocess.run(["doveconf", "-c", self.conf, "-n"],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise RuntimeError("doveconf: " + out.stderr)
        return out.stdout

    def start(self, timeout=20):
        self.out = open(os.path.join(self.dir, "master.out"), "wb")
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf],
                                     stdout=self.out, stderr=self.out,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dovecot exited with %d: %s" % (
                    self.proc.returncode, self.errors()))
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("dovecot did not listen on %d" % self.port)

    def pid(self):
        return self.proc.pid

    def errors(self):
        text = ""
        for name in ("dovecot.log", "master.out"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") \
                        as f:
                    text += f.read()
            except FileNotFoundError:
                pass
        return [line for line in text.splitlines()
                if any(w in line for w in ("Error:", "Fatal:", "Panic:"))]

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        self.proc = None

    def cleanup(self):
        self.stop()
        if os.environ.get("POSTA_KEEP_TMP") is None:
            shutil.rmtree(self.dir, ignore_errors=True)


def proc_cpu(pid):
    """(own + reaped children's CPU seconds, parent pid) of one process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0, None
    return sum(int(x) for x in fields[11:15]) / CLK, int(fields[1])


def tree_cpu(root):
    """CPU seconds of root, its live children and the ones it reaped.
    Dovecot forks a process per login and per session; Posta is one
    process, but the same sum is taken for both."""
    total, _ = proc_cpu(root)
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != root:
            cpu, ppid = proc_cpu(int(name))
            if ppid == root:
                total += cpu
    return total


def client_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def tls_info(port):
    with client_tls_context().wrap_socket(
            socket.create_connection(("127.0.0.1", port), timeout=10)) as s:
        return "%s %s" % (s.version(), s.cipher()[0])


def mix_sizes(port):
    """Reply lines and bytes for one pass over imap_cmds.MIX, to show
    both servers get the same work (message 1 for the %d commands)."""
    c = Client(types.SimpleNamespace(ports={"imaps": port}))
    c.run('LOGIN "%s" "%s"' % (USER, PASSWORD))
    c.run("SELECT INBOX")
    got = []
    for cmd in MIX:
        c.s.sendall(b"m " + (cmd.replace("%d", "1")).encode() + b"\r\n")
        lines = size = 0
        while True:
            line = c.line()
            lines += 1
            size += len(line) + 2
            if line.startswith(b"m "):
                break
        got.append("%d/%d" % (lines, size))
    c.run("LOGOUT")
    return " ".join(got)


def measure(name, port, pid, clients, seconds):
    load = os.getloadavg()[0]
    s0, c0 = tree_cpu(pid), client_cpu()
    total = run_clients(port, clients, seconds)
    # the sessions' processes have logged out: let the master reap them
    time.sleep(0.5)
    s1, c1 = tree_cpu(pid), client_cpu()
    r = {"name": name, "rate": total / seconds, "total": total,
         "us_per_cmd": (s1 - s0) / total * 1e6,
         "server_cpu": (s1 - s0) / seconds, "client_cpu": (c1 - c0) / seconds,
         "load": load}
    print("  %-7s %6.0f commands/s  (%d commands; server CPU %4.0f us/command,"
          " %.2f cores; clients %.2f cores; load %.2f)" % (
              name, r["rate"], total, r["us_per_cmd"], r["server_cpu"],
              r["client_cpu"], load), flush=True)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--posta-log-level", default="info")
    ap.add_argument("--dovecot-fsync", default="never",
                    choices=("never", "optimized", "always"))
    ap.add_argument("--dovecot-login", default="high-security",
                    choices=sorted(LOGIN))
    args = ap.parse_args()
    if os.getuid() != 0:
        sys.exit("run as root: Dovecot's master must switch users")
    if not 1 <= args.rounds <= 20 or not 1 <= args.clients <= 200 or \
            not 0 < args.seconds <= 120:
        sys.exit("rounds 1-20, clients 1-200, seconds up to 120")

    d = start(limiter_caps=True)
    dv = Dovecot(args.dovecot_fsync, args.dovecot_login)
    try:
        with open(d.conf) as f:
            conf = f.read()
        with open(d.conf, "w") as f:
            f.write(conf.replace("log_level = debug",
                                 "log_level = " + args.posta_log_level))
        fill_maildir(d, MESSAGES)
        fill_maildir(types.SimpleNamespace(state=dv.state), MESSAGES)
        print("dovecot config (doveconf -n):")
        print("".join("  " + line + "\n" for line in
                      dv.summary().splitlines()
                      if not line.startswith("#")), end="")
        print("postad: as bench/imap_cmds.py (maildir fsync = no, limiter "
              "caps raised), log_level = %s" % args.posta_log_level)
        d.start()
        dv.start()
        targets = {"dovecot": (dv.port, dv.pid()),
                   "posta": (d.ports["imaps"], d.pid())}
        for name, (port, pid) in targets.items():
            print("%s: 127.0.0.1:%d, pid %d, %s" % (name, port, pid,
                                                    tls_info(port)))
            print("  reply lines/bytes per MIX command: " + mix_sizes(port))
        print("uptime:", subprocess.run(["uptime"], capture_output=True,
                                        text=True).stdout.strip())
        print("warm-up (not counted), %d clients, 2 s each:" % args.clients)
        for name, (port, pid) in targets.items():
            measure(name, port, pid, args.clients, 2)
        results = []
        for r in range(args.rounds):
            order = ["dovecot", "posta"]
            if r % 2:
                order.reverse()
            print("round %d, %d clients, %.0f s each:" % (
                r + 1, args.clients, args.seconds), flush=True)
            got = {n: measure(n, *targets[n], args.clients, args.seconds)
                   for n in order}
            results.append(got)
            print("  posta / dovecot: %.2fx commands/s, %.2fx less CPU per "
                  "command" % (got["posta"]["rate"] / got["dovecot"]["rate"],
                               got["dovecot"]["us_per_cmd"] /
                               got["posta"]["us_per_cmd"]), flush=True)
        print("uptime:", subprocess.run(["uptime"], capture_output=True,
                                        text=True).stdout.strip())
        med = {n: statistics.median(g[n]["rate"] for g in results)
               for n in targets}
        cpu = {n: statistics.median(g[n]["us_per_cmd"] for g in results)
               for n in targets}
        ratios = [g["posta"]["rate"] / g["dovecot"]["rate"] for g in results]
        print("median commands/s: dovecot %.0f, posta %.0f; per-round "
              "ratios %s, median %.2fx" % (
                  med["dovecot"], med["posta"],
                  " ".join("%.2f" % x for x in ratios),
                  statistics.median(ratios)))
        print("median server CPU per command: dovecot %.0f us, posta %.0f us "
              "(%.2fx)" % (cpu["dovecot"], cpu["posta"],
                           cpu["dovecot"] / cpu["posta"]))
        errs = dv.errors()
        print("dovecot log: %d error lines%s" % (
            len(errs), (": " + errs[0]) if errs else ""))
        bad = [line for line in d.log().splitlines()
               if "level=error" in line or "level=crit" in line]
        print("postad log: %d error lines%s" % (
            len(bad), (": " + bad[0]) if bad else ""))
    finally:
        dv.cleanup()
        d.stop()
        d.cleanup()


if __name__ == "__main__":
    main()
