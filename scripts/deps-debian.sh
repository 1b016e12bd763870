#!/bin/sh
# deps-debian.sh: installs every Debian 12 package Posta needs to build, test and run
set -eu
if [ "$(id -u)" != 0 ]; then
	echo "deps-debian.sh: run as root (it calls apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# --test adds what only the test suite uses: dovecot-core's doveadm writes
# the Maildir that t/integ/maildir_dovecot.py migrates (no listeners: the
# protocol packages that would open ports are not installed)
extra=""
[ "${1:-}" = "--test" ] && extra="dovecot-core"
PKGS="build-essential autoconf automake libtool pkg-config make gcc clang
 libclang-rt-14-dev
 libuv1-dev libgnutls28-dev gnutls-bin libltdl-dev liblmdb-dev lmdb-utils
 libcrypt-dev libc-ares-dev libcmocka-dev
 python3 openssl ca-certificates curl swaks fetchmail isync procps adduser
 $extra"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps-debian.sh: installing:$missing"
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# postad drops root to this user
if ! getent passwd posta >/dev/null; then
	adduser --system --group --home /var/lib/posta --no-create-home \
	    posta >/dev/null
fi
