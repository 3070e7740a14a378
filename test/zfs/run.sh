#!/usr/bin/env bash
# test/zfs/run.sh [TEST-BINARY-FLAGS...]
#
# Runs the zfs snapshotter's tests (the snapshotter conformance suite,
# TestConformance/zfs, and the ZFS-specific tests) against a real OpenZFS
# pool in the throwaway VM of ../shared/zfsvm (see its README), and then
# the copy snapshotter's tree copy (CopyTree: hard links, owners, modes,
# times, xattrs, devices, holes) on a ZFS dataset. (The copy snapshotter's
# whole suite is not run there: it is for file systems without ZFS, and its
# du-style Usage lags on ZFS, which allocates blocks when a transaction
# group is written.)
#
# It builds the test binaries on this host with CGO_ENABLED=0, installs
# qemu-system-x86, debootstrap and e2fsprogs if they are missing, builds the
# VM image if it is missing, boots the VM once, runs both binaries in it and
# exits with the first non-zero exit code (0 if both pass).
#
# Flags are passed to zfs.test; the default is -test.v. Examples:
#   test/zfs/run.sh                                  # everything, verbose
#   test/zfs/run.sh -test.v -test.run 'TestCheck'    # one test
#   test/zfs/run.sh -test.run '^$' -test.bench . -test.benchtime 20x
#
# Environment: ZFSVM_* as for run-in-vm.sh (ZFSVM_MEM, ...; ZFSVM_TIMEOUT
# defaults to 2400 s here: under TCG every zfs command takes 0.2 to 1.5 s);
# ZFS_TEST_DIR keeps the binaries and logs in that directory instead of a
# temporary one; ZFS_TEST_SKIP_COPY=1 skips the copy test.
set -euo pipefail

say() { printf '[test/zfs] %s\n' "$*" >&2; }

REPO=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
ZFSVM=$(realpath -m "$REPO/../shared/zfsvm")
[ -x "$ZFSVM/run-in-vm.sh" ] || { say "no $ZFSVM/run-in-vm.sh (the shared VM scripts live next to the repository)"; exit 2; }

# Host tools the VM needs.
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then say "need root to install ${missing[*]}"; exit 2; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi

# The image: build-image.sh does nothing when it is already built.
CACHE=${ZFSVM_CACHE:-/var/cache/zfsvm}
if [ ! -e "$CACHE/rootfs.img" ] || [ ! -e "$CACHE/vmlinuz" ]; then
  say "no VM image in $CACHE: building it (about 6 minutes)"
  "$ZFSVM/build-image.sh" >&2
fi

if [ -n "${ZFS_TEST_DIR:-}" ]; then
  DIR=$(realpath -m "$ZFS_TEST_DIR")
  mkdir -p "$DIR"
else
  DIR=$(mktemp -d "${TMPDIR:-/tmp}/stockade-zfs-test.XXXXXX")
  trap 'rm -rf "$DIR"' EXIT
fi

say "building the test binaries into $DIR"
(cd "$REPO" && CGO_ENABLED=0 go test -c -o "$DIR/zfs.test" ./zfs)
if [ "${ZFS_TEST_SKIP_COPY:-}" != 1 ]; then
  (cd "$REPO" && CGO_ENABLED=0 go test -c -o "$DIR/copysnap.test" ./copysnap)
fi

args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-test.v)
{
  echo '#!/bin/sh'
  echo '# Written by test/zfs/run.sh; runs inside the VM.'
  printf 'set --'; printf ' %q' "${args[@]}"; echo
  cat <<'GUEST'
echo "== $(zfs version | head -1), pool $ZFSVM_POOL, $(nproc) CPUs"
./zfs.test "$@"
rc=$?
echo "== zfs.test exit $rc"
if [ -x ./copysnap.test ]; then
  zfs create -o mountpoint=/var/tmp/copysnap "$ZFSVM_POOL/copysnap" &&
    TMPDIR=/var/tmp/copysnap ./copysnap.test -test.run 'TestCopyTree' -test.v
  crc=$?
  echo "== copysnap.test on ZFS exit $crc"
  [ $rc -ne 0 ] || rc=$crc
fi
exit $rc
GUEST
} >"$DIR/guest.sh"
chmod +x "$DIR/guest.sh"

export ZFSVM_TIMEOUT=${ZFSVM_TIMEOUT:-2400}
say "running in the VM: zfs.test ${args[*]}"
start=$(date +%s.%N)
set +e
"$ZFSVM/run-in-vm.sh" "$DIR" ./guest.sh
rc=$?
set -e
end=$(date +%s.%N)
say "VM run: exit $rc, wall time $(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f s", e - s }')"
exit $rc
