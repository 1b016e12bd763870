#!/usr/bin/env python3
# admin_cli.py: posta(8) end to end, every subcommand and error exit
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import traceback

BUILDDIR = os.environ.get("POSTA_BUILDDIR", ".")
POSTA = os.environ.get("POSTA_BIN",
                       os.path.join(BUILDDIR, "tools", "posta", "posta"))

# Hashes made with libxcrypt for the passwords named next to them.
H_SHA512 = ("$6$yKGrfZe3hJemlXTZ$JTzevea5wt9soXIggJgxeG/cOiQKJ4AYBxiT7FpgUEZy"
            "STz6fQvK94mgShD8TSnl6xlZVTqv7uO4lg6gRlbn10")          # pw-sha512
H_SHA256 = "$5$oCZXQpfipPN8WB6v$Rl4ZbLr.QMaKgLdLSQMbokw2HmdKqRWVVzHRnnVOFr/"
#                                                                   pw-sha256
H_BLF_Y = "$2y$05$zASu7R/MVVgL2Ppk/SgUMO6M9b/qg7PMf/CB49KjF90g/KOWgEZqq"
#                                                                   pw-blf
H_BLF_B = "$2b$05$fFiBvCVy7mtGs.FqAp5lNOTXL6SPUSPlbSl2aasZ9GZ.xmDwe7v.C"
#                                                                   pw-blf2
H_YES = ("$y$j9T$5Tk6/blLzsB8NDL0ZnGIy/$"
         "VEOe/Tfytmg.KIrsAjRlIwRtKf1pFmt3SlkMaX7qhF2")
#                                                                   pw-yes


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None):
        self.n += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, desc),
              flush=True)
        if not cond:
            self.failed += 1
            if diag:
                for line in str(diag).splitlines():
                    print("# " + line, flush=True)
        return cond

    def done(self):
        print("1..%d" % self.n, flush=True)
        return 1 if self.failed else 0


T = Tap()


class Posta:
    """Runs the built command against one temporary state directory."""

    def __init__(self, state_dir):
        self.state_dir = state_dir

    def run(self, *args, stdin="", global_args=None):
        if global_args is None:
            global_args = ["--state-dir", self.state_dir]
        p = subprocess.run([POSTA] + global_args + list(args),
                           input=stdin, capture_output=True, text=True,
                           timeout=60)
        return p.returncode, p.stdout, p.stderr

    def expect(self, desc, args, rc=0, out=None, err=None, stdin="",
               global_args=None):
        """Checks the exit code, the whole stdout (if out is given) and
        that stderr contains err (if given)."""
        got_rc, got_out, got_err = self.run(*args, stdin=stdin,
                                            global_args=global_args)
        good = got_rc == rc
        if out is not None:
            good = good and got_out == out
        if err is not None:
            good = good and err in got_err
        if rc == 0 and err is None:
            good = good and got_err == ""
        T.ok(good, desc, "args: %r\nrc: %d (want %d)\nstdout: %r\n"
             "stderr: %r" % (args, got_rc, rc, got_out, got_err))
        return got_out


def test_usage(p):
    p.expect("--help", ["--help"], out=None)
    rc, out, _ = p.run("--help")
    T.ok(rc == 0 and "user import FILE" in out and "Exit status" in out,
         "--help lists the commands and exit codes")
    rc, out, _ = p.run("--version")
    T.ok(rc == 0 and out.startswith("posta "), "--version")
    p.expect("no command", [], rc=1, err="no command given")
    p.expect("unknown command", ["frobnicate"], rc=1,
             err="unknown command 'frobnicate'")
    p.expect("missing subcommand", ["domain"], rc=1,
             err="missing subcommand")
    p.expect("unknown subcommand", ["domain", "rename"], rc=1,
             err="unknown subcommand 'domain rename'")
    p.expect("missing argument", ["domain", "add"], rc=1,
             err="missing argument")
    p.expect("extra argument", ["domain", "add", "a.test", "b.test"], rc=1,
             err="unexpected argument 'b.test'")
    p.expect("unknown option", ["domain", "del", "a.test", "--fast"], rc=1,
             err="unknown option '--fast'")
    p.expect("unknown global option", ["--verbose", "domain", "list"],
             rc=1, err="unknown option '--verbose'")
    p.expect("option value missing", ["user", "add", "a@b.test", "--hash"],
             rc=1, err="--hash needs a value")
    p.expect("flag given a value", ["domain", "del", "x.test", "--force=1"],
             rc=1, err="takes no value")
    p.expect("empty state dir", ["domain", "list"], rc=1,
             global_args=["--state-dir", ""])


