#!/usr/bin/env bash
# test/zfs/vm/run-in-vm.sh HOSTDIR CMD [ARG...]
# test/zfs/vm/run-in-vm.sh --check
#
# Boots a throwaway VM from the image of build-image.sh (building it first
# if it is missing), with a fresh ZFS pool on an empty sparse disk, and runs
# CMD as root in HOSTDIR, which the VM sees at the same path (9p,
# read-write). CMD's stdout and stderr arrive on this script's stdout and
# stderr as they are written. The VM powers off when CMD ends; the root disk
# is a copy-on-write snapshot of the image, so nothing of a run is kept and
# runs can go side by side.
#
# --check only tells whether qemu can run a machine here (exit 0 if so).
#
# Exit status: CMD's; 124 when the time ran out; 125 when the VM could not
# run CMD (the guest's console log then follows on stderr).
#
# Environment:
#   STOCKADE_ZFSVM_CACHE     image directory (/var/cache/stockade-zfsvm)
#   STOCKADE_ZFSVM_TIMEOUT   seconds the whole run may take (3600)
#   STOCKADE_ZFSVM_MEM       guest memory in MiB (2048)
#   STOCKADE_ZFSVM_CPUS      guest CPUs (the host's, at most 4)
#   STOCKADE_ZFSVM_ACCEL     auto, kvm or tcg (auto: kvm only with kvm_intel or
#                            kvm_amd loaded; nested kvm such as kvm_pvm fails)
#   STOCKADE_ZFSVM_QEMU      the qemu binary (qemu-system-x86_64)
#   STOCKADE_ZFSVM_POOL      pool name (testpool; empty: no pool disk)
#   STOCKADE_ZFSVM_POOL_SIZE size of the pool's sparse disk (4G)
#   STOCKADE_ZFSVM_ENV       names of variables to pass to CMD
#   STOCKADE_ZFSVM_VERBOSE   1: copy the guest console to stderr as well
# CMD always gets ZFSVM=1 (in the VM: the zfs tests must not skip) and
# ZFSVM_POOL=STOCKADE_TEST_ZPOOL=<pool>.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${STOCKADE_ZFSVM_CACHE:-/var/cache/stockade-zfsvm}
QEMU=${STOCKADE_ZFSVM_QEMU:-qemu-system-x86_64}
TIMEOUT=${STOCKADE_ZFSVM_TIMEOUT:-3600}
MEM=${STOCKADE_ZFSVM_MEM:-2048}
CPUS=${STOCKADE_ZFSVM_CPUS:-$(nproc)}
[ "$CPUS" -le 4 ] || CPUS=4
POOL=${STOCKADE_ZFSVM_POOL-testpool}
POOL_SIZE=${STOCKADE_ZFSVM_POOL_SIZE:-4G}

say() { printf '[zfs-vm] %s\n' "$*" >&2; }

accel_args() {
	local accel=${STOCKADE_ZFSVM_ACCEL:-auto}
	if [ "$accel" = auto ]; then
		accel=tcg
		if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
			accel=kvm
		fi
	fi
	case $accel in
	kvm) echo "-accel kvm -cpu host" ;;
	tcg) echo "-accel tcg,thread=multi,tb-size=256 -cpu max" ;;
	*)
		say "STOCKADE_ZFSVM_ACCEL must be auto, kvm or tcg"
		return 1
		;;
	esac
}

# Can qemu create and start a machine at all? (Paused, then quit at once.)
qemu_works() {
	local out
	command -v "$QEMU" >/dev/null 2>&1 || {
		echo "$QEMU: not found (Debian: apt-get install qemu-system-x86)"
		return 1
	}
	# shellcheck disable=SC2046
	out=$(echo quit | timeout 30 "$QEMU" -machine q35 $(accel_args) -m 64 -nodefaults \
		-no-user-config -display none -S -monitor stdio 2>&1) || {
		echo "$QEMU cannot start a machine: $(printf '%s' "$out" | tail -n 3)"
		return 1
	}
}

if [ "${1:-}" = --check ]; then
	if msg=$(qemu_works); then exit 0; fi
	say "$msg"
	exit 1
