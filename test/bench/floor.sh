#!/usr/bin/env bash
# Issue 19's floor: `stockade run --rm --network none IMAGE /bin/true`
# against bare `runc run` of a bundle of the same root file system, and
# against `podman run --rm` of the same image, in alternating rounds (the
# order rotates each round). Two bare bundles share the tiny image's root
# file system (unpacked once by umoci) and differ in their config.json:
#
#   runc spec      `runc spec` with args /bin/true: the smallest container
#                  runc makes (a new network namespace with loopback only,
#                  as --network none; no seccomp, few mounts)
#   stockade spec  the config.json stockade itself generated for the same
#                  image and command (`stockade create`), with its root
#                  path pointed at the unpacked root and the bind mounts of
#                  its container directory (/etc/hosts, resolv.conf,
#                  hostname) and its cgroup path left out: the same
#                  seccomp profile, capabilities, masked paths and mounts,
#                  so runc does the same work and the difference is
#                  stockade's own
#
# podman runs with `--runtime runc` (its default, crun 1.8.1, refuses this
# host's hybrid cgroups) and explicit nofile/nproc ulimits (its defaults
# exceed the hard limits this host allows and runc's init fails to set
# them). The ratios printed are median stockade / median other; the
# issue's goals are <= 1.5 against bare runc and <= 0.5 against podman.
# With crun installed and working, the same against bare crun. See
# README.md here.
#
#   test/bench/floor.sh                # as root, from anywhere
#
# Environment:
#   BENCH_ROUNDS=20                    rounds
#   BENCH_SKIP_PODMAN=                 set: leave podman out
#   STOCKADE=bin/stockade              binary to measure (built with make if missing)
#   BENCH_NICE=-10                     priority of the measured processes (0: off)
#   BENCH_PAUSE=0                      seconds to wait before each measured start
#                                      (0: back to back; 0.05 lets the last run's
#                                      asynchronous teardown end first)
#   BENCH_CACHE=/var/cache/stockade-bench   the tiny image, built once
# shellcheck source-path=SCRIPTDIR source=lib.sh
set -eu

BENCH_ROUNDS=${BENCH_ROUNDS:-20}
BENCH_SKIP_PODMAN=${BENCH_SKIP_PODMAN:-}
BENCH_PAUSE=${BENCH_PAUSE:-0}
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || bench_die "run as root (overlay mounts, runc)"
case $BENCH_ROUNDS in '' | *[!0-9]* | 0) bench_die "BENCH_ROUNDS must be a positive integer" ;; esac
case $BENCH_PAUSE in '' | *[!0-9.]* | *.*.*) bench_die "BENCH_PAUSE must be a number of seconds, not $BENCH_PAUSE" ;; esac

bench_need_pkgs docker-registry skopeo umoci runc jq
[ -n "$BENCH_SKIP_PODMAN" ] || bench_need_pkgs podman
bench_tiny_setup

ROOTFS_BUNDLE=$BENCH_TMP/bundle
umoci unpack --image "$BENCH_TINY_DIR/oci:tiny" "$ROOTFS_BUNDLE" >/dev/null
(cd "$ROOTFS_BUNDLE" && rm -f config.json && runc spec)
jq '.process.args = ["/bin/true"] | .process.terminal = false | .root.readonly = false' \
	"$ROOTFS_BUNDLE/config.json" >"$ROOTFS_BUNDLE/config.json.new" && mv "$ROOTFS_BUNDLE/config.json.new" "$ROOTFS_BUNDLE/config.json"