def test_no_database(p):
    p.expect("list before any database: clear error", ["domain", "list"],
             rc=3, err="posta domain add")
    p.expect("user add before any database", ["user", "add", "a@b.test",
             "--hash", H_SHA256], rc=3, err="database not found")
    T.ok(not os.path.exists(os.path.join(p.state_dir, "auth")),
         "nothing created by a failed command")


def test_domains(p):
    p.expect("domain add creates the database", ["domain", "add",
             "Example.COM"])
    T.ok(os.path.exists(os.path.join(p.state_dir, "auth", "data.mdb")),
         "database is <state_dir>/auth")
    mode = os.stat(os.path.join(p.state_dir, "auth", "data.mdb")).st_mode
    T.ok(mode & 0o077 == 0, "database file is private (mode %o)" % mode)
    p.expect("domain add duplicate", ["domain", "add", "example.com"],
             rc=2, err="already exists")
    p.expect("domain add invalid", ["domain", "add", "bad_domain.test"],
             rc=2, err="domain add bad_domain.test:")
    p.expect("domain add trailing dot", ["domain", "add", "x.test."], rc=2)
    p.expect("domain add second", ["domain", "add", "example.org"])
    p.expect("domain add third", ["domain", "add", "empty.test"])
    p.expect("domain list, lowercased and sorted", ["domain", "list"],
             out="empty.test\nexample.com\nexample.org\n")
    p.expect("domain del empty", ["domain", "del", "empty.test"])
    p.expect("domain del unknown", ["domain", "del", "empty.test"], rc=2,
             err="no such domain")

    p.expect("alias-domain add", ["alias-domain", "add", "Example.NET",
             "example.com"])
    p.expect("alias-domain add second", ["alias-domain", "add",
             "example.info", "example.com"])
    p.expect("alias-domain list", ["alias-domain", "list"],
             out="example.info example.com\nexample.net example.com\n")
    p.expect("alias-domain to unknown domain", ["alias-domain", "add",
             "x.test", "nowhere.test"], rc=2,
             err="target domain does not exist")
    p.expect("alias-domain to itself", ["alias-domain", "add", "x.test",
             "X.test"], rc=2, err="cannot point at itself")
    p.expect("alias-domain to an alias domain", ["alias-domain", "add",
             "x.test", "example.net"], rc=2, err="alias domain itself")
    p.expect("alias-domain that is a domain", ["alias-domain", "add",
             "example.org", "example.com"], rc=2, err="already a domain")
    p.expect("domain that is an alias domain", ["domain", "add",
             "example.net"], rc=2, err="already an alias domain")
    p.expect("alias-domain del", ["alias-domain", "del", "example.info"])
    p.expect("alias-domain del unknown", ["alias-domain", "del",
             "example.info"], rc=2, err="no such alias domain")
    p.expect("alias-domain del of a domain", ["alias-domain", "del",
             "example.com"], rc=2, err="not an alias domain")
    p.expect("domain del of an alias domain", ["domain", "del",
             "example.net"], rc=2, err="alias-domain del")


