#!/usr/bin/env bash
# The runtime calls of a detached container's life, with and without
# linux/runcstate's shortcut (the engine doing runc's start, state, kill
# of the init and delete of a stopped container itself): each round times
# `stockade stop` of a running detached container (kill, then the
# monitor's delete at the exit) and `stockade run -d --rm IMAGE /bin/true`
# followed by `stockade wait` (create and start by runc, then the
# monitor's delete and the removal), once as built and once with
# STOCKADE_RUNTIME_DIRECT=0, alternating which goes first. Prints the
# medians and their ratios. See README.md here.
#
#   test/bench/lifecycle.sh            # as root, from anywhere
#
# Environment:
#   BENCH_ROUNDS=15                    rounds
#   STOCKADE=bin/stockade              binary to measure (built with make if missing)
#   BENCH_CACHE=/var/cache/stockade-bench   the tiny image, built once
set -eu

BENCH_ROUNDS=${BENCH_ROUNDS:-15}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || bench_die "run as root (overlay mounts, runc)"
case $BENCH_ROUNDS in '' | *[!0-9]* | 0) bench_die "BENCH_ROUNDS must be a positive integer" ;; esac
bench_need_pkgs docker-registry skopeo umoci runc jq curl
bench_tiny_setup
bench_stockade_store
runc --version | head -1 | grep -q '^runc version 1\.1\.' ||
	bench_log "runc is not 1.1: the shortcut stays off and both columns are runc's"

# one MODE: a stop and a run -d --rm + wait; MODE direct or runc.
one() {
	local mode=$1 t0 t1 id
	local env=()
	[ "$mode" = runc ] && env=(env STOCKADE_RUNTIME_DIRECT=0)
	"${env[@]}" "$STOCKADE" "${S_ARGS[@]}" run -d --name "life-$mode" --network none "$REF" /bin/sleep 60 >/dev/null ||
		bench_die "run -d failed"
	sleep 0.2
	t0=${EPOCHREALTIME/./}
	"${env[@]}" "$STOCKADE" "${S_ARGS[@]}" stop "life-$mode" >/dev/null || bench_die "stop failed"
	t1=${EPOCHREALTIME/./}
	eval "STOP_$mode+=($((t1 - t0)))"
	stockade_cmd rm "life-$mode" >/dev/null
	t0=${EPOCHREALTIME/./}
	id=$("${env[@]}" "$STOCKADE" "${S_ARGS[@]}" run -d --rm --network none "$REF" /bin/true) || bench_die "run -d --rm failed"
	"${env[@]}" "$STOCKADE" "${S_ARGS[@]}" wait "$id" >/dev/null 2>&1 || true # gone already: nothing to wait for
	t1=${EPOCHREALTIME/./}
	eval "RUNW_$mode+=($((t1 - t0)))"
}

STOP_direct=() STOP_runc=() RUNW_direct=() RUNW_runc=()
one direct
one runc
STOP_direct=() STOP_runc=() RUNW_direct=() RUNW_runc=()
for ((r = 1; r <= BENCH_ROUNDS; r++)); do
	if ((r % 2)); then one direct; one runc; else one runc; one direct; fi
done

ms() { awk -v v="$1" 'BEGIN{printf "%.1f", v/1000}'; }
printf '%-28s %12s %12s %7s\n' operation direct_ms runc_ms ratio
for op in STOP RUNW; do
	eval "d=\$(bench_median \"\${${op}_direct[@]}\"); c=\$(bench_median \"\${${op}_runc[@]}\")"
	name="stop"
	[ "$op" = RUNW ] && name="run -d --rm true + wait"
	# shellcheck disable=SC2154
	printf '%-28s %12s %12s %7s\n' "$name" "$(ms "$d")" "$(ms "$c")" "$(bench_ratio "$d" "$c")"
done
echo "$BENCH_ROUNDS rounds; $(runc --version | head -1); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
