#!/bin/sh
# compare_postfix.sh: Debian Postfix, 4 KB messages over SMTP on loopback,
# accepted/s (smtp-source) and delivered/s (files in the Maildir).
# Assumes postfix is installed and configured as in bench/compare.md
# (loopback-only, mydestination = bench.test, home_mailbox = Maildir/,
# local user benchuser) and started.  Bounded: N messages, 300 s.
# usage: sh bench/compare_postfix.sh [SESSIONS] [MESSAGES] [HOST:PORT]
S=${1:-10}; N=${2:-2000}; TARGET=${3:-127.0.0.1:25}
MD=${MD:-/home/benchuser/Maildir}
RCPT=${RCPT:-benchuser@bench.test}
count() { ls "$MD/new" "$MD/cur" 2>/dev/null | grep -vc -e '^$' -e ':$'; }
before=$(count)
t0=$(date +%s.%N)
timeout 300 /usr/sbin/smtp-source -s "$S" -l 4096 -m "$N" -f a@bench.test \
    -t "$RCPT" "$TARGET" || echo "smtp-source failed rc=$?"
t1=$(date +%s.%N)
i=0
while [ $(( $(count) - before )) -lt "$N" ] && [ $i -lt 3000 ]; do
    sleep 0.1; i=$((i + 1))
done
t2=$(date +%s.%N)
got=$(( $(count) - before ))
awk -v s="$S" -v n="$N" -v got="$got" -v a="$t0" -v b="$t1" -v c="$t2" \
  'BEGIN { printf "sessions=%d messages=%d accept_s=%.2f accepted/s=%.1f " \
   "delivered=%d deliver_s=%.2f delivered/s=%.1f\n", s, n, b-a, n/(b-a), \
   got, c-a, got/(c-a) }'
