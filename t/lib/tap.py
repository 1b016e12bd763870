# tap.py: minimal TAP producer for the integration tests
import sys
import traceback


class TAP:
    """Collects results and prints TAP; the plan comes last (TAP allows it)."""

    def __init__(self):
        self.n = 0
        self.failed = 0
        self.on_fail = []

    def ok(self, cond, desc):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, desc), flush=True)
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, desc), flush=True)
            for fn in self.on_fail:
                try:
                    fn()
                except Exception:  # diagnostics must not hide the failure
                    pass
        return cond

    def eq(self, got, want, desc):
        good = got == want
        if not good:
            self.diag("got:  %r" % (got,))
            self.diag("want: %r" % (want,))
        return self.ok(good, desc)

    def contains(self, haystack, needle, desc):
        good = needle in haystack
        if not good:
            self.diag("%r not found in %r" % (needle, haystack[-2000:]))
        return self.ok(good, desc)

    def skip(self, desc, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, desc, why), flush=True)

    def diag(self, msg):
        for line in str(msg).splitlines():
            print("# " + line, flush=True)

    def run(self, fn, desc):
        """Runs one test function; an exception is a failure, not a crash."""
        try:
            fn()
        except Exception:
            self.diag(traceback.format_exc())
            self.ok(False, desc + " (exception)")

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)