def test_users(p):
    p.expect("user add, password on stdin", ["user", "add",
             "Alice@Example.com", "--password-stdin"], stdin="alice pw\n")
    p.expect("user check right password", ["user", "check",
             "alice@example.com", "--password-stdin"], stdin="alice pw\n",
             out="ok alice@example.com\n")
    p.expect("user check is case-insensitive", ["user", "check",
             "ALICE@EXAMPLE.COM", "--password-stdin"], stdin="alice pw",
             out="ok alice@example.com\n")
    p.expect("user check wrong password", ["user", "check",
             "alice@example.com", "--password-stdin"], stdin="Alice pw\n",
             rc=2, err="wrong password")
    p.expect("user add duplicate", ["user", "add", "alice@example.com",
             "--password-stdin"], stdin="x\n", rc=2,
             err="user already exists")
    p.expect("user add unknown domain", ["user", "add", "bob@nowhere.test",
             "--password-stdin"], stdin="x\n", rc=2,
             err="domain does not exist")
    p.expect("user add in an alias domain", ["user", "add",
             "bob@example.net", "--password-stdin"], stdin="x\n", rc=2,
             err="alias domain")
    p.expect("user add invalid address", ["user", "add", "bob smith@"
             "example.com", "--password-stdin"], stdin="x\n", rc=2,
             err="space or control character")
    p.expect("user add without @", ["user", "add", "bob",
             "--password-stdin"], stdin="x\n", rc=2, err="no '@'")
    p.expect("user add empty password", ["user", "add", "bob@example.com",
             "--password-stdin"], stdin="\n", rc=2, err="empty password")
    p.expect("user add, no password source and no terminal",
             ["user", "add", "bob@example.com"], rc=1,
             err="no password given")
    p.expect("user add --hash and --password-stdin", ["user", "add",
             "bob@example.com", "--hash", H_SHA256, "--password-stdin"],
             rc=1, err="exclude each other")
    p.expect("user add --hash {SHA512-CRYPT}", ["user", "add",
             "bob@example.com", "--hash", "{SHA512-CRYPT}" + H_SHA512])
    p.expect("user check imported SHA512-CRYPT", ["user", "check",
             "bob@example.com", "--password-stdin"], stdin="pw-sha512\n",
             out="ok bob@example.com\n")
    p.expect("user add --hash=raw bcrypt", ["user", "add",
             "carol@example.org", "--hash=" + H_BLF_B])
    p.expect("user check bcrypt", ["user", "check", "carol@example.org",
             "--password-stdin"], stdin="pw-blf2\n",
             out="ok carol@example.org\n")
    p.expect("user add --hash plaintext", ["user", "add", "dan@example.com",
             "--hash", "{PLAIN}secret"], rc=2,
             err="unsupported password scheme")
    p.expect("user add --hash mismatched scheme", ["user", "add",
             "dan@example.com", "--hash", "{BLF-CRYPT}" + H_SHA512], rc=2,
             err="does not match")
    p.expect("user add --hash malformed", ["user", "add", "dan@example.com",
             "--hash", H_SHA256[:-1]], rc=2, err="malformed")
    p.expect("user list", ["user", "list"], out="alice@example.com\n"
             "bob@example.com\ncarol@example.org\n")
    p.expect("user list DOMAIN", ["user", "list", "EXAMPLE.org"],
             out="carol@example.org\n")
    p.expect("user list unknown domain", ["user", "list", "nowhere.test"],
             rc=2, err="no such domain")

    p.expect("user passwd", ["user", "passwd", "alice@example.com",
             "--password-stdin"], stdin="new pw\n")
    p.expect("new password works", ["user", "check", "alice@example.com",
             "--password-stdin"], stdin="new pw\n",
             out="ok alice@example.com\n")
    p.expect("old password does not", ["user", "check",
             "alice@example.com", "--password-stdin"], stdin="alice pw\n",
             rc=2)
    p.expect("user passwd --hash", ["user", "passwd", "alice@example.com",
             "--hash", "{SHA256-CRYPT}" + H_SHA256])
    p.expect("password from --hash works", ["user", "check",
             "alice@example.com", "--password-stdin"], stdin="pw-sha256\n",
             out="ok alice@example.com\n")
    p.expect("user passwd unknown", ["user", "passwd", "zed@example.com",
             "--password-stdin"], stdin="x\n", rc=2, err="no such user")

    p.expect("user disable", ["user", "disable", "alice@example.com"])
    p.expect("user list shows disabled", ["user", "list", "example.com"],
             out="alice@example.com disabled\nbob@example.com\n")
    p.expect("disabled user cannot log in", ["user", "check",
             "alice@example.com", "--password-stdin"], stdin="pw-sha256\n",
             rc=2, err="disabled")
    p.expect("user enable", ["user", "enable", "alice@example.com"])
    p.expect("enabled again", ["user", "check", "alice@example.com",
             "--password-stdin"], stdin="pw-sha256\n",
             out="ok alice@example.com\n")
    p.expect("user disable unknown", ["user", "disable", "zed@example.com"],
             rc=2, err="no such user")
    p.expect("user enable invalid", ["user", "enable", "zed"], rc=2)
    p.expect("alias-domain address cannot log in", ["user", "check",
             "alice@example.net", "--password-stdin"], stdin="pw-sha256\n",
             rc=2, err="not a user")