declare -A ARGS
side() {
	local name=$1 rt=$2 dir=$BENCH_TMP/$1
	mkdir -p "$dir/root" "$dir/state"
	printf 'runtime = "%s"\n' "$rt" >"$dir/stockade.toml"
	ARGS[$name]="--root $dir/root --state $dir/state --config $dir/stockade.toml"
	# shellcheck disable=SC2086
	"$STOCKADE" ${ARGS[$name]} pull -q "$REF" >/dev/null 2>&1 || bench_die "stockade pull ($rt) failed"
	# shellcheck disable=SC2086
	if ! "$STOCKADE" ${ARGS[$name]} run --rm --network none "$REF" >"$dir/first.log" 2>&1; then
		echo "$rt   skipped: stockade run with $rt failed: $(tail -3 "$dir/first.log")"
		return 1
	fi
	bench_on_exit "'$STOCKADE' ${ARGS[$name]} ps -aq 2>/dev/null | xargs -r '$STOCKADE' ${ARGS[$name]} rm -f >/dev/null 2>&1"
	# The bundle with stockade's own config.json (see the top).
	local id cfg
	# shellcheck disable=SC2086
	id=$("$STOCKADE" ${ARGS[$name]} create --network none "$REF" /bin/true) || bench_die "stockade create ($rt) failed"
	cfg=$dir/root/containers/$id/config.json
	[ -f "$cfg" ] || bench_die "no config.json at $cfg"
	mkdir -p "$dir/bundle"
	jq --arg c "$dir/root/" --arg r "$ROOTFS_BUNDLE/rootfs" '.root.path = $r | del(.linux.cgroupsPath)
		| .mounts |= map(select((.source // "") | startswith($c) | not))' "$cfg" >"$dir/bundle/config.json"
	# shellcheck disable=SC2086
	"$STOCKADE" ${ARGS[$name]} rm -f "$id" >/dev/null
}

PROBES=0
PODMAN_ARGS=()
podman_setup() {
	[ -z "$BENCH_SKIP_PODMAN" ] || return 1
	PODMAN_ARGS=(--root "$BENCH_TMP/podman-root" --runroot "$BENCH_TMP/podman-run" --storage-driver overlay)
	bench_on_exit "podman ${PODMAN_ARGS[*]} rm -af >/dev/null 2>&1; umount -R '$BENCH_TMP/podman-root' 2>/dev/null || true"
	podman "${PODMAN_ARGS[@]}" pull -q --tls-verify=false "$REF" >/dev/null 2>&1 || {
		echo "podman skipped: podman pull failed"
		return 1
	}
	PODMAN_RUN=(podman "${PODMAN_ARGS[@]}" run --rm --network none --runtime runc
		--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$REF" /bin/true)
	local out
	if ! out=$("${PODMAN_RUN[@]}" 2>&1); then
		echo "podman skipped: podman run fails here: $out"
		return 1
	fi
}

compare() {
	local rt=$1 name=$2 r k x out
	side "$name" "$rt" || return 1
	# Each bare bundle once, as the rounds run them: a runtime that
	# cannot run one here is said and skipped, not a failed benchmark.
	for k in "$ROOTFS_BUNDLE" "$BENCH_TMP/$name/bundle"; do
		if ! out=$(bench_nice "$rt" run --bundle "$k" "floor-$$-probe-$((++PROBES))" 2>&1); then
			echo "$rt   skipped: bare $rt cannot run $k here: $out"
			return 1
		fi
	done
	local with_podman=
	if [ "$rt" = runc ] && podman_setup; then with_podman=1; fi
	local -a S=() B=() O=() P=()
	# One round: the tools in a rotating order.
	local tools=(stockade bare own) order
	[ -z "$with_podman" ] || tools+=(podman)
	for ((r = 1; r <= BENCH_ROUNDS; r++)); do
		sync
		order=("${tools[@]:r%${#tools[@]}}" "${tools[@]:0:r%${#tools[@]}}")
		for k in "${order[@]}"; do
			[ "$BENCH_PAUSE" = 0 ] || sleep "$BENCH_PAUSE"
			case $k in
			stockade)
				# shellcheck disable=SC2086
				x=$(bench_ms "$STOCKADE" ${ARGS[$name]} run --rm --network none "$REF") S+=("$x") ;;
			bare) x=$(bench_ms "$rt" run --bundle "$ROOTFS_BUNDLE" "floor-$$-$r") B+=("$x") ;;
			own) x=$(bench_ms "$rt" run --bundle "$BENCH_TMP/$name/bundle" "floor-own-$$-$r") O+=("$x") ;;
			podman) x=$(bench_ms "${PODMAN_RUN[@]}") P+=("$x") ;;
			esac
		done
	done
	local ms_s ms_b ms_o ratio_b ratio_o
	ms_s=$(bench_median "${S[@]}") ms_b=$(bench_median "${B[@]}") ms_o=$(bench_median "${O[@]}")
	ratio_b=$(bench_ratio "$ms_s" "$ms_b") ratio_o=$(bench_ratio "$ms_s" "$ms_o")
	printf '%-6s stockade run --rm %8s ms\n' "$rt" "$ms_s"
	printf '%-6s bare %s run, runc spec      %8s ms   ratio %s (goal <= 1.5)\n' "$rt" "$rt" "$ms_b" "$ratio_b"
	printf '%-6s bare %s run, stockade spec  %8s ms   ratio %s (goal <= 1.5)\n' "$rt" "$rt" "$ms_o" "$ratio_o"
	local paired_o
	paired_o=$(bench_paired_ratio "${S[*]}" "${O[*]}")
	printf '%-6s   the same, round by round (median of each round'"'"'s ratio): %s\n' "$rt" "$paired_o"
	local extra=()
	if [ -n "$with_podman" ]; then
		local ms_p ratio_p
		ms_p=$(bench_median "${P[@]}") ratio_p=$(bench_ratio "$ms_s" "$ms_p")
		printf '%-6s podman run --rm (runc)      %8s ms   ratio %s (goal <= 0.5)\n' "$rt" "$ms_p" "$ratio_p"
		extra=("podman_ms=$ms_p" "podman_ratio=$ratio_p")
	fi
	bench_json floor "runtime=$rt" "rounds=$BENCH_ROUNDS" "pause_s=$BENCH_PAUSE" "stockade_ms=$ms_s" "bare_ms=$ms_b" "ratio=$ratio_b" \
		"bare_own_spec_ms=$ms_o" "own_spec_ratio=$ratio_o" "own_spec_paired_ratio=$paired_o" "${extra[@]}" >/dev/null || true
}

compare runc runc || bench_die "runc cannot run the benchmark here (see above)"
if command -v crun >/dev/null; then
	# crun refuses hosts with hybrid cgroups while the cgroup v2 hierarchy
	# still has controllers ("cgroups in hybrid mode not supported"): said
	# and skipped, not failed. The benchmark does not change the host's
	# cgroups; moving those controllers to v1 (as a systemd hybrid host
	# has them) lets crun run, see README.md here.
	if ! compare crun crun; then
		v2=$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null || true)
		[ -z "$v2" ] || echo "crun   (cgroup v2 controllers here: $v2; for each C: mkdir /sys/fs/cgroup/C && mount -t cgroup -o C cgroup /sys/fs/cgroup/C)"
	fi
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
