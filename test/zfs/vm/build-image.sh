#!/usr/bin/env bash
# test/zfs/vm/build-image.sh: builds the OpenZFS test VM image, once.
#
# The image is Debian 12 (bookworm) with its stock kernel and OpenZFS 2.1
# (zfs-dkms and zfsutils-linux from the 'contrib' component; DKMS compiles
# the module for the guest kernel). It is what test/zfs/run.sh boots with
# qemu, see test/zfs/README.md.
#
# The result lives outside the repository, in $STOCKADE_ZFSVM_CACHE
# (default /var/cache/stockade-zfsvm):
#   rootfs.img    ext4 root file system, attached read-only (snapshot=on)
#   vmlinuz       the guest kernel; vmlinux, the same uncompressed (PVH boot)
#   initrd.img    a small busybox initramfs: virtio disk + ext4, then switch_root
#   image.env     kernel and OpenZFS versions, build date
#
# The build is a list of stages, each with a revision number. A stage runs
# when its stamp (in $CACHE/stamps) is missing or holds another revision,
# and then every later stage runs too; so a second call does nothing and
# a change to a late stage only redoes the end. STOCKADE_ZFSVM_REBUILD=1
# starts from nothing.
#
# Needs root, debootstrap, e2fsprogs (mkfs.ext4 -d) and the Debian mirror of
# the host's apt sources (read, never changed). Takes about 6 minutes on 2
# CPUs, most of it compiling the zfs module.
set -euo pipefail

CACHE=${STOCKADE_ZFSVM_CACHE:-/var/cache/stockade-zfsvm}
ROOT=$CACHE/root
STAMPS=$CACHE/stamps
SUITE=bookworm
IMAGE_SIZE=3G

# name:revision, in order. Bump a revision when its stage changes.
STAGES="bootstrap:1 packages:1 zfsmodule:1 bootfiles:1 launcher:1 image:1"

note() { printf '[zfs-vm image] %s\n' "$*" >&2; }
die() { note "FAILED: $*"; exit 1; }
now() { date +%s; }

can_build() {
	[ "$(id -u)" -eq 0 ] || die "building the image needs root"
	for tool in debootstrap mkfs.ext4 chroot; do
		command -v "$tool" >/dev/null || die "$tool is missing (test/install-deps.sh installs it)"
	done
}

# --- the chroot and its mounts ------------------------------------------

unmount_root() {
	local d
	for d in dev sys proc; do
		if mountpoint -q "$ROOT/$d" 2>/dev/null; then
			umount -R -l "$ROOT/$d" || true
		fi
	done
}
trap unmount_root EXIT

