#!/usr/bin/env bash
# Pull+unpack benchmark: stockade vs containerd 1.6, cold, over a plain-HTTP
# docker-registry on loopback, for a ~200 MB Debian image compressed with
# gzip and with zstd. See README.md in this folder.
#
#   test/bench/pull.sh                 # as root, from anywhere
#
# Environment:
#   BENCH_ROUNDS=5                     rounds per compression
#   BENCH_COMPRESSIONS="gzip zstd"     which pushes to measure
#   BENCH_CACHE=/var/cache/stockade-bench   rootfs and OCI layouts, built once
#   BENCH_IMAGE_PKGS=python3,perl      debootstrap --include (part of the cache key)
#   BENCH_MIRROR=                      Debian mirror (default: the one in /etc/apt)
#   STOCKADE=bin/stockade              binary to measure (built with make if missing)
#   BENCH_FS=disk                      where the fresh roots go: disk (a dir under
#                                      TMPDIR, /tmp) or tmpfs (a private tmpfs mount)
#   BENCH_NICE=-10                     priority of the measured processes (0: off)
#   BENCH_SKIP_STOCKADE=1              measure containerd alone
#   BENCH_RESULTS=test/bench/results   where the JSON lines go
set -eu

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

BENCH_COMPRESSIONS=${BENCH_COMPRESSIONS:-gzip zstd}
BENCH_SKIP_STOCKADE=${BENCH_SKIP_STOCKADE:-}
BENCH_FS=${BENCH_FS:-disk}
RATIO_GOAL=0.8
RSS_GOAL_MIB=100

[ "$(id -u)" = 0 ] || bench_die "run as root (debootstrap, overlay mounts, containerd)"
case $BENCH_FS in disk | tmpfs) ;; *) bench_die "BENCH_FS must be disk or tmpfs" ;; esac
case $BENCH_ROUNDS in '' | *[!0-9]* | 0) bench_die "BENCH_ROUNDS must be a positive integer" ;; esac

# ---------------------------------------------------------------- one run each

# Each run_* sets RUN_OK (true/false), RUN_WALL (s), RUN_CPU (s), RUN_RSS_KB,
# RUN_LOAD (cores other processes kept busy meanwhile) and RUN_DISK (bytes
# under the fresh root afterwards).

# run_stockade REF TAG: one cold pull into a new, empty root and state.
run_stockade() {
	local ref=$1 d=$WORK/stockade-$2
	mkdir -p "$d/root" "$d/state"
	RUN_OK=true RUN_DISK=0
	bench_measure "$BENCH_TMP/stockade" "$STOCKADE" --root "$d/root" --state "$d/state" \
		--config "$BENCH_TMP/stockade.toml" pull "$ref" || RUN_OK=false
	RUN_WALL=$BENCH_WALL RUN_CPU=$BENCH_CPU RUN_RSS_KB=$BENCH_RSS_KB
	RUN_LOAD=$(bench_others_load "$BENCH_WALL" "$BENCH_BUSY" "$BENCH_CPU")
	if [ "$RUN_OK" = true ]; then
		RUN_DISK=$(du -sxb "$d/root" | cut -f1)
		check_unpacked stockade
	fi
	bench_rmdir "$d"
}

# run_containerd REF TAG: starts a containerd on a new, empty root, times
# only `ctr images pull` (it fetches, then unpacks into overlayfs snapshots
# for the host platform: ctr 1.6 does that unless --all-platforms), checks
# the snapshots are there, stops containerd. RUN_CPU is the daemon's CPU
# during the pull plus ctr's; RUN_RSS_KB the daemon's peak RSS (start-up
# included): ctr is only a client.
run_containerd() {
	local ref=$1 d=$WORK/containerd-$2 n cpu0 cpu1
	bench_containerd_start "$d"
	RUN_OK=true RUN_DISK=0
	cpu0=$(bench_proc_cpu "$BENCH_CTR_PID")
	bench_measure "$BENCH_TMP/containerd" ctr --address "$BENCH_CTR_SOCK" -n bench \
		images pull --plain-http --snapshotter overlayfs "$ref" || RUN_OK=false
	cpu1=$(bench_proc_cpu "$BENCH_CTR_PID")
	RUN_WALL=$BENCH_WALL
	RUN_CPU=$(awk -v a="$cpu0" -v b="$cpu1" -v c="$BENCH_CPU" 'BEGIN {printf "%.2f\n", b - a + c}')
	RUN_RSS_KB=$(bench_peak_rss_kb "$BENCH_CTR_PID")
	RUN_LOAD=$(bench_others_load "$BENCH_WALL" "$BENCH_BUSY" "$RUN_CPU")
	if [ "$RUN_OK" = true ]; then
		n=$(bench_ctr -n bench snapshots --snapshotter overlayfs ls | tail -n +2 | wc -l)
		if [ "$n" != "$LAYERS" ]; then
			echo "containerd: $n snapshots after the pull, want $LAYERS" >>"$BENCH_TMP/containerd.log"
			RUN_OK=false
		fi
		RUN_DISK=$(du -sxb "$d/root" | cut -f1)
		check_unpacked containerd
	fi
	bench_containerd_stop "$BENCH_CTR_PID" "$d"
}

