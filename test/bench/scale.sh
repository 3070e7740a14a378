#!/usr/bin/env bash
# How listing and booting grow with the number of idle containers: the
# tiny image's `sleep infinity` (--network none, --restart always), added
# up to each count of BENCH_SCALE; at each count the median time of
# `stockade ps`, `stockade ps --format json` and, as the floor they share
# (process start, package init, config), `stockade version` (BENCH_REPS
# runs each, taking turns), then all of them stopped (`shutdown`, not
# timed) and `boot --parallel 8` timed. Prints the growth table: times,
# the work per container (ps and json less the floor, over the count;
# boot over the count), the ratio of that to the previous count's (about
# 1 or less: linear or better), and the load average when ps was timed.
# See README.md here.
#
#   test/bench/scale.sh                # as root, from anywhere
#
# Environment:
#   BENCH_SCALE="10 100 1000"          container counts (increasing)
#   BENCH_REPS=5                       timed listings per count
#   STOCKADE=bin/stockade              binary to measure (built with make if missing)
#   BENCH_NICE=-10                     priority of the measured processes (0: off)
#   BENCH_CACHE=/var/cache/stockade-bench   the tiny image, built once
set -eu

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
BENCH_SCALE=${BENCH_SCALE:-10 100 1000}
BENCH_REPS=${BENCH_REPS:-5}

[ "$(id -u)" = 0 ] || bench_die "run as root (overlay mounts, runc)"
bench_need_pkgs docker-registry skopeo umoci runc jq curl
bench_tiny_setup
bench_stockade_store

# row N PS JSON FLOOR BOOT LOAD: prints one line of the growth table
# (work per container, and the growth of that against the previous
# count's, PREV); LOAD is the load average when ps was timed.
PREV=""
row() {
	local n=$1 p=$2 j=$3 f=$4 b=$5 l=$6 pc jc bc g=- pp pj pb
	pc=$(awk -v t="$p" -v f="$f" -v n="$n" 'BEGIN {printf "%.0f", (t - f) * 1000 / n}')
	jc=$(awk -v t="$j" -v f="$f" -v n="$n" 'BEGIN {printf "%.0f", (t - f) * 1000 / n}')
	bc=$(awk -v t="$b" -v n="$n" 'BEGIN {printf "%.1f", t / n}')
	if [ -n "$PREV" ]; then
		read -r pp pj pb <<<"$PREV"
		g="$(bench_ratio "$pc" "$pp")/$(bench_ratio "$jc" "$pj")/$(bench_ratio "$bc" "$pb")"
	fi
	printf '%6s %9s %9s %9s %10s %10s %10s %11s %20s %5s\n' "$n" "$p" "$j" "$f" "$b" "$pc" "$jc" "$bc" "$g" "$l"
	PREV="$pc $jc $bc"
}

# Rows are printed as each count is done: 1000 containers take a while.
printf '%6s %9s %9s %9s %10s %10s %10s %11s %20s %5s\n' count ps_ms json_ms floor_ms boot8_ms \
	ps_us/c json_us/c boot8_ms/c growth/c ps_load
have=0
for n in $BENCH_SCALE; do
	bench_log "$n containers"
	while ((have < n)); do
		stockade_cmd run -d --restart always --network none "$REF" /bin/sleep infinity >/dev/null ||
			bench_die "run -d failed at container $((have + 1))"
		have=$((have + 1))
	done
	[ "$(stockade_cmd ps -q | wc -l)" = "$n" ] || bench_die "ps does not list $n running containers"
	ps_t=() json_t=() floor_t=()
	for ((r = 0; r < BENCH_REPS; r++)); do
		ps_t+=("$(bench_ms "$STOCKADE" "${S_ARGS[@]}" ps)")
		json_t+=("$(bench_ms "$STOCKADE" "${S_ARGS[@]}" ps --format json)")
		floor_t+=("$(bench_ms "$STOCKADE" "${S_ARGS[@]}" version)")
	done
	ps_load=$(cut -d' ' -f1 /proc/loadavg)
	stockade_cmd shutdown -t 1 >/dev/null 2>&1 || bench_die "shutdown failed"
	[ "$(stockade_cmd ps -q | wc -l)" = 0 ] || bench_die "shutdown left containers running"
	boot_t=$(bench_ms "$STOCKADE" "${S_ARGS[@]}" boot --parallel 8)
	[ "$(stockade_cmd ps -q | wc -l)" = "$n" ] || bench_die "boot did not start all $n containers"
	row "$n" "$(bench_median "${ps_t[@]}")" "$(bench_median "${json_t[@]}")" "$(bench_median "${floor_t[@]}")" "$boot_t" "$ps_load"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
