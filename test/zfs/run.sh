#!/usr/bin/env bash
# test/zfs/run.sh [TEST-BINARY-FLAGS...]
#
# Runs the zfs snapshotter's tests (the snapshotter conformance suite,
# TestConformance/zfs, and the ZFS-specific tests) against a real OpenZFS
# pool in a throwaway qemu VM (test/zfs/vm, see test/zfs/README.md), and
# then the copy snapshotter's tree copy (TestCopyTree: hard links, owners,
# modes, times, xattrs, devices, holes) on a ZFS dataset, in a second VM.
# (The copy snapshotter's whole suite is not run there: it is for file
# systems without ZFS, and its du-style Usage lags on ZFS, which allocates
# blocks when a transaction group is written.)
#
# The binaries are built on this host with CGO_ENABLED=0 and run in the VM
# with -test.v=test2json; go tool test2json and gotestsum turn their output
# into a test list and a summary that ends with the counts. The first run
# builds the VM image (about 6 minutes; cached in /var/cache/stockade-zfsvm).
#
# Flags go to zfs.test, after -test.v=test2json. Examples:
#   test/zfs/run.sh                                  # everything
#   test/zfs/run.sh -test.run 'TestCheck'            # one test
#   ZFS_TEST_FORMAT=standard-verbose test/zfs/run.sh -test.run '^$' -test.bench . -test.benchtime 20x
#
# Environment:
#   STOCKADE_SKIP_ZFS_VM=1   do not run the suite (says so loudly, exit 0);
#                            without it, a host where qemu cannot run fails
#   STOCKADE_TEST_RESULTS    directory to write zfs-vm.json (test2json events) to
#   ZFS_TEST_FORMAT          gotestsum --format (testname)
#   ZFS_TEST_DIR             keep the binaries here instead of a temporary dir
#   ZFS_TEST_SKIP_COPY=1     skip the copy snapshotter's test
#   STOCKADE_ZFSVM_*         the VM's knobs: see test/zfs/vm/run-in-vm.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
MODULE=github.com/stockade/stockade
export PATH="$PATH:/usr/local/go/bin"

say() { printf '[test/zfs] %s\n' "$*" >&2; }
banner() { # banner LINE...: a block that cannot be missed in a long log
	printf '\n%s\n' '########################################################################' >&2
	printf '### %s\n' "$@" >&2
	printf '%s\n\n' '########################################################################' >&2
}

# --vm-json DIR ARGS...: the raw command gotestsum runs. Boots the VM once
# per binary and writes test2json events to stdout; exits non-zero if a
# binary failed or the VM could not run it.
if [ "${1:-}" = --vm-json ]; then
	dir=$2
	shift 2
	cd "$REPO"
	rc=0
	go tool test2json -t -p "$MODULE/zfs" \
		"$HERE/vm/run-in-vm.sh" "$dir" ./zfs.test -test.v=test2json "$@" || rc=$?
	if [ -x "$dir/copysnap.test" ]; then
		go tool test2json -t -p "$MODULE/copysnap/on-zfs" \
			"$HERE/vm/run-in-vm.sh" "$dir" sh -c '
				zfs create -o mountpoint=/var/tmp/copysnap "$STOCKADE_TEST_ZPOOL/copysnap" &&
				TMPDIR=/var/tmp/copysnap exec ./copysnap.test -test.v=test2json -test.run "^TestCopyTree"' ||
			{ [ "$rc" != 0 ] || rc=$?; }
	fi
	exit "$rc"
fi

jsonfile=()
if [ -n "${STOCKADE_TEST_RESULTS:-}" ]; then
	mkdir -p "$STOCKADE_TEST_RESULTS"
	jsonfile=(--jsonfile "$STOCKADE_TEST_RESULTS/zfs-vm.json")
fi
gotestsum() { (cd "$REPO" && go tool gotestsum --format "${ZFS_TEST_FORMAT:-testname}" "${jsonfile[@]}" "$@"); }

if [ "${STOCKADE_SKIP_ZFS_VM:-}" = 1 ]; then
	banner "SKIPPED: the OpenZFS suite (zfs snapshotter in a qemu VM) was NOT run," \
		"because STOCKADE_SKIP_ZFS_VM=1. Nothing about ZFS was tested."
	# One skipped test in the results, so that the summary counts and names it.
	events=$(mktemp)
	trap 'rm -f "$events"' EXIT
	for e in start run output skip; do
		printf '{"Action":"%s","Package":"%s/test/zfs"' "$e" "$MODULE"
		[ "$e" = start ] || printf ',"Test":"OpenZFSVM"'
		[ "$e" != output ] || printf ',"Output":"    skipped: STOCKADE_SKIP_ZFS_VM=1\\n"'
		echo '}'
	done >"$events"
	gotestsum --raw-command -- cat "$events"
	exit 0
fi

if [ "$(uname -s)" != Linux ]; then
	say "this script runs the suite in a Linux qemu VM; on FreeBSD run: STOCKADE_TEST_ZPOOL=<pool> go test ./zfs"
	exit 2
fi
cannot_run() {
	banner "FAILED: the OpenZFS suite cannot run on this machine:" "  $1" \
		"Install what is missing (test/install-deps.sh), or skip the suite knowingly" \
		"with STOCKADE_SKIP_ZFS_VM=1."
	exit 1
}
[ "$(id -u)" -eq 0 ] || cannot_run "it needs root (it builds the VM image and shares files into the VM as root)"
if ! why=$("$HERE/vm/run-in-vm.sh" --check 2>&1); then
	cannot_run "qemu cannot run a VM: $why"
fi

# The image: built once, then cached.
cache=${STOCKADE_ZFSVM_CACHE:-/var/cache/stockade-zfsvm}
"$HERE/vm/build-image.sh" || cannot_run "the VM image could not be built (see above)"
say "VM image: $cache ($(tr '\n' ' ' <"$cache/image.env"))"

if [ -n "${ZFS_TEST_DIR:-}" ]; then
	dir=$(realpath -m "$ZFS_TEST_DIR")
	mkdir -p "$dir"
else
	dir=$(mktemp -d "${TMPDIR:-/tmp}/stockade-zfs-test.XXXXXX")
	trap 'rm -rf "$dir"' EXIT
fi
say "building the test binaries into $dir"
(cd "$REPO" && CGO_ENABLED=0 go test -c -o "$dir/zfs.test" ./zfs)
rm -f "$dir/copysnap.test"
if [ "${ZFS_TEST_SKIP_COPY:-}" != 1 ]; then
	(cd "$REPO" && CGO_ENABLED=0 go test -c -o "$dir/copysnap.test" ./copysnap)
fi

say "running zfs.test${*:+ $*} in the VM (qemu, TCG: each boot takes about 10 s, every zfs command up to a second)"
set +e
gotestsum --raw-command -- "$HERE/run.sh" --vm-json "$dir" "$@"
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
	banner "FAILED: the OpenZFS suite (exit $rc); see the output above"
fi
exit "$rc"
