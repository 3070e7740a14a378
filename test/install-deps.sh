#!/bin/sh
# Installs what stockade's tests and demo need, on Debian 12 (apt-get) or
# FreeBSD 14 (pkg). Packages already present are left alone.
set -eu

need_debian="docker-registry skopeo umoci runc containerd zstd tar git make bsdutils openssl gnupg qemu-system-x86 debootstrap e2fsprogs util-linux librust-libc-dev busybox-static nftables iproute2 curl buildah mandoc crun zsh fish"
need_freebsd="go git gmake skopeo zstd buildah"

if [ "$(uname -s)" = FreeBSD ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "run as root, or install by hand: pkg install -y $need_freebsd" >&2
		exit 1
	fi
	pkg install -y $need_freebsd
	exit 0
fi

missing=""
for p in $need_debian; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "run as root, or install by hand: apt-get install -y --no-install-recommends$missing" >&2
		exit 1
	fi
	echo "== apt-get install$missing"
	# Another apt (unattended-upgrades, cloud-init, a second job) may hold
	# the dpkg lock: wait for it, up to 10 minutes, instead of failing.
	# DPkg::Lock::Timeout covers dpkg's locks; apt-get update's lock on
	# /var/lib/apt/lists is not covered by it (apt 2.6), so update retries.
	lock="-o DPkg::Lock::Timeout=600"
	waited=0
	while ! out=$(apt-get $lock update -qq 2>&1); do
		case $out in
		*"Could not get lock"* | *"Unable to lock"*) ;;
		*)
			printf '%s\n' "$out" >&2
			exit 1
			;;
		esac
		if [ "$waited" -ge 600 ]; then
			printf '%s\n' "$out" >&2
			echo "another apt held the lock for 10 minutes; giving up" >&2
			exit 1
		fi
		[ "$waited" -gt 0 ] || echo "== another apt holds the lock: waiting for it (up to 10 minutes)"
		sleep 5
		waited=$((waited + 5))
	done
	[ -z "$out" ] || printf '%s\n' "$out"
	DEBIAN_FRONTEND=noninteractive apt-get $lock install -y -qq --no-install-recommends $missing >/dev/null
fi
if ! command -v go >/dev/null 2>&1; then
	echo "Go 1.26 is required: install it into /usr/local/go (FreeBSD: pkg install go)" >&2
	exit 1
fi
