#!/usr/bin/env bash
# Network benchmark (Linux driver): what a container's network costs.
#
#  1. `stockade run --rm IMAGE /bin/true` on the default network against
#     `--network none`, alternating, in the same run: median wall time of
#     each and the difference (goal: at most 20 ms more on the network).
#  2. 50 containers started one after another with `run -d` on one user
#     network (each then sleeping): the time of each start, the median of
#     the first 10 and of the last 10 and their ratio (goal: flat, ~1).
#
#   test/bench/network.sh             # as root, from anywhere
#
# Environment:
#   BENCH_ROUNDS=15        rounds of part 1 (each runs both once)
#   BENCH_COUNT=50         containers of part 2
#   STOCKADE=bin/stockade  binary to measure (built with make if missing)
#   BENCH_NICE=-10         priority of the measured processes (0: off)
#   BENCH_RESULTS=test/bench/results   where the JSON lines go
set -eu

BENCH_ROUNDS=${BENCH_ROUNDS:-15}
BENCH_COUNT=${BENCH_COUNT:-50}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

OVERHEAD_GOAL_MS=20
FLAT_GOAL=1.5

[ "$(id -u)" = 0 ] || bench_die "run as root (network namespaces, bridges, nftables, runc)"
case $BENCH_ROUNDS in '' | *[!0-9]* | 0) bench_die "BENCH_ROUNDS must be a positive integer" ;; esac
case $BENCH_COUNT in '' | *[!0-9]* | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 1[0-9]) bench_die "BENCH_COUNT must be 20 or more" ;; esac

bench_need_pkgs time docker-registry skopeo umoci runc curl iproute2
command -v go >/dev/null || bench_die "go is needed to build the tiny image"
bench_tiny_image_build
bench_stockade

bench_tmpdir
: >"$BENCH_TMP/stockade.toml"
bench_registry_start "$BENCH_TMP/registry"
bench_tiny_image_push
REF=$BENCH_TINY_REF

S_ARGS=(--root "$BENCH_TMP/root" --state "$BENCH_TMP/state" --config "$BENCH_TMP/stockade.toml")
stockade_cmd() { "$STOCKADE" "${S_ARGS[@]}" "$@"; }
S=("$STOCKADE" "${S_ARGS[@]}")
mkdir -p "$BENCH_TMP/root" "$BENCH_TMP/state"
# Containers, then networks (the default one too), before the dirs go.
bench_on_exit "stockade_cmd network rm benchnet >/dev/null 2>&1; stockade_cmd network rm stockade >/dev/null 2>&1"
bench_on_exit "stockade_cmd ps -aq 2>/dev/null | xargs -r '$STOCKADE' ${S_ARGS[*]} rm -f >/dev/null 2>&1"
stockade_cmd pull -q "$REF" >"$BENCH_TMP/stockade.log" 2>&1 || bench_die "stockade pull $REF failed"

# ms CMD...: runs CMD (nice'd), prints its wall time in milliseconds; fails
# with CMD.
ms() {
	local t0 t1
	t0=$(date +%s%N)
	bench_nice "$@" >>"$BENCH_TMP/stockade.log" 2>&1 || { tail -3 "$BENCH_TMP/stockade.log" >&2; return 1; }
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}

# Warm-up, not timed: the default network is made on first use.
stockade_cmd run --rm "$REF" /bin/true >>"$BENCH_TMP/stockade.log" 2>&1 ||
	bench_die "stockade run --rm on the default network failed (see $BENCH_TMP/stockade.log)"
stockade_cmd run --rm --network none "$REF" /bin/true >>"$BENCH_TMP/stockade.log" 2>&1 ||
	bench_die "stockade run --rm --network none failed"

RESULTS=$(bench_results_file network)
RUN_ID=$(date +%s)-$$
mapfile -t HOST < <(bench_host_info)

