#!/bin/sh
# Runs the FreeBSD integration suite. Needs root on FreeBSD 14.x and Go.
# STOCKADE_FREEBSD_BASE may name a base.txz; otherwise it is fetched.
set -eu
cd "$(dirname "$0")/../.."
if [ -z "${STOCKADE_FREEBSD_BASE:-}" ]; then
	rel=$(freebsd-version -u | sed 's/-p[0-9]*$//')
	STOCKADE_FREEBSD_BASE=/tmp/stockade-base-$rel.txz
	[ -f "$STOCKADE_FREEBSD_BASE" ] || fetch -o "$STOCKADE_FREEBSD_BASE" "https://download.freebsd.org/releases/$(uname -m)/$rel/base.txz"
	export STOCKADE_FREEBSD_BASE
fi
kldload -n fdescfs linprocfs linsysfs 2>/dev/null || true
exec go test -count=1 -v ./test/freebsd/ "$@"