# check_unpacked TOOL: fails the run (RUN_OK=false) when less than the
# image's unpacked size landed under the root: then it did not unpack.
check_unpacked() {
	if [ "$RUN_DISK" -lt "$IMAGE_UNPACKED_BYTES" ]; then
		echo "$1: only $RUN_DISK bytes under its root, the image unpacks to $IMAGE_UNPACKED_BYTES" >>"$BENCH_TMP/$1.log"
		RUN_OK=false
	fi
}

# mib KIB: KIB in MiB, rounded; "-" for a missing value.
mib() {
	case $1 in - | null | '') echo - ;; *) awk -v k="$1" 'BEGIN {printf "%.0f\n", k / 1024}' ;; esac
}

# median_or_null NUM...: bench_median, or null for no numbers.
median_or_null() {
	if [ $# -eq 0 ]; then echo null; else bench_median "$@"; fi
}

# row COLUMN...: one line of the results table.
row() { printf '%-7s %-11s %9s %8s %9s %12s\n' "$@"; }

# ---------------------------------------------------------------- main

bench_need_pkgs debootstrap time docker-registry skopeo umoci containerd runc jq curl iproute2
bench_image_build

if [ -z "$BENCH_SKIP_STOCKADE" ]; then
	bench_stockade
	"$STOCKADE" pull --help >/dev/null 2>&1 || bench_die "$STOCKADE has no pull command: rebuild it (make build)"
	# Only the flags configure stockade: no environment, an empty config.
	while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^STOCKADE_' || true)
fi

bench_tmpdir
: >"$BENCH_TMP/stockade.toml"
bench_registry_start "$BENCH_TMP/registry"
WORK=$BENCH_TMP/work
mkdir -p "$WORK"
if [ "$BENCH_FS" = tmpfs ]; then mount -t tmpfs -o size=8g,mode=0700 bench-work "$WORK"; fi

RESULTS=$(bench_results_file pull)
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)-$$
mapfile -t HOST < <(bench_host_info)
FAILED=""
STOCKADE_BROKEN=""