chroot_run() {
	mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
	mountpoint -q "$ROOT/sys" || mount -t sysfs sysfs "$ROOT/sys"
	if ! mountpoint -q "$ROOT/dev"; then
		mount --rbind /dev "$ROOT/dev"
		mount --make-rslave "$ROOT/dev" # nothing propagates back to the host
	fi
	chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

remove_root() {
	unmount_root
	if awk -v r="$ROOT/" 'index($2, r) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
		die "something is still mounted below $ROOT; not deleting it"
	fi
	rm -rf --one-file-system "$ROOT"
}

guest_kernel() { ls "$ROOT/lib/modules" | sort -V | tail -n 1; }

# The Debian mirrors the host's apt uses (deb822 or one-line format).
host_mirror() { # host_mirror main|security
	local pat='debian/?$'
	[ "$1" = security ] && pat='debian-security/?$'
	{
		cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1 == "URIs:" { for (i = 2; i <= NF; i++) print $i }'
		cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '$1 == "deb" { print ($2 ~ /^\[/ ? $3 : $2) }'
	} | grep -E "$pat" | head -n 1 || true
}

# --- stages ----------------------------------------------------------------

stage_bootstrap() {
	local mirror
	mirror=$(host_mirror main)
	[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
	remove_root
	mkdir -p "$ROOT"
	debootstrap --variant=minbase --components=main,contrib \
		--include=kmod,procps,util-linux,cpio,xz-utils,ca-certificates \
		"$SUITE" "$ROOT" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
		{ tail -n 30 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
}

stage_packages() {
	local mirror security
	mirror=$(host_mirror main)
	[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
	security=$(host_mirror security)
	[ -n "$security" ] || security=http://deb.debian.org/debian-security
	# The guest's own sources, with contrib (zfs-dkms lives there).
	rm -f "$ROOT"/etc/apt/sources.list.d/*
	{
		echo "deb $mirror $SUITE main contrib"
		echo "deb $mirror $SUITE-updates main contrib"
		echo "deb $security $SUITE-security main contrib"
	} >"$ROOT/etc/apt/sources.list"
	cat >"$ROOT/etc/apt/apt.conf.d/99stockade-vm" <<-'EOF'
		APT::Install-Recommends "false";
		APT::Install-Suggests "false";
		Dpkg::Options { "--force-confdef"; "--force-confold"; };
	EOF
	# No service may start in the chroot.
	printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
	chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
	# The VM boots our own initramfs; Debian's, which the kernel's postinst
	# insists on making, is kept small. (MODULES=dep fails in a chroot:
	# "failed to determine device for /".)
	mkdir -p "$ROOT/etc/initramfs-tools/conf.d"
	echo MODULES=list >"$ROOT/etc/initramfs-tools/conf.d/stockade-vm.conf"
	chroot_run apt-get update -q >"$CACHE/packages.log" 2>&1 ||
		{ tail -n 30 "$CACHE/packages.log" >&2; die "apt-get update in the chroot failed"; }
	# Finish what an interrupted earlier attempt left half configured.
	chroot_run dpkg --configure -a >>"$CACHE/packages.log" 2>&1 || true
	note "  installing the kernel, headers and zfs-dkms; DKMS compiles zfs.ko now (about 4 minutes)"
	chroot_run apt-get install -y -q \
		linux-image-amd64 linux-headers-amd64 initramfs-tools \
		dkms zfs-dkms zfsutils-linux udev busybox-static iproute2 \
		>>"$CACHE/packages.log" 2>&1 ||
		{ tail -n 40 "$CACHE/packages.log" >&2; die "package install in the chroot failed (log: $CACHE/packages.log)"; }
	chroot_run apt-get clean
}

# zfs-dkms builds the module from its postinst, for the kernels it finds;
# make sure it did so for the guest kernel (the host's uname -r is not it).
stage_zfsmodule() {
	local kver
	kver=$(guest_kernel)
	[ -n "$kver" ] || die "no kernel installed in the chroot"
	if ! chroot_run modinfo -k "$kver" zfs >/dev/null 2>&1; then
		note "  zfs.ko missing for $kver: dkms autoinstall"
		chroot_run dkms autoinstall -k "$kver" >>"$CACHE/packages.log" 2>&1 || true
		chroot_run modinfo -k "$kver" zfs >/dev/null 2>&1 ||
			die "no zfs module for $kver (see $CACHE/packages.log and $ROOT/var/lib/dkms/zfs/*/build/make.log)"
	fi
	chroot_run depmod -a "$kver"
	note "  $(chroot_run modinfo -k "$kver" -F version zfs | sed 's/^/zfs.ko /') for $kver"
}

# The kernel, uncompressed for qemu's PVH entry when possible (skips the
# decompressor, seconds under TCG), and a busybox initramfs that loads only
# what mounting an ext4 root on virtio-blk takes.
stage_bootfiles() {
	local kver work mod xzoff
	kver=$(guest_kernel)
	cp "$ROOT/boot/vmlinuz-$kver" "$CACHE/vmlinuz"

	rm -f "$CACHE/vmlinux"
	xzoff=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$CACHE/vmlinuz" | head -n 1 | cut -d: -f1 || true)
	if grep -qx 'CONFIG_PVH=y' "$ROOT/boot/config-$kver" && [ -n "$xzoff" ]; then
		tail -c "+$((xzoff + 1))" "$CACHE/vmlinuz" | chroot_run xz -dc --single-stream >"$CACHE/vmlinux.new" 2>/dev/null || true
		if [ "$(head -c 4 "$CACHE/vmlinux.new" | od -An -c | tr -d ' ')" = '177ELF' ]; then
			mv "$CACHE/vmlinux.new" "$CACHE/vmlinux"
		else
			rm -f "$CACHE/vmlinux.new"
			note "  could not unpack vmlinux; the VM boots vmlinuz (slower)"
		fi
	fi

	work=$ROOT/tmp/initrd
	rm -rf "$work"
	mkdir -p "$work/bin" "$work/dev" "$work/proc" "$work/sys" "$work/root" "$work/lib/mods"
	cp "$ROOT/bin/busybox" "$work/bin/busybox"
	: >"$work/lib/mods/order"
	for mod in $(chroot_run modprobe -S "$kver" --show-depends -a virtio_pci virtio_blk crc32c_generic ext4 |
		awk '$1 == "insmod" && !seen[$2]++ { print $2 }'); do
		cp "$ROOT$mod" "$work/lib/mods/"
		echo "${mod##*/}" >>"$work/lib/mods/order"
	done
	cat >"$work/init" <<-'EOF'
		#!/bin/busybox sh
		/bin/busybox --install -s /bin
		export PATH=/bin
		mount -t proc proc /proc
		mount -t sysfs sysfs /sys
		mount -t devtmpfs devtmpfs /dev
		for m in $(cat /lib/mods/order); do insmod "/lib/mods/$m" 2>/dev/null; done
		n=0
		until [ -b /dev/vda ] || [ $n -ge 300 ]; do sleep 0.05; n=$((n + 1)); done
		if ! mount -t ext4 /dev/vda /root; then
			echo "initrd: cannot mount /dev/vda"
			echo o >/proc/sysrq-trigger
		fi
		mount --move /dev /root/dev
		umount /sys /proc
		exec switch_root /root /sbin/stockade-vm-init
	EOF
	chmod 0755 "$work/init"
	chroot_run sh -c 'cd /tmp/initrd && find . | cpio -o -H newc --quiet' >"$CACHE/initrd.img"
	rm -rf "$work"
}

# The image's PID 1 only mounts the run's control share and hands over to
# the guest-init.sh found there: the guest's logic lives in the repository
# (test/zfs/vm/guest-init.sh) and a change to it needs no image rebuild.
stage_launcher() {
	cat >"$ROOT/sbin/stockade-vm-init" <<-'EOF'
		#!/bin/sh
		# PID 1 of the stockade zfs test VM (written by test/zfs/vm/build-image.sh).
		PATH=/usr/sbin:/usr/bin:/sbin:/bin
		export PATH
		[ -e /proc/self ] || mount -t proc proc /proc
		[ -d /sys/class ] || mount -t sysfs sysfs /sys
		modprobe -a 9pnet_virtio 9p
		if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 vmctl /vmctl &&
			[ -f /vmctl/guest-init.sh ]; then
			exec /bin/bash /vmctl/guest-init.sh
		fi
		echo "stockade-vm-init: no control share with guest-init.sh; powering off"
		echo 1 >/proc/sys/kernel/sysrq
		echo o >/proc/sysrq-trigger
		sleep 30
	EOF
	chmod 0755 "$ROOT/sbin/stockade-vm-init"
	mkdir -p "$ROOT/vmctl" "$ROOT/host"
	echo stockade-zfsvm >"$ROOT/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\tstockade-zfsvm\n' >"$ROOT/etc/hosts"
	: >"$ROOT/etc/fstab"
	ln -sfn /proc/self/mounts "$ROOT/etc/mtab"
	# A fixed host id, so a pool is never "in use by another system".
	[ -s "$ROOT/etc/hostid" ] || chroot_run zgenhostid 0x5706ade0
	rm -f "$ROOT/usr/sbin/policy-rc.d"
	rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin \
		"$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/locale/*
}

stage_image() {
	local kver
	unmount_root
	kver=$(guest_kernel)
	rm -f "$CACHE/rootfs.img.new"
	mkfs.ext4 -q -F -L stockade-zfsvm -d "$ROOT" "$CACHE/rootfs.img.new" "$IMAGE_SIZE" >/dev/null
	{
		echo "KERNEL=$kver"
		echo "OPENZFS=$(chroot "$ROOT" dpkg-query -W -f '${Version}' zfsutils-linux)"
		echo "BUILT=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	} >"$CACHE/image.env"
	mv "$CACHE/rootfs.img.new" "$CACHE/rootfs.img"
}

# --- main -------------------------------------------------------------------

mkdir -p "$(dirname "$CACHE")"
exec 8>"$CACHE.lock"
if ! flock -n 8; then
	note "another build of $CACHE is running; waiting for it"
	flock 8
fi

if [ "${STOCKADE_ZFSVM_REBUILD:-0}" = 1 ] && [ -d "$CACHE" ]; then
	note "STOCKADE_ZFSVM_REBUILD=1: deleting $CACHE"
	remove_root
	rm -rf --one-file-system "$CACHE"
fi
mkdir -p "$STAMPS"

started=$(now)
redo=0
for s in $STAGES; do
	name=${s%%:*} rev=${s##*:}
	if [ "$redo" = 0 ] && [ "$(cat "$STAMPS/$name" 2>/dev/null)" = "$rev" ]; then
		continue
	fi
	if [ "$redo" = 0 ]; then
		can_build
		note "building the OpenZFS test VM image in $CACHE (first run only: about 6 minutes on 2 CPUs)"
	fi
	redo=1
	rm -f "$STAMPS/$name"
	t0=$(now)
	note "stage $name"
	"stage_$name"
	echo "$rev" >"$STAMPS/$name"
	note "stage $name done in $(($(now) - t0)) s"
done
if [ "$redo" = 1 ]; then
	note "image ready in $(($(now) - started)) s: $(tr '\n' ' ' <"$CACHE/image.env")"
fi