def test_aliases(p):
    p.expect("alias add", ["alias", "add", "Info@Example.com",
             "alice@example.com,x@elsewhere.test"])
    p.expect("alias list", ["alias", "list"],
             out="info@example.com alice@example.com,x@elsewhere.test\n")
    p.expect("alias add appends", ["alias", "add", "info@example.com",
             "bob@example.com", "carol@example.org"])
    p.expect("alias list after append", ["alias", "list", "example.com"],
             out="info@example.com alice@example.com,x@elsewhere.test,"
             "bob@example.com,carol@example.org\n")
    p.expect("alias add nothing new", ["alias", "add", "info@example.com",
             "alice@example.com"], rc=2, err="already has these targets")
    p.expect("alias add unknown local target", ["alias", "add",
             "info@example.com", "zed@example.com"], rc=2,
             err="neither a user nor an alias")
    p.expect("alias add target via alias domain must exist",
             ["alias", "add", "info@example.com", "zed@example.net"], rc=2,
             err="neither a user nor an alias")
    p.expect("alias add over a user", ["alias", "add", "alice@example.com",
             "bob@example.com"], rc=2, err="already a user")
    p.expect("user add over an alias", ["user", "add", "info@example.com",
             "--hash", H_SHA256], rc=2, err="already an alias")
    p.expect("alias add in an alias domain", ["alias", "add",
             "sales@example.net", "bob@example.com"], rc=2,
             err="alias domain")
    p.expect("alias add in an unknown domain", ["alias", "add",
             "sales@nowhere.test", "bob@example.com"], rc=2,
             err="domain does not exist")
    p.expect("alias add to itself", ["alias", "add", "info@example.com",
             "info@example.net"], rc=2, err="cannot point at itself")
    p.expect("alias add invalid target", ["alias", "add", "x@example.com",
             "not-an-address"], rc=2, err="no '@'")
    p.expect("alias add empty target", ["alias", "add", "x@example.com",
             "alice@example.com,,bob@example.com"], rc=1,
             err="empty target")
    p.expect("alias add chain", ["alias", "add", "all@example.org",
             "info@example.com"])
    p.expect("alias del one target", ["alias", "del", "info@example.com",
             "X@Elsewhere.test"])
    p.expect("alias del target not there", ["alias", "del",
             "info@example.com", "x@elsewhere.test"], rc=2,
             err="not a target of this alias")
    p.expect("alias list DOMAIN", ["alias", "list", "example.org"],
             out="all@example.org info@example.com\n")
    p.expect("alias list unknown domain", ["alias", "list",
             "nowhere.test"], rc=2, err="no such domain")
    p.expect("alias del whole", ["alias", "del", "all@example.org"])
    p.expect("alias del unknown", ["alias", "del", "all@example.org"], rc=2,
             err="no such alias")
    p.expect("alias cannot log in", ["user", "check", "info@example.com",
             "--password-stdin"], stdin="pw-sha256\n", rc=2,
             err="not a user")

    p.expect("catch-all set", ["catch-all", "set", "example.org",
             "carol@example.org"])
    p.expect("catch-all set replaces", ["catch-all", "set", "Example.org",
             "info@example.com"])
    p.expect("catch-all list", ["catch-all", "list"],
             out="example.org info@example.com\n")
    p.expect("catch-all set unknown domain", ["catch-all", "set",
             "nowhere.test", "carol@example.org"], rc=2,
             err="no such domain")
    p.expect("catch-all set alias domain", ["catch-all", "set",
             "example.net", "carol@example.org"], rc=2, err="alias domain")
    p.expect("catch-all set unknown target", ["catch-all", "set",
             "example.org", "zed@example.org"], rc=2,
             err="neither a user nor an alias")
    p.expect("catch-all unset", ["catch-all", "unset", "example.org"])
    p.expect("catch-all unset again", ["catch-all", "unset",
             "example.org"], rc=2, err="no catch-all")
    p.expect("catch-all unknown subcommand", ["catch-all", "get"], rc=1)
    p.expect("catch-all set again for domain del",
             ["catch-all", "set", "example.com", "alice@example.com"])


def test_domain_del(p):
    p.expect("domain del refuses while users remain", ["domain", "del",
             "example.com"], rc=2, err="--force")
    p.expect("nothing was deleted", ["user", "list", "example.com"],
             out="alice@example.com\nbob@example.com\n")
    p.expect("domain del --force", ["domain", "del", "example.com",
             "--force"])
    p.expect("its users went too", ["user", "list"],
             out="carol@example.org\n")
    p.expect("its aliases went too", ["alias", "list"], out="")
    p.expect("its alias domains went too", ["alias-domain", "list"],
             out="")
    p.expect("its catch-all went too", ["catch-all", "list"], out="")
    p.expect("domain list after", ["domain", "list"], out="example.org\n")