# ---------------------------------------------------------------- part 1
bench_log "$BENCH_ROUNDS rounds of run --rm /bin/true: default network vs --network none"
NET=() NONE=()
for ((i = 0; i < BENCH_ROUNDS; i++)); do
	if ((i % 2)); then
		a=$(ms "${S[@]}" run --rm --network none "$REF" /bin/true) || bench_die "run --network none failed"
		b=$(ms "${S[@]}" run --rm "$REF" /bin/true) || bench_die "run on the default network failed"
	else
		b=$(ms "${S[@]}" run --rm "$REF" /bin/true) || bench_die "run on the default network failed"
		a=$(ms "${S[@]}" run --rm --network none "$REF" /bin/true) || bench_die "run --network none failed"
	fi
	NONE+=("$a") NET+=("$b")
done
net_med=$(bench_median "${NET[@]}")
none_med=$(bench_median "${NONE[@]}")
overhead=$(awk -v a="$net_med" -v b="$none_med" 'BEGIN {printf "%d\n", a - b}')
ratio=$(bench_ratio "$net_med" "$none_med")
verdict=missed
if bench_le "$overhead" "$OVERHEAD_GOAL_MS"; then verdict=ok; fi
printf '\nrun --rm /bin/true, %d rounds (ms)\n' "$BENCH_ROUNDS"
printf '  %-22s median %5s   all: %s\n' "default network" "$net_med" "${NET[*]}"
printf '  %-22s median %5s   all: %s\n' "--network none" "$none_med" "${NONE[*]}"
printf '  network costs %s ms more (ratio %s); goal <= %s ms: %s\n' "$overhead" "$ratio" "$OVERHEAD_GOAL_MS" "$verdict"
bench_json bench=network part=run-rm run_id="$RUN_ID" time="$(date -u +%FT%TZ)" rounds="$BENCH_ROUNDS" \
	net_median_ms="$net_med" none_median_ms="$none_med" overhead_ms="$overhead" ratio="$ratio" \
	goal_ms="$OVERHEAD_GOAL_MS" verdict="$verdict" net_ms="${NET[*]}" none_ms="${NONE[*]}" "${HOST[@]}" >>"$RESULTS"

# ---------------------------------------------------------------- part 2
bench_log "$BENCH_COUNT containers started one after another on one network"
stockade_cmd network create benchnet >>"$BENCH_TMP/stockade.log" 2>&1 || bench_die "network create benchnet failed"
STARTS=()
for ((i = 1; i <= BENCH_COUNT; i++)); do
	t=$(ms "${S[@]}" run -d --name "n$i" --network benchnet "$REF" /bin/sleep infinity) || bench_die "run -d n$i failed"
	STARTS+=("$t")
done
first=$(bench_median "${STARTS[@]:0:10}")
last=$(bench_median "${STARTS[@]: -10}")
flat=$(bench_ratio "$last" "$first")
verdict=missed
if bench_le "$flat" "$FLAT_GOAL"; then verdict=ok; fi
rules=$(nft list table inet stockade 2>/dev/null | grep -c 'comment' || true)
printf '\nrun -d on one network, %d containers (ms each, in order)\n  %s\n' "$BENCH_COUNT" "${STARTS[*]}"
printf '  median of the first 10: %s, of the last 10: %s, ratio %s; goal <= %s: %s (%s rules in table inet stockade at the end, all installations)\n' \
	"$first" "$last" "$flat" "$FLAT_GOAL" "$verdict" "$rules"
bench_json bench=network part=start-50 run_id="$RUN_ID" time="$(date -u +%FT%TZ)" count="$BENCH_COUNT" \
	first10_median_ms="$first" last10_median_ms="$last" ratio="$flat" goal="$FLAT_GOAL" verdict="$verdict" \
	starts_ms="${STARTS[*]}" rules="$rules" "${HOST[@]}" >>"$RESULTS"
bench_log "removing $BENCH_COUNT containers"
stockade_cmd ps -aq | xargs -r "$STOCKADE" "${S_ARGS[@]}" rm -f >/dev/null 2>&1 || true
bench_log "results appended to $RESULTS"
