#!/bin/bash
# test/zfs/vm/guest-init.sh: the work of PID 1 inside the zfs test VM.
#
# The image's /sbin/stockade-vm-init mounts the run's control share at
# /vmctl (run-in-vm.sh puts a copy of this file there) and execs it. It
# mounts what a system needs, loads zfs.ko, shares the host directory,
# creates the pool, runs /vmctl/job.sh with its stdout and stderr on two
# virtio-serial ports, writes its exit code to /vmctl/status and powers off.
# PID 1 must never return; every path ends in power_off.
#
# Under TCG each exec costs about a tenth of a second: builtins where we can.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb
CTL=/vmctl

log() { echo "[guest] $(uptime_s)s $*" >/dev/console; }
uptime_s() {
	local up _
	read -r up _ </proc/uptime
	echo "$up"
}
power_off() {
	sync
	umount "$CTL" 2>/dev/null
	echo o >/proc/sysrq-trigger
	sleep 20
	while :; do sleep 3600; done
}
give_up() { # give_up MESSAGE: the VM could not run the job
	log "ERROR: $1"
	echo "guest: $1" >"$CTL/guest-error"
	power_off
}
mounted() {
	local _dev dir _rest
	while read -r _dev dir _rest; do [ "$dir" = "$1" ] && return 0; done </proc/self/mounts
	return 1
}

mounted /proc || mount -t proc proc /proc
mounted /sys || mount -t sysfs sysfs /sys
mounted /dev || mount -t devtmpfs devtmpfs /dev
echo 1 >/proc/sys/kernel/sysrq

# zfs.ko takes seconds to load under TCG: start it now, wait for it later.
modprobe zfs &
zfs_loading=$!

mkdir -p /dev/pts /dev/shm
mounted /dev/pts || mount -t devpts -o gid=5,mode=0620 devpts /dev/pts
mounted /dev/shm || mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mounted /run || mount -t tmpfs -o mode=0755 tmpfs /run
mounted /tmp || mount -t tmpfs -o mode=1777 tmpfs /tmp
for fd in 0:stdin 1:stdout 2:stderr; do
	[ -e "/dev/${fd#*:}" ] || ln -s "/proc/self/fd/${fd%%:*}" "/dev/${fd#*:}"
done
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
ip link set lo up 2>/dev/null
log "system mounted"

# shellcheck source=/dev/null
. "$CTL/job.env" || give_up "no job.env in the control share"

# The job's stdout and stderr: virtio-serial ports named by run-in-vm.sh.
modprobe virtio_console
out= err=
for _ in $(seq 100); do
	for port in /sys/class/virtio-ports/*; do
		name=
		read -r name <"$port/name" 2>/dev/null
		case $name in
		stockade.stdout) out=/dev/${port##*/} ;;
		stockade.stderr) err=/dev/${port##*/} ;;
		esac
	done
	[ -n "$out" ] && [ -n "$err" ] && [ -c "$out" ] && [ -c "$err" ] && break
	sleep 0.05
done
[ -n "$out" ] && [ -n "$err" ] || give_up "virtio-serial ports for the job's output not found"

mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=mmap hostdir /host ||
	give_up "cannot mount the host directory"
if [ "$VM_WORKDIR" != /host ]; then
	mkdir -p "$VM_WORKDIR" && mount --bind /host "$VM_WORKDIR" ||
		give_up "cannot mount the host directory at $VM_WORKDIR"
fi

# zpool create on a whole disk waits for udev to report the partitions it
# made; udev also makes the /dev/zvol links. Trigger block devices only.
/lib/systemd/systemd-udevd --daemon --resolve-names=never ||
	give_up "systemd-udevd did not start"
udevadm trigger --action=add --subsystem-match=block
udevadm settle --timeout=30

wait "$zfs_loading" || give_up "modprobe zfs failed"
read -r zfs_version </sys/module/zfs/version
log "zfs $zfs_version loaded"

if [ -n "$VM_POOL" ]; then
	disk=
	for b in /sys/block/vd*; do
		serial=
		read -r serial <"$b/serial" 2>/dev/null
		[ "$serial" = stockade-pool ] && disk=/dev/${b##*/}
	done
	[ -n "$disk" ] || give_up "the pool disk (serial stockade-pool) is missing"
	zpool create -f "$VM_POOL" "$disk" >/dev/console 2>&1 ||
		give_up "zpool create $VM_POOL $disk failed"
	log "pool $VM_POOL on $disk"
fi

cd "$VM_WORKDIR" || give_up "cannot cd to $VM_WORKDIR"
log "job starts"
setsid bash "$CTL/job.sh" </dev/null >"$out" 2>"$err"
rc=$?
log "job exited with $rc"
cd /
echo "$rc" >"$CTL/status"
power_off