IMPORT = """# migrated from dovecot
alice@example.com:{SHA512-CRYPT}%(sha512)s:1000:1000::/home/alice::
bob@example.com:{SHA256-CRYPT}%(sha256)s:1001:1001
  carol@example.com:{BLF-CRYPT}%(blf)s
dave@example.com:%(yes)s::::::

erin@other.test:{CRYPT}%(blf2)s:1:1::/x:/bin/false:userdb_quota_rule=*:bytes=1G
frank@example.com:{PLAIN}secret:1:1
nocolon
gina@example.com:
hank:{SHA512-CRYPT}%(sha512)s
alice@example.com:{SHA512-CRYPT}%(sha512)s
ivan@example.net:{SHA512-CRYPT}%(sha512)s
""" % {"sha512": H_SHA512, "sha256": H_SHA256, "blf": H_BLF_Y,
       "yes": H_YES, "blf2": H_BLF_B}


def test_import(tmp):
    p = Posta(os.path.join(tmp, "import-state"))
    path = os.path.join(tmp, "passwd")
    with open(path, "w") as f:
        f.write(IMPORT)
    p.expect("import with no database and no --create-domains",
             ["user", "import", path], rc=3, err="database not found")
    p.expect("domain for import", ["domain", "add", "example.com"])
    p.expect("alias domain for import", ["alias-domain", "add",
             "example.net", "example.com"])
    rc, out, err = p.run("user", "import", path, "--dry-run")
    T.ok(rc == 2 and out.startswith("would import 4 users"),
         "import --dry-run counts", "%d %r %r" % (rc, out, err))
    p.expect("dry run imported nothing", ["user", "list"], out="")
    rc, out, err = p.run("user", "import", path)
    T.ok(rc == 2, "import with bad lines exits 2", "%d %r" % (rc, err))
    T.ok(out == "imported 4 users, created 0 domains; 7 lines with "
         "errors\n", "import summary", out)
    for line, what in ((7, "its domain does not exist (add it with "
                        "'posta domain add') (or pass --create-domains)"),
                       (8, "unsupported password scheme"),
                       (9, "expected user:{SCHEME}hash"),
                       (10, "no password hash"),
                       (11, "not a full address"),
                       (12, "user already exists"),
                       (13, "alias domain")):
        T.ok("%s:%d: " % (path, line) in err and what in err,
             "import reports line %d: %s" % (line, what), err)
    p.expect("imported users", ["user", "list"], out="alice@example.com\n"
             "bob@example.com\ncarol@example.com\ndave@example.com\n")
    for user, pw in (("alice", "pw-sha512"), ("bob", "pw-sha256"),
                     ("carol", "pw-blf"), ("dave", "pw-yes")):
        p.expect("imported %s logs in with the old password" % user,
                 ["user", "check", user + "@example.com",
                  "--password-stdin"], stdin=pw + "\n",
                 out="ok %s@example.com\n" % user)
    p.expect("no domain made without --create-domains", ["domain", "list"],
             out="example.com\n")

    with open(path, "w") as f:
        f.write("erin@other.test:{CRYPT}%s:1:1\n" % H_BLF_B)
        f.write("fred@third.test:{PLAIN}x\n")
        f.write("zoe@other.test:{SHA256-CRYPT}%s\n" % H_SHA256)
    rc, out, err = p.run("user", "import", path, "--create-domains")
    T.ok(rc == 2 and out == "imported 2 users, created 1 domain; 1 line "
         "with errors\n", "import --create-domains", "%r %r" % (out, err))
    p.expect("a bad line creates no domain", ["domain", "list"],
             out="example.com\nother.test\n")
    p.expect("erin logs in", ["user", "check", "erin@other.test",
             "--password-stdin"], stdin="pw-blf2\n",
             out="ok erin@other.test\n")

    with open(path, "w") as f:
        f.write("# only good lines, CRLF\r\n")
        f.write("yann@example.com:{SHA256-CRYPT}%s:1:1\r\n" % H_SHA256)
    p.expect("clean import exits 0", ["user", "import", path],
             out="imported 1 user, created 0 domains; 0 lines with "
             "errors\n")
    p.expect("import from stdin", ["user", "import", "-"],
             stdin="zack@example.com:{SHA256-CRYPT}%s\n" % H_SHA256,
             out="imported 1 user, created 0 domains; 0 lines with "
             "errors\n")
    with open(path, "w") as f:
        f.write("x" * 10000 + "\n")
        f.write("long@example.com:{SHA256-CRYPT}%s\n" % H_SHA256)
    rc, out, err = p.run("user", "import", path)
    T.ok(rc == 2 and ":1: line longer than 8192" in err and
         out.startswith("imported 1 user"), "over-long line is one error",
         "%r %r" % (out, err))
    p.expect("import missing file", ["user", "import", os.path.join(tmp,
             "nope")], rc=3, err="cannot open")


