#!/bin/sh
# Runs the FreeBSD integration suite of stockade-runtime. It needs root on
# a FreeBSD 14.x host and Go 1.26 (pkg install go126). Arguments are passed
# to go test, e.g. -run TestLifecycle.
#
# STOCKADE_FREEBSD_BASE may name a FreeBSD base.txz; otherwise the host
# release's is fetched (and kept under /var/tmp). STOCKADE_LINUX_ROOTFS
# may name an unpacked Linux root file system for TestLinuxImage.
set -eu

die() {
	echo "run.sh: $*" >&2
	exit 1
}

[ "$(uname -s)" = FreeBSD ] || die "the FreeBSD integration suite runs on FreeBSD only, not $(uname -s)"
[ "$(id -u)" -eq 0 ] || die "the FreeBSD integration suite must run as root"

cd "$(dirname "$0")/../.."

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go126/bin/go ]; then
	PATH=/usr/local/go126/bin:$PATH
	export PATH
fi
command -v go >/dev/null 2>&1 || die "go is not in PATH (pkg install go126)"

# pf.ko makes /dev/pf, which TestLifecycle unhides; if_epair is for
# TestVnetEpair. fdescfs, linprocfs and linsysfs load when mounted.
kldload -n pf if_epair

if [ -n "${STOCKADE_LINUX_ROOTFS:-}" ]; then
	# Loads the linuxulator (linux64 on amd64 and arm64) and sets the
	# fallback ELF brand that musl's binaries need.
	service linux onestart
fi

if [ -z "${STOCKADE_FREEBSD_BASE:-}" ]; then
	rel=$(freebsd-version -u | sed 's/-p[0-9]*$//')
	# releases/amd64/REL, but releases/arm64/aarch64/REL.
	arch=$(uname -m)
	[ "$arch" = "$(uname -p)" ] || arch=$arch/$(uname -p)
	STOCKADE_FREEBSD_BASE=/var/tmp/stockade-base-$rel-$(uname -p).txz
	if [ ! -f "$STOCKADE_FREEBSD_BASE" ]; then
		part=$STOCKADE_FREEBSD_BASE.part
		# Releases past their end of life move to the archive.
		fetch -o "$part" "https://download.freebsd.org/releases/$arch/$rel/base.txz" ||
			fetch -o "$part" "https://archive.freebsd.org/old-releases/$arch/$rel/base.txz" ||
			die "cannot fetch base.txz of $rel; set STOCKADE_FREEBSD_BASE"
		mv "$part" "$STOCKADE_FREEBSD_BASE"
	fi
	export STOCKADE_FREEBSD_BASE
fi

exec go test -count=1 -timeout 30m -v ./test/freebsd/ "$@"