fi
if [ $# -lt 2 ]; then
	sed -n '2,/^set -e/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
fi
HOSTDIR=$(realpath -e -- "$1") && [ -d "$HOSTDIR" ] || {
	say "not a directory: $1"
	exit 2
}
shift

if ! msg=$(qemu_works); then
	say "$msg"
	exit 125
fi
ACCEL=$(accel_args) || exit 2
"$HERE/build-image.sh" || {
	say "no VM image"
	exit 125
}
for f in rootfs.img vmlinuz initrd.img; do
	[ -e "$CACHE/$f" ] || {
		say "$CACHE/$f is missing; rebuild with STOCKADE_ZFSVM_REBUILD=1 $HERE/build-image.sh"
		exit 125
	}
done

# The run's own directory: control share, pool disk, output pipes, console.
RUN=$(mktemp -d "${TMPDIR:-/tmp}/stockade-zfsvm.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir "$RUN/ctl"
cp "$HERE/guest-init.sh" "$RUN/ctl/guest-init.sh"
# The VM sees HOSTDIR at the same path, unless that would cover its system.
workdir=$HOSTDIR
case $HOSTDIR in
/ | /bin* | /boot* | /dev* | /etc* | /host* | /lib* | /proc* | /root | /run* | /sbin* | /sys* | /usr* | /var | /var/lib* | /vmctl*)
	workdir=/host
	;;
esac
{
	printf 'VM_WORKDIR=%q\n' "$workdir"
	printf 'VM_POOL=%q\n' "$POOL"
} >"$RUN/ctl/job.env"
{
	# ZFSVM=1 tells the zfs package's tests that they must not skip.
	echo "export ZFSVM=1 ZFSVM_POOL=$(printf %q "$POOL") STOCKADE_TEST_ZPOOL=$(printf %q "$POOL")"
	for v in ${STOCKADE_ZFSVM_ENV:-}; do
		[ -z "${!v+set}" ] || echo "export $v=$(printf %q "${!v}")"
	done
	printf 'exec'
	printf ' %q' "$@"
	echo
} >"$RUN/ctl/job.sh"

q() { printf '%s' "${1//,/,,}"; } # a comma in a qemu option value is doubled
pool_disk=()
if [ -n "$POOL" ]; then
	truncate -s "$POOL_SIZE" "$RUN/pool.img"
	pool_disk=(-drive "file=$(q "$RUN/pool.img"),format=raw,if=none,id=pool,cache=unsafe,discard=unmap"
		-device virtio-blk-pci,drive=pool,serial=stockade-pool)
fi
kernel=$CACHE/vmlinuz
[ -e "$CACHE/vmlinux" ] && kernel=$CACHE/vmlinux
cmdline="root=/dev/vda rw console=ttyS0 panic=-1 quiet"
[ "${STOCKADE_ZFSVM_VERBOSE:-0}" = 1 ] && cmdline=${cmdline% quiet}
mkfifo "$RUN/stdout" "$RUN/stderr"
: >"$RUN/console.log"

# shellcheck disable=SC2206
vm=("$QEMU" -machine q35 $ACCEL -m "$MEM" -smp "$CPUS"
	-nodefaults -no-user-config -display none -no-reboot
	-kernel "$kernel" -initrd "$CACHE/initrd.img" -append "$cmdline"
	-serial "file:$RUN/console.log"
	-drive "file=$(q "$CACHE/rootfs.img"),format=raw,if=none,id=root,snapshot=on,cache=unsafe"
	-device virtio-blk-pci,drive=root
	"${pool_disk[@]}"
	-fsdev "local,id=ctl,path=$(q "$RUN/ctl"),security_model=passthrough"
	-device virtio-9p-pci,fsdev=ctl,mount_tag=vmctl
	-fsdev "local,id=hostdir,path=$(q "$HOSTDIR"),security_model=passthrough,multidevs=remap"
	-device virtio-9p-pci,fsdev=hostdir,mount_tag=hostdir
	-device virtio-serial-pci
	-chardev "file,id=out,path=$(q "$RUN/stdout")"
	-device virtserialport,chardev=out,name=stockade.stdout
	-chardev "file,id=err,path=$(q "$RUN/stderr")"
	-device virtserialport,chardev=err,name=stockade.stderr
	-device virtio-rng-pci)

# Readers first: qemu opens the FIFOs for writing when it starts. (A
# 'stdio' chardev would not do: it hangs up the port when stdin ends.)
cat "$RUN/stdout" &
pids+=($!)
cat "$RUN/stderr" >&2 &
pids+=($!)
if [ "${STOCKADE_ZFSVM_VERBOSE:-0}" = 1 ]; then
	tail -n +1 -f "$RUN/console.log" >&2 &
	pids+=($!)
fi

started=$(date +%s)
set +e
timeout -k 10 "$TIMEOUT" "${vm[@]}" </dev/null >"$RUN/qemu.log" 2>&1 &
qemu=$!
pids+=($qemu)
wait "$qemu"
qrc=$?
set -e
# qemu is gone; if it never opened a FIFO, open and close it so cat ends.
for f in stdout stderr; do
	exec 7<>"$RUN/$f"
	exec 7>&-
done
wait "${pids[0]}" "${pids[1]}" 2>/dev/null || true

if [ -s "$RUN/ctl/status" ]; then
	rc=$(tr -dc 0-9 <"$RUN/ctl/status")
	exit "${rc:-125}"
fi
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	say "TIMEOUT: the VM was stopped after $TIMEOUT s (STOCKADE_ZFSVM_TIMEOUT)"
	rc=124
else
	say "the VM stopped after $(($(date +%s) - started)) s without running the job to its end (qemu exit $qrc)"
	rc=125
fi
[ ! -s "$RUN/ctl/guest-error" ] || say "$(cat "$RUN/ctl/guest-error")"
[ ! -s "$RUN/qemu.log" ] || { say "qemu said:"; cat "$RUN/qemu.log" >&2; }
say "last lines of the guest console:"
tail -n 30 "$RUN/console.log" >&2
exit "$rc"