def test_damaged(tmp):
    p = Posta(os.path.join(tmp, "damaged-state"))
    p.expect("domain for damage", ["domain", "add", "example.com"])
    data = os.path.join(p.state_dir, "auth", "data.mdb")
    with open(data, "r+b") as f:
        f.write(bytes((i * 7) % 251 for i in range(16384)))
    p.expect("damaged database is a clear error", ["domain", "list"], rc=3,
             err="not an LMDB database")
    p.expect("and no write goes through", ["domain", "add", "x.test"],
             rc=3, err="auth database")


def test_config(tmp):
    other = os.path.join(tmp, "conf-state")
    conf = os.path.join(tmp, "postad.conf")
    with open(conf, "w") as f:
        f.write("# test config\nstate_dir = %s\n" % other)
        f.write("plugin auth-lmdb {\n  map_size = 64M\n}\n")
    p = Posta(other)
    p.expect("--config reads state_dir", ["domain", "add", "conf.test"],
             global_args=["--config", conf])
    T.ok(os.path.exists(os.path.join(other, "auth", "data.mdb")),
         "database made under the configured state_dir")
    p.expect("--state-dir= form agrees", ["domain", "list"],
             out="conf.test\n", global_args=["--state-dir=" + other])
    p.expect("--state-dir overrides --config", ["domain", "list"], rc=3,
             global_args=["--config", conf, "--state-dir",
                          os.path.join(tmp, "empty-state")])
    dbdir = os.path.join(tmp, "custom-db")
    with open(conf, "w") as f:
        f.write("state_dir = %s\n" % other)
        f.write("plugin auth-lmdb {\n  db_path = \"%s\"\n}\n" % dbdir)
    p.expect("db_path from the plugin block", ["domain", "add", "db.test"],
             global_args=["--config=" + conf])
    T.ok(os.path.exists(os.path.join(dbdir, "data.mdb")),
         "database made at db_path")
    with open(conf, "w") as f:
        f.write("state_dir = %s\nplugin auth-lmdb {\n" % other)
    p.expect("config syntax error", ["domain", "list"], rc=3,
             err=conf, global_args=["--config", conf])
    with open(conf, "w") as f:
        f.write("plugin auth-lmdb {\n  map_size = lots\n}\n")
    p.expect("bad map_size", ["domain", "list"], rc=3, err="map_size",
             global_args=["--config", conf])
    p.expect("missing config file", ["domain", "list"], rc=3,
             global_args=["--config", os.path.join(tmp, "nope.conf")])
    # a fresh --localstatedir: the parents of state_dir do not exist yet
    deep = os.path.join(tmp, "fresh-prefix", "var", "lib", "posta")
    p.expect("state_dir with missing parents is made",
             ["domain", "add", "deep.test"], global_args=["--state-dir", deep])
    T.ok(os.stat(os.path.dirname(deep)).st_mode & 0o777 == 0o755 and
         os.stat(deep).st_mode & 0o777 == 0o750,
         "parents are 0755, the state directory 0750")
    # run as root, the files go to postad's user so it can open them
    owned = os.path.join(tmp, "owned-state")
    with open(conf, "w") as f:
        f.write("state_dir = %s\nuser = nobody\n" % owned)
    p.expect("domain add with user = nobody", ["domain", "add", "o.test"],
             global_args=["--config", conf])
    want = os.geteuid()
    if want == 0:
        want = pwd.getpwnam("nobody").pw_uid
    T.ok(all(os.stat(os.path.join(owned, "auth", f)).st_uid == want
             for f in ("", "data.mdb", "lock.mdb")),
         "database files belong to postad's user (uid %d)" % want)


def main():
    if not os.access(POSTA, os.X_OK):
        print("1..0 # SKIP %s not built" % POSTA)
        return 0
    tmp = tempfile.mkdtemp(prefix="posta-admin-")
    try:
        p = Posta(os.path.join(tmp, "state"))
        for fn in (test_usage, test_no_database, test_domains, test_users,
                   test_aliases, test_domain_del):
            run(fn, p)
        for fn in (test_import, test_damaged, test_config):
            run(fn, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return T.done()


def run(fn, arg):
    try:
        fn(arg)
    except Exception:
        T.ok(False, "%s raised" % fn.__name__, traceback.format_exc())


if __name__ == "__main__":
    sys.exit(main())
