#!/bin/sh
# test-all.sh: on a fresh Debian 12 (as root): install, build, run every test, then again under ASan/UBSan
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sh scripts/deps-debian.sh --test
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
jobs=$(nproc 2>/dev/null || echo 2)

run_check() {
	dir=$1
	shift
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@" &&
	    make -s -j"$jobs" &&
	    if ! make -s -j"$jobs" check; then
		for f in $(find . -name '*.log' -path './t/*'); do
			if grep -q -E '^(not ok|FAIL|ERROR)' "$f"; then
				echo "==== $f"; tail -n 150 "$f"
			fi
		done
		grep -h -E '^(# )?(TOTAL|PASS|FAIL|ERROR):' test-suite.log || true
		exit 1
	    fi)
}

echo "== build and test"
run_check "$top/_build/normal"
echo "== fuzz every parser briefly (libFuzzer, ${FUZZ_SECONDS:-20}s each)"
(cd "$top/_build/normal" && make -s fuzz CC=clang >/dev/null &&
    for f in conf mime imap_parse imap_sort smtp_parse pop3; do
	c=$(echo "$f" | sed 's/_parse//; s/_/-/')
	work=$(mktemp -d)
	cp -r "$top/t/fuzz/corpus/$c/." "$work/"
	dict=""
	[ -f "$top/t/fuzz/fuzz_$f.dict" ] && dict="-dict=$top/t/fuzz/fuzz_$f.dict"
	if ! ./t/fuzz/fuzz_$f $dict -max_total_time="${FUZZ_SECONDS:-20}" \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$work" \
	    > "fuzz_$f.log" 2>&1; then
		tail -n 60 "fuzz_$f.log"
		echo "fuzz_$f found a crash" >&2
		exit 1
	fi
	grep -E '^stat::number_of_executed_units' "fuzz_$f.log" |
	    sed "s/^/fuzz_$f: /"
	rm -rf "$work"
    done)
echo "== make distcheck"
(cd "$top/_build/normal" && make -s -j"$jobs" distcheck >/dev/null)
echo "== build and test under AddressSanitizer and UndefinedBehaviorSanitizer"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_odr_violation=0
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS UBSAN_OPTIONS
run_check "$top/_build/asan" --enable-sanitizers
# one closing line for CI: the counts of both suites, plain and sanitized
passed=0
for f in "$top/_build/normal/test-suite.log" "$top/_build/asan/test-suite.log"; do
	n=$(sed -n 's/^# PASS: *//p' "$f" | head -n 1)
	passed=$((passed + ${n:-0}))
done
echo "== all tests passed (normal and ASan/UBSan builds)"
echo "$passed passed, 0 failed"
