# compare_rounds.py: alternating Postfix and Posta rounds of smtp-source
# usage: POSTA_BUILDDIR=... python3 bench/compare_rounds.py
#            [--rounds 3] [--sessions 10] [--messages 2000]
#            [--no-postfix] [--also LABEL=BUILDDIR] [--fsync yes|no]
#            [--attach 'CMD {pid}']
#
# Starts one postad per build (POSTA_BUILDDIR's, labelled "posta", and
# one for each --also, e.g. an older tree for an A/B), as
# bench/smtp_bench.py does: auth-lmdb, maildir with fsync = yes, smtp
# without TLS on a free 127.0.0.1 port, log_level info, one user.  Then,
# --rounds times, runs bench/compare_postfix.sh against Postfix on
# 127.0.0.1:25 (configured and started as bench/compare.md says) and
# against each postad in turn, the order rotated by one each round.  Each run is bounded by compare_postfix.sh
# (--messages messages, 300 s).  Besides the rates it prints the CPU time
# postad and the client side (smtp-source, the counting loop) used.
#
# Files are deleted only after the last round: on this VM's ext4 (no
# journal) every file created within seconds of many deletions in the
# same block group pays a scan of the recently freed inodes
# (recently_deleted() in the kernel), which made rounds after a cleanup
# several times slower.  --attach runs a command beside each Posta run
# with {pid} replaced by postad's pid (e.g. strace -c -f -p {pid}); it
# gets SIGINT when the run ends.
import argparse
import os
import re
import resource
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "t", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "t", "integ"))

import posta  # noqa: E402
import smtp_util as u  # noqa: E402
from posta import Postad  # noqa: E402

SCRIPT = os.path.join(HERE, "compare_postfix.sh")


def cpu_s(pid):
    """utime + stime of a process and its threads, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(label, sessions, messages, target, env, attach=None, pid=None):
    proc = None
    c0 = cpu_s(pid) if pid is not None else 0.0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    k0 = ru.ru_utime + ru.ru_stime
    if attach is not None:
        proc = subprocess.Popen(attach, shell=True)
    r = subprocess.run(["sh", SCRIPT, str(sessions), str(messages), target],
                       env=env, timeout=700, capture_output=True, text=True)
    if proc is not None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = (r.stdout + r.stderr).strip()
    line += " client_cpu_s=%.2f" % (ru.ru_utime + ru.ru_stime - k0)
    if pid is not None:
        line += " postad_cpu_s=%.2f" % (cpu_s(pid) - c0)
    print("%-8s %s" % (label, line), flush=True)
    m = re.search(r"accepted/s=([\d.]+).*delivered=(\d+).*delivered/s=([\d.]+)",
                  line)
    return (float(m.group(1)), int(m.group(2)), float(m.group(3))) \
        if m else None


class BuildPostad(Postad):
    """A postad from another build tree than POSTA_BUILDDIR."""

    def __init__(self, builddir, *args, **kw):
        self.builddir = builddir
        super().__init__(*args, **kw)
        conf = open(self.conf).read().replace(
            "module_dir = %s" % ", ".join(
                os.path.join(posta.BUILDDIR, d) for d in posta.MODULE_DIRS),
            "module_dir = %s" % ", ".join(
                os.path.join(builddir, d) for d in posta.MODULE_DIRS))
        open(self.conf, "w").write(conf)

    def command(self):
        return [os.path.join(self.builddir, "core", "postad"), "-F", "-c",
                self.conf]


def start_postad(builddir, fsync):
    d = BuildPostad(builddir, {"smtp": {"protocol": "smtp", "tls": "none"}},
                    blocks="plugin auth-lmdb {\n}\n"
                    "plugin maildir {\n  fsync = %s\n}\n" % fsync,
                    start=False)
    conf = open(d.conf).read().replace("log_level = debug",
                                       "log_level = info")
    open(d.conf, "w").write(conf)
    u.admin(d, "domain", "add", "example.com")
    u.admin(d, "user", "add", "user@example.com", "--password-stdin",
            stdin="pw\n")
    d.start()
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--no-postfix", action="store_true")
    ap.add_argument("--also", action="append", default=[])
    ap.add_argument("--fsync", default="yes", choices=("yes", "no"))
    ap.add_argument("--attach")
    a = ap.parse_args()
    a.rounds = max(1, min(a.rounds, 20))
    builds = [("posta", posta.BUILDDIR)] + \
        [tuple(x.split("=", 1)) for x in a.also]
    servers = []
    res = []
    try:
        for label, bdir in builds:
            servers.append((label, start_postad(bdir, a.fsync)))
        order = ([] if a.no_postfix else [("postfix", None)]) + servers
        for i in range(a.rounds):
            row = {}
            # rotated, so that no server always runs right after another
            k = i % len(order)
            for label, d in order[k:] + order[:k]:
                if d is None:
                    row[label] = run(label, a.sessions, a.messages,
                                     "127.0.0.1:25", dict(os.environ))
                    continue
                env = dict(os.environ, MD=u.maildir(d, "user@example.com"),
                           RCPT="user@example.com")
                attach = a.attach.replace("{pid}", str(d.pid())) \
                    if a.attach else None
                row[label] = run(label, a.sessions, a.messages,
                                 "127.0.0.1:%d" % d.ports["smtp"], env,
                                 attach, d.pid())
            res.append(row)
    finally:
        for label, d in servers:
            d.stop()
            d.cleanup()
    for i, row in enumerate(res):
        pf = row.get("postfix")
        for label, _ in builds:
            po = row.get(label)
            if pf and po:
                print("round %d %s: accepted %.2fx, delivered %.2fx Postfix"
                      % (i + 1, label, po[0] / pf[0], po[2] / pf[2]))


if __name__ == "__main__":
    main()