for comp in $BENCH_COMPRESSIONS; do
	case $comp in gzip | zstd) ;; *) bench_die "unknown compression $comp" ;; esac
	bench_image_push "$comp"
	ref=$BENCH_REGISTRY/$BENCH_IMAGE_NAME:$comp
	read -r LAYERS LAYER_BYTES _ < <(bench_layer_info "$BENCH_IMAGE_DIR/oci-$comp")
	bench_log "$comp: $LAYERS layer(s), $((LAYER_BYTES / 1048576)) MiB compressed, $((IMAGE_UNPACKED_BYTES / 1048576)) MiB unpacked, $BENCH_ROUNDS rounds, roots on $BENCH_FS"
	: >"$BENCH_TMP/stockade.log"
	: >"$BENCH_TMP/containerd.log"
	s_wall=() s_cpu=() s_rss=() c_wall=() c_cpu=() c_rss=() rows=()
	disturbed=0

	for ((r = 1; r <= BENCH_ROUNDS; r++)); do
		# Alternate who goes first, so neither always gets the other's leftovers.
		if ((r % 2)); then order="stockade containerd"; else order="containerd stockade"; fi
		for tool in $order; do
			if [ "$tool" = stockade ]; then
				if [ -n "$BENCH_SKIP_STOCKADE" ] || [ -n "$STOCKADE_BROKEN" ]; then continue; fi
				run_stockade "$ref" "$comp-$r"
			else
				run_containerd "$ref" "$comp-$r"
			fi
			bench_json bench=pull run_id="$RUN_ID" time="$(date -u +%FT%TZ)" compression="$comp" \
				fs="$BENCH_FS" nice="$BENCH_NICE" round="$r" first="${order%% *}" tool="$tool" ok="$RUN_OK" \
				wall_s="$RUN_WALL" cpu_s="$RUN_CPU" peak_rss_kb="$RUN_RSS_KB" others_load="$RUN_LOAD" \
				disk_bytes="$RUN_DISK" >>"$RESULTS"
			bench_log "$comp round $r/$BENCH_ROUNDS $tool: ok=$RUN_OK ${RUN_WALL}s cpu ${RUN_CPU}s others_load $RUN_LOAD"
			if [ "$RUN_OK" != true ]; then
				echo "-- $tool pull of $ref failed, the end of its output:" >&2
				tail -5 "$BENCH_TMP/$tool.log" >&2
				FAILED="$FAILED $tool/$comp"
				if [ "$tool" = stockade ]; then STOCKADE_BROKEN=1; fi
				rows+=("$(row "$r" "$tool" failed - - -)")
				continue
			fi
			rows+=("$(row "$r" "$tool" "$RUN_WALL" "$RUN_CPU" "$(mib "$RUN_RSS_KB")" "$RUN_LOAD")")
			if bench_le 0.5 "$RUN_LOAD"; then disturbed=$((disturbed + 1)); fi
			if [ "$tool" = stockade ]; then
				s_wall+=("$RUN_WALL") s_cpu+=("$RUN_CPU") s_rss+=("$RUN_RSS_KB")
			else
				c_wall+=("$RUN_WALL") c_cpu+=("$RUN_CPU") c_rss+=("$RUN_RSS_KB")
			fi
		done
	done

	s_med=$(median_or_null "${s_wall[@]}") c_med=$(median_or_null "${c_wall[@]}")
	s_cpu_med=$(median_or_null "${s_cpu[@]}") c_cpu_med=$(median_or_null "${c_cpu[@]}")
	s_rss_med=$(median_or_null "${s_rss[@]}") c_rss_med=$(median_or_null "${c_rss[@]}")
	s_rss_max=null ratio=null cpu_ratio=null
	if [ ${#s_rss[@]} -gt 0 ]; then s_rss_max=$(printf '%s\n' "${s_rss[@]}" | sort -n | tail -1); fi
	if [ "$s_med" != null ] && [ "$c_med" != null ]; then
		ratio=$(bench_ratio "$s_med" "$c_med")
		cpu_ratio=$(bench_ratio "$s_cpu_med" "$c_cpu_med")
	fi

	echo
	echo "pull $ref: $LAYERS layer(s), $comp $((LAYER_BYTES / 1048576)) MiB -> $((IMAGE_UNPACKED_BYTES / 1048576)) MiB / $IMAGE_FILES files unpacked; roots on $BENCH_FS"
	row round tool wall_s cpu_s rss_MiB others_load
	printf '%s\n' "${rows[@]}"
	row median stockade "$s_med" "$s_cpu_med" "$(mib "$s_rss_med")" ""
	row median containerd "$c_med" "$c_cpu_med" "$(mib "$c_rss_med")" ""
	if [ "$ratio" = null ]; then
		echo "ratio stockade/containerd: n/a (a side completed no pull)"
	else
		verdict=FAIL
		if bench_le "$ratio" "$RATIO_GOAL"; then verdict=ok; fi
		echo "ratio stockade/containerd, wall-time medians: $ratio (goal <= $RATIO_GOAL: $verdict); CPU-time medians: $cpu_ratio"
		verdict=FAIL
		if bench_le "$s_rss_max" $((RSS_GOAL_MIB * 1024)); then verdict=ok; fi
		echo "stockade peak RSS, worst run: $(mib "$s_rss_max") MiB (goal <= $RSS_GOAL_MIB MiB: $verdict)"
	fi
	echo "containerd's cpu_s is the daemon's plus ctr's; its rss_MiB is the daemon's peak, start-up included."
	if [ "$disturbed" -gt 0 ]; then
		echo "warning: in $disturbed run(s) other processes kept >= 0.5 core busy (others_load): wall times are noisy, compare cpu_s too."
	fi

	bench_json bench=pull kind=summary run_id="$RUN_ID" time="$(date -u +%FT%TZ)" compression="$comp" \
		fs="$BENCH_FS" nice="$BENCH_NICE" rounds="$BENCH_ROUNDS" layers="$LAYERS" layer_bytes="$LAYER_BYTES" \
		unpacked_bytes="$IMAGE_UNPACKED_BYTES" files="$IMAGE_FILES" \
		stockade_median_s="$s_med" containerd_median_s="$c_med" ratio="$ratio" ratio_goal="$RATIO_GOAL" \
		stockade_cpu_median_s="$s_cpu_med" containerd_cpu_median_s="$c_cpu_med" cpu_ratio="$cpu_ratio" \
		stockade_peak_rss_kb_max="$s_rss_max" stockade_peak_rss_kb_median="$s_rss_med" \
		rss_goal_kb=$((RSS_GOAL_MIB * 1024)) containerd_daemon_peak_rss_kb_median="$c_rss_med" \
		stockade_runs="${#s_wall[@]}" containerd_runs="${#c_wall[@]}" disturbed_runs="$disturbed" \
		"${HOST[@]}" >>"$RESULTS"
done

echo
echo "results appended to $RESULTS"
if [ -n "$FAILED" ]; then
	bench_die "failed pulls:$FAILED"
fi
