# shellcheck shell=bash disable=SC2034
# Helpers shared by the benchmarks in test/bench: package installs, cleanup
# on exit, a throw-away docker-registry and containerd 1.6 on loopback,
# timing with peak RSS, medians, ratios and JSON lines.
#
# Source it from a bash script that runs `set -eu`:
#   . "$(dirname "$0")/lib.sh"
# Every function is prefixed bench_; the variables it sets are BENCH_*.

BENCH_CACHE=${BENCH_CACHE:-/var/cache/stockade-bench}
BENCH_ROUNDS=${BENCH_ROUNDS:-5}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_REPO=$(cd "$BENCH_DIR/../.." && pwd)
BENCH_RESULTS=${BENCH_RESULTS:-$BENCH_DIR/results}
# Priority of everything measured (the tools, containerd's daemon): other
# work on a shared 2-core machine then steals less of the run. 0 turns it off.
BENCH_NICE=${BENCH_NICE:--10}

bench_log() { printf '== %s\n' "$*" >&2; }
bench_die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup

# Cleanup commands run in reverse order on exit, whatever the exit status.
BENCH_CLEANUPS=()
bench_on_exit() { BENCH_CLEANUPS+=("$*"); }
bench_run_cleanups() {
	local i
	for ((i = ${#BENCH_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${BENCH_CLEANUPS[i]}" || true
	done
	BENCH_CLEANUPS=()
}
trap bench_run_cleanups EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bench_tmpdir: a fresh temp dir (BENCH_TMP), removed on exit.
bench_tmpdir() {
	BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/stockade-bench.XXXXXX")
	bench_on_exit "bench_rmdir '$BENCH_TMP'"
}

# bench_rmdir DIR: unmounts whatever is mounted below DIR, then removes it.
bench_rmdir() {
	local dir=$1 m
	[ -e "$dir" ] || return 0
	# Deepest mounts first.
	findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0 "/", d) == 1' | sort -r |
		while IFS= read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$dir"
}

# ---------------------------------------------------------------- packages

# bench_need_pkgs PKG...: apt-get installs the Debian packages not present.
bench_need_pkgs() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" = 0 ] || bench_die "run as root, or: apt-get install -y ${missing[*]}"
	bench_log "apt-get install ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# bench_stockade: sets STOCKADE to the binary, building it with make if
# missing, then to an installed copy of it (bench_install_stockade).
bench_stockade() {
	STOCKADE=${STOCKADE:-bin/stockade}
	case $STOCKADE in /*) ;; *) STOCKADE=$BENCH_REPO/$STOCKADE ;; esac
	if [ ! -x "$STOCKADE" ]; then
		bench_log "make build"
		make -C "$BENCH_REPO" build >&2
	fi
	[ -x "$STOCKADE" ] || bench_die "no stockade binary at $STOCKADE"
	bench_install_stockade STOCKADE "$STOCKADE"
}

# bench_install_stockade VAR BIN: copies BIN and the stockade-* programs
# next to it (the monitors, stockade-full, stockade-runtime) with
# install(1), as `make install` does, into a new directory removed on
# exit, and sets VAR to the copy of BIN. A program just written by the Go
# linker starts 0.4-0.5 ms slower than a copy of it with the same bytes,
# as long as the linker's pages stay in the page cache (`stockade
# --version` 4.05 against 3.55-3.58 ms, 300 interleaved runs; see
# README.md here): what users run is installed, so that is what is
# measured. BENCH_INSTALL=0 measures BIN where it is.
bench_install_stockade() {
	local var=$1 bin=$2 dir f
	if [ "${BENCH_INSTALL:-1}" = 0 ]; then
		printf -v "$var" '%s' "$bin"
		return
	fi
	dir=$(mktemp -d "${TMPDIR:-/tmp}/stockade-bench-bin.XXXXXX")
	bench_on_exit "rm -rf '$dir'"
	for f in "$bin" "$(dirname "$bin")"/stockade-*; do
		[ -f "$f" ] && [ -x "$f" ] || continue
		install -m 0755 "$f" "$dir/$(basename "$f")" || bench_die "install $f"
	done
	printf -v "$var" '%s' "$dir/$(basename "$bin")"
}

# ---------------------------------------------------------------- network

# bench_free_port: prints a TCP port that nothing listens on at 127.0.0.1.
bench_free_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + RANDOM % 40000))
		if [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then
			echo "$p"
			return 0
		fi
	done
	bench_die "no free port"
}

# bench_wait TIMEOUT_S CMD...: retries CMD every 0.1 s until it succeeds.
bench_wait() {
	local limit=$(($1 * 10)) i
	shift
	for ((i = 0; i < limit; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------- registry

# bench_registry_start DIR: runs docker-registry on a free loopback port
# with its config and storage under DIR. Sets BENCH_REGISTRY (host:port)
# and BENCH_REGISTRY_PID; stopped on exit.
bench_registry_start() {
	local dir=$1 port
	mkdir -p "$dir/storage"
	port=$(bench_free_port)
	cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  headers:
    X-Content-Type-Options: [nosniff]
EOF
	docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
	BENCH_REGISTRY_PID=$!
	BENCH_REGISTRY=127.0.0.1:$port
	bench_on_exit "bench_stop_pid $BENCH_REGISTRY_PID"
	if ! bench_wait 20 curl -fsS "http://$BENCH_REGISTRY/v2/"; then
		cat "$dir/registry.log" >&2
		bench_die "docker-registry did not start"
	fi
	bench_log "registry on $BENCH_REGISTRY"
}

# bench_stop_pid PID: SIGTERM, then SIGKILL after 10 s; waits for it.
bench_stop_pid() {
	local pid=$1 i
	kill "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- containerd

# bench_containerd_start DIR: runs a containerd 1.6 of its own whose config,
# root, state and socket are all under DIR (overlayfs snapshotter, CRI off).
# Sets BENCH_CTR_SOCK and BENCH_CTR_PID. Stop it with bench_containerd_stop
# (also done on exit).
bench_containerd_start() {
	local dir=$1
	mkdir -p "$dir/root" "$dir/state" "$dir/opt"
	BENCH_CTR_SOCK=$dir/containerd.sock
	cat >"$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$BENCH_CTR_SOCK"
[ttrpc]
  address = "$dir/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"
EOF
	local cmd=(containerd --config "$dir/config.toml")
	# nice execs containerd: $! is the daemon's own PID.
	if [ "$BENCH_NICE" != 0 ]; then cmd=(nice -n "$BENCH_NICE" "${cmd[@]}"); fi
	"${cmd[@]}" >"$dir/containerd.log" 2>&1 &
	BENCH_CTR_PID=$!
	bench_on_exit "bench_containerd_stop $BENCH_CTR_PID '$dir'"
	if ! bench_wait 30 ctr --address "$BENCH_CTR_SOCK" version; then
		tail -20 "$dir/containerd.log" >&2
		bench_die "containerd did not start"
	fi
}

# bench_containerd_stop PID DIR: stops that containerd and removes DIR.
bench_containerd_stop() {
	bench_stop_pid "$1"
	bench_rmdir "$2"
}

# bench_ctr ARG...: ctr against the containerd of bench_containerd_start.
bench_ctr() { ctr --address "$BENCH_CTR_SOCK" "$@"; }

# bench_peak_rss_kb PID: the process's peak RSS so far (VmHWM), in KiB.
bench_peak_rss_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# bench_proc_cpu PID: CPU seconds (user + system) the process used so far.
bench_proc_cpu() {
	local tck
	tck=$(getconf CLK_TCK)
	# Fields after the ")" that ends the command name: utime and stime are
	# the 12th and 13th.
	sed 's/.*) //' "/proc/$1/stat" | awk -v t="$tck" '{printf "%.2f\n", ($12 + $13) / t}'
}

# ---------------------------------------------------------------- image

BENCH_IMAGE_PKGS=${BENCH_IMAGE_PKGS:-python3,perl}
BENCH_IMAGE_SUITE=bookworm
BENCH_IMAGE_NAME=bench/debian

# bench_apt_mirror: the Debian mirror apt is configured with (not the security one).
bench_apt_mirror() {
	local m=""
	if [ -r /etc/apt/sources.list.d/debian.sources ]; then
		m=$(awk '$1 == "URIs:" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$m" ] && [ -r /etc/apt/sources.list ]; then
		m=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
	fi
	echo "${m:-http://deb.debian.org/debian}"
}

# bench_image_build: debootstrap a Debian rootfs and turn it into two OCI layouts
# under BENCH_IMAGE_DIR, oci-gzip (umoci's own output) and oci-zstd (the same
# layer recompressed by skopeo). Cached: done once per BENCH_IMAGE_DIR.
bench_image_build() {
	BENCH_IMAGE_DIR=$BENCH_CACHE/debian-$BENCH_IMAGE_SUITE-minbase-${BENCH_IMAGE_PKGS//,/-}
	if [ -f "$BENCH_IMAGE_DIR/done" ]; then
		bench_log "image cached in $BENCH_IMAGE_DIR"
		# shellcheck source=/dev/null
		. "$BENCH_IMAGE_DIR/image.env"
		return 0
	fi
	local mirror rootfs=$BENCH_IMAGE_DIR/rootfs bundle=$BENCH_IMAGE_DIR/bundle
	mirror=${BENCH_MIRROR:-$(bench_apt_mirror)}
	mkdir -p "$BENCH_IMAGE_DIR"
	if [ ! -f "$BENCH_IMAGE_DIR/rootfs.done" ]; then
		bench_log "debootstrap --variant=minbase --include=$BENCH_IMAGE_PKGS $BENCH_IMAGE_SUITE ($mirror)"
		bench_rmdir "$rootfs"
		debootstrap --variant=minbase --include="$BENCH_IMAGE_PKGS" "$BENCH_IMAGE_SUITE" "$rootfs" "$mirror" >"$BENCH_IMAGE_DIR/debootstrap.log" 2>&1 ||
			{ tail -20 "$BENCH_IMAGE_DIR/debootstrap.log" >&2; bench_die "debootstrap failed (log: $BENCH_IMAGE_DIR/debootstrap.log)"; }
		# What a registry image would not carry: downloaded packages, apt's
		# lists, device nodes (the runtime makes /dev), temp files.
		find "$rootfs/var/cache/apt" "$rootfs/var/lib/apt/lists" -type f -delete
		find "$rootfs/dev" "$rootfs/tmp" "$rootfs/var/tmp" "$rootfs/proc" "$rootfs/sys" -mindepth 1 -delete
		touch "$BENCH_IMAGE_DIR/rootfs.done"
	fi

	bench_log "umoci: single-layer OCI image"
	rm -rf "$BENCH_IMAGE_DIR/oci-gzip" "$BENCH_IMAGE_DIR/oci-zstd" "$bundle"
	umoci init --layout "$BENCH_IMAGE_DIR/oci-gzip"
	umoci new --image "$BENCH_IMAGE_DIR/oci-gzip:debian"
	umoci unpack --image "$BENCH_IMAGE_DIR/oci-gzip:debian" "$bundle" >/dev/null
	cp -a "$rootfs/." "$bundle/rootfs/"
	umoci repack --image "$BENCH_IMAGE_DIR/oci-gzip:debian" "$bundle"
	umoci config --image "$BENCH_IMAGE_DIR/oci-gzip:debian" \
		--config.cmd /bin/bash \
		--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	umoci gc --layout "$BENCH_IMAGE_DIR/oci-gzip"
	bench_rmdir "$bundle"

	bench_log "skopeo: zstd copy of the layout"
	skopeo copy --quiet --dest-compress-format zstd \
		"oci:$BENCH_IMAGE_DIR/oci-gzip:debian" "oci:$BENCH_IMAGE_DIR/oci-zstd:debian"

	local bytes files
	bytes=$(du -sb --apparent-size "$rootfs" | cut -f1)
	files=$(find "$rootfs" | wc -l)
	{
		echo "IMAGE_UNPACKED_BYTES=$bytes"
		echo "IMAGE_FILES=$files"
		echo "IMAGE_PKGS=$BENCH_IMAGE_PKGS"
		echo "IMAGE_SUITE=$BENCH_IMAGE_SUITE"
	} >"$BENCH_IMAGE_DIR/image.env"
	touch "$BENCH_IMAGE_DIR/done"
	# shellcheck source=/dev/null
	. "$BENCH_IMAGE_DIR/image.env"
}

# bench_layer_info LAYOUT: prints "LAYERS COMPRESSED_BYTES MEDIATYPE" of the
# layout's only manifest.
bench_layer_info() {
	local layout=$1 digest
	digest=$(jq -r '.manifests[0].digest' "$layout/index.json")
	jq -r '[(.layers | length), ([.layers[].size] | add), .layers[0].mediaType] | @tsv' \
		"$layout/blobs/${digest%%:*}/${digest#*:}"
}

# bench_image_push COMPRESSION: pushes the image to the registry as :COMPRESSION and
# checks what the registry serves.
bench_image_push() {
	local c=$1 ref=$BENCH_REGISTRY/$BENCH_IMAGE_NAME:$1 mt
	bench_log "skopeo push $ref"
	skopeo copy --quiet --dest-tls-verify=false --dest-compress-format "$c" \
		"oci:$BENCH_IMAGE_DIR/oci-$c:debian" "docker://$ref"
	mt=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$BENCH_REGISTRY/v2/$BENCH_IMAGE_NAME/manifests/$c" | jq -r '.layers[].mediaType' | sort -u)
	case $mt in
	*"+$c") ;;
	*) bench_die "pushed :$c but the registry serves layers of type $mt" ;;
	esac
}

# ---------------------------------------------------------------- timing

# bench_nice CMD...: runs CMD at priority BENCH_NICE.
bench_nice() {
	if [ "$BENCH_NICE" = 0 ]; then "$@"; else nice -n "$BENCH_NICE" "$@"; fi
}

# bench_host_busy: CPU seconds the whole machine has been busy (all cores,
# everything but idle and iowait), from /proc/stat.
bench_host_busy() {
	local tck
	tck=$(getconf CLK_TCK)
	awk -v t="$tck" '$1 == "cpu" {printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / t; exit}' /proc/stat
}

# bench_measure OUT CMD...: syncs, then runs CMD (at BENCH_NICE) under GNU
# time, its output appended to OUT.log. Sets
#   BENCH_WALL     seconds, ms resolution, from the shell's clock
#   BENCH_RSS_KB   peak RSS of CMD and its waited-for children, KiB
#   BENCH_CPU      user + system seconds of CMD and its waited-for children
#   BENCH_BUSY     CPU seconds the whole machine was busy meanwhile
# Returns CMD's exit status.
bench_measure() {
	local out=$1 t0 t1 b0 b1 rc=0
	shift
	sync
	b0=$(bench_host_busy)
	t0=$(date +%s%N)
	bench_nice /usr/bin/time -f '%M %U %S' -o "$out.time" "$@" >>"$out.log" 2>&1 || rc=$?
	t1=$(date +%s%N)
	b1=$(bench_host_busy)
	BENCH_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", (b - a) / 1e9}')
	BENCH_BUSY=$(awk -v a="$b0" -v b="$b1" 'BEGIN {printf "%.2f\n", b - a}')
	# GNU time's last line (a failing CMD adds a "Command exited" line first).
	read -r BENCH_RSS_KB BENCH_CPU < <(tail -1 "$out.time" | awk '{printf "%d %.2f\n", $1, $2 + $3}')
	case $BENCH_RSS_KB in '' | *[!0-9]*) BENCH_RSS_KB=0 BENCH_CPU=0 ;; esac
	return "$rc"
}

# bench_others_load WALL BUSY OWN_CPU: how many cores other processes kept
# busy on average while a run took WALL seconds (BUSY machine-wide CPU
# seconds, OWN_CPU of them the run's own). Above ~0.3 the run was disturbed.
bench_others_load() {
	awk -v w="$1" -v b="$2" -v o="$3" 'BEGIN { x = (b - o) / w; if (x < 0) x = 0; printf "%.2f\n", x }'
}

# ---------------------------------------------------------------- statistics

# bench_median NUM...: the median (mean of the middle two for an even count),
# as an integer when it is one, else to 3 decimals.
bench_median() {
	printf '%s\n' "$@" | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "nan"; exit }
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			if (m == int(m)) printf "%d\n", m
			else printf "%.3f\n", m
		}'
}

# bench_ratio A B: A / B to 3 decimals ("nan" when B is 0 or not a number).
bench_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "nan"; else printf "%.3f\n", a / b }'
}

# bench_paired_ratio "A1 A2 ..." "B1 B2 ...": the median of the ratios
# Ai/Bi of runs measured in the same round, to 3 decimals. A machine whose
# speed drifts from minute to minute moves both runs of a round alike, so
# this ratio moves less than the ratio of the two medians.
bench_paired_ratio() {
	local a=($1) b=($2) r=() i
	[ ${#a[@]} -eq ${#b[@]} ] || { echo nan; return; }
	for ((i = 0; i < ${#a[@]}; i++)); do
		r+=("$(awk -v x="${a[i]}" -v y="${b[i]}" 'BEGIN { if (y + 0 == 0) print "nan"; else printf "%.4f\n", x / y }')")
	done
	bench_median "${r[@]}" | awk '{ printf "%.3f\n", $1 }'
}

# bench_le A B: true when A <= B (numbers).
bench_le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }

# ---------------------------------------------------------------- JSON lines

# bench_json KEY=VALUE...: prints one JSON object. A value that looks like a
# number, true, false or null is written bare; anything else as a string.
bench_json() {
	local kv k v sep="" line="{"
	for kv in "$@"; do
		k=${kv%%=*}
		v=${kv#*=}
		if [[ $v =~ ^-?[0-9]+(\.[0-9]+)?$ || $v == true || $v == false || $v == null ]]; then
			:
		else
			v=${v//\\/\\\\}
			v=${v//\"/\\\"}
			v=${v//$'\n'/\\n}
			v=${v//$'\t'/\\t}
			v="\"$v\""
		fi
		line+="$sep\"$k\":$v"
		sep=","
	done
	printf '%s}\n' "$line"
}

# bench_results_file NAME: prints test/bench/results/NAME-<date>.jsonl
# (today's file: runs of one day append to it), creating the folder.
bench_results_file() {
	mkdir -p "$BENCH_RESULTS"
	printf '%s/%s-%s.jsonl\n' "$BENCH_RESULTS" "$1" "$(date +%Y-%m-%d)"
}

# bench_host_info: KEY=VALUE lines describing the machine and the commit.
bench_host_info() {
	printf '%s\n' \
		"host=$(hostname)" \
		"kernel=$(uname -r)" \
		"cpus=$(nproc)" \
		"mem_gib=$(awk '/^MemTotal:/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)" \
		"commit=$(git -C "$BENCH_REPO" describe --tags --always --dirty 2>/dev/null || echo unknown)"
}

# ---------------------------------------------------------------- tiny image

BENCH_TINY_NAME=bench/tiny

# bench_tiny_image_build: a one-layer OCI image (layout BENCH_TINY_DIR/oci,
# tag tiny) whose /bin/true and /bin/sleep are one static Go binary
# (CGO_ENABLED=0) that picks its job by name: true exits 0, sleep N sleeps
# N seconds ("infinity": forever). Plus empty /etc/passwd-style files and
# the usual mount points. Cached in BENCH_CACHE by the source's hash.
bench_tiny_image_build() {
	local src key b
	src='package main

import (
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	if filepath.Base(os.Args[0]) != "sleep" {
		os.Exit(0)
	}
	if len(os.Args) < 2 || os.Args[1] == "infinity" {
		for {
			time.Sleep(time.Hour)
		}
	}
	n, err := strconv.ParseFloat(os.Args[1], 64)
	if err != nil {
		os.Exit(1)
	}
	time.Sleep(time.Duration(n * float64(time.Second)))
}
'
	key=$(printf '%s%s' "$src" "$(go env GOVERSION)" | sha256sum | cut -c1-12)
	BENCH_TINY_DIR=$BENCH_CACHE/tiny-$key
	if [ -f "$BENCH_TINY_DIR/done" ]; then
		bench_log "tiny image cached in $BENCH_TINY_DIR"
		return 0
	fi
	bench_log "tiny image: static Go true/sleep, umoci"
	rm -rf "$BENCH_TINY_DIR"
	b=$BENCH_TINY_DIR/build
	mkdir -p "$b/src"
	printf '%s' "$src" >"$b/src/main.go"
	printf 'module tiny\n\ngo 1.21\n' >"$b/src/go.mod"
	(cd "$b/src" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags '-s -w' -o "$b/true" .)
	umoci init --layout "$BENCH_TINY_DIR/oci"
	umoci new --image "$BENCH_TINY_DIR/oci:tiny"
	umoci unpack --image "$BENCH_TINY_DIR/oci:tiny" "$b/bundle" >/dev/null
	(
		cd "$b/bundle/rootfs" || exit
		mkdir -p bin etc dev proc sys tmp run
		chmod 1777 tmp
		install -m 0755 "$b/true" bin/true
		ln bin/true bin/sleep
		echo 'root:x:0:0:root:/:/bin/true' >etc/passwd
		echo 'root:x:0:' >etc/group
		: >etc/hosts
		: >etc/resolv.conf
	)
	umoci repack --image "$BENCH_TINY_DIR/oci:tiny" "$b/bundle"
	umoci config --image "$BENCH_TINY_DIR/oci:tiny" --config.cmd /bin/true \
		--config.env PATH=/bin
	umoci gc --layout "$BENCH_TINY_DIR/oci"
	bench_rmdir "$b"
	touch "$BENCH_TINY_DIR/done"
}

# bench_tiny_image_push: pushes the tiny image to BENCH_REGISTRY (gzip
# layer) and sets BENCH_TINY_REF.
bench_tiny_image_push() {
	BENCH_TINY_REF=$BENCH_REGISTRY/$BENCH_TINY_NAME:latest
	bench_log "skopeo push $BENCH_TINY_REF"
	skopeo copy --quiet --dest-tls-verify=false "oci:$BENCH_TINY_DIR/oci:tiny" "docker://$BENCH_TINY_REF"
}

# ---------------------------------------------------------------- tiny-image runs

# bench_tiny_setup: what the start benchmarks share — the tiny image built
# (cached) and pushed to a registry of this run (REF), the stockade binary
# (STOCKADE), a temp dir (BENCH_TMP), and no STOCKADE_* setting from the
# caller's environment.
bench_tiny_setup() {
	local v
	command -v go >/dev/null || bench_die "go is needed to build the tiny image"
	bench_tiny_image_build
	bench_stockade
	while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^STOCKADE_' || true)
	bench_tmpdir
	bench_registry_start "$BENCH_TMP/registry"
	bench_tiny_image_push
	REF=$BENCH_TINY_REF
}

# bench_stockade_store: a stockade store of this run under BENCH_TMP
# (S_ARGS, and stockade_cmd ARGS... to run stockade on it), REF pulled
# into it, its containers removed on exit.
bench_stockade_store() {
	: >"$BENCH_TMP/stockade.toml"
	S_ARGS=(--root "$BENCH_TMP/root" --state "$BENCH_TMP/state" --config "$BENCH_TMP/stockade.toml")
	mkdir -p "$BENCH_TMP/root" "$BENCH_TMP/state"
	bench_on_exit "'$STOCKADE' ${S_ARGS[*]} ps -aq 2>/dev/null | xargs -r -n 50 '$STOCKADE' ${S_ARGS[*]} rm -f >/dev/null 2>&1"
	stockade_cmd pull -q "$REF" >/dev/null 2>&1 || bench_die "stockade pull $REF failed"
}
stockade_cmd() { "$STOCKADE" "${S_ARGS[@]}" "$@"; }

# bench_ms CMD...: runs CMD at the measured priority (output discarded;
# dies when it fails) and prints its wall time in ms.
bench_ms() {
	local t0 t1
	t0=${EPOCHREALTIME/./}
	bench_nice "$@" >/dev/null 2>&1 || bench_die "failed: $*"
	t1=${EPOCHREALTIME/./}
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f\n", (b - a) / 1000}'
}
