#!/bin/sh
# Installs what stockade's tests and demo need, on Debian 12 (apt-get) or
# FreeBSD 14 (pkg). Packages already present are left alone.
set -eu

need_debian="docker-registry skopeo umoci runc containerd zstd tar git make bsdutils openssl gnupg qemu-system-x86 debootstrap e2fsprogs librust-libc-dev"
need_freebsd="go git gmake skopeo zstd"

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
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if ! command -v go >/dev/null 2>&1; then
	echo "Go 1.26 is required: install it into /usr/local/go (FreeBSD: pkg install go)" >&2
	exit 1
fi
