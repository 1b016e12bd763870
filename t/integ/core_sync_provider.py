# core_sync_provider.py: an auth provider that answers inside its own call is deferred to the loop, its strings copied
from posta import LineClient, Postad
from tap import TAP

t = TAP()
d = Postad({"e": {"protocol": "echo", "allow_plaintext_auth": "yes"}},
           blocks='plugin syncauth {\n  users = alice@example.com:secret\n}\n',
           tap=t)


def test_resolve():
    c = LineClient(d.connect("e"))
    c.line()
    # before the fix the answer arrived inside posta_conn_resolve(), before
    # the echo module paused, and the session then stayed paused for good
    t.eq(c.cmd("RESOLVE alice@example.com"),
         "+RESOLVE LOCAL alice@example.com",
         "a synchronous LOCAL answer arrives, its strings copied")
    t.eq(c.cmd("after"), "+ECHO after", "and the session goes on")
    t.eq(c.cmd("RESOLVE bob@elsewhere.test"), "+RESOLVE EXTERNAL",
         "a synchronous NOT_MINE moves on to the end of the chain")
    t.eq(c.cmd("again"), "+ECHO again", "the session still goes on")
    c.close()
    t.ok("auth.sync_answer" in d.log() and "provider=syncauth" in d.log(),
         "the broken async rule is logged, naming the provider")


def test_login():
    c = LineClient(d.connect("e"))
    c.line()
    t.eq(c.cmd("LOGIN alice@example.com wrong"),
         "-ERR [FAIL] login failed", "a synchronous FAIL")
    t.eq(c.cmd("LOGIN alice@example.com secret"),
         "+OK logged in as alice@example.com",
         "a synchronous OK keeps the account name")
    t.eq(c.cmd("WHO"), "+WHO e echo 127.0.0.1 alice@example.com",
         "the session knows its user")
    c.close()


try:
    t.run(test_resolve, "synchronous resolve")
    t.run(test_login, "synchronous verify")
    d.stop()
finally:
    d.cleanup()
t.done()
