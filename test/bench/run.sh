#!/usr/bin/env bash
# Container start benchmark: `stockade run --rm IMAGE /bin/true` vs
# `ctr run --rm IMAGE ID /bin/true` (containerd 1.6, runc, overlayfs), the
# image pulled first (not timed), over a plain-HTTP docker-registry on
# loopback. Then, for information, `stockade run -d` + `stockade rm -f` of a
# sleeping container, beside ctr's `run -d` + `tasks delete -f` +
# `containers delete`. stockade runs with `--network none`: ctr run gives
# its container a network namespace with loopback only, the same thing
# (network.sh measures what the default network adds). See README.md in
# this folder.
#
#   test/bench/run.sh                  # as root, from anywhere
#
# Environment:
#   BENCH_ROUNDS=10                    rounds; each runs both tools once, alternating who goes first
#   BENCH_DETACHED_ROUNDS=BENCH_ROUNDS rounds of the run -d / rm -f part (0: skip it)
#   STOCKADE=bin/stockade              binary to measure (built with make if missing)
#   BENCH_NICE=-10                     priority of the measured processes (0: off)
#   BENCH_CACHE=/var/cache/stockade-bench   the tiny image, built once
#   BENCH_RESULTS=test/bench/results   where the JSON lines go
# The W_*/C_* lists are filled through eval; sh -c scripts are single-quoted.
# shellcheck disable=SC2034,SC2016
set -eu

BENCH_ROUNDS=${BENCH_ROUNDS:-10}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

BENCH_DETACHED_ROUNDS=${BENCH_DETACHED_ROUNDS:-$BENCH_ROUNDS}
RATIO_GOAL=1.0

[ "$(id -u)" = 0 ] || bench_die "run as root (overlay mounts, runc, containerd)"
case $BENCH_ROUNDS in '' | *[!0-9]* | 0) bench_die "BENCH_ROUNDS must be a positive integer" ;; esac
case $BENCH_DETACHED_ROUNDS in '' | *[!0-9]*) bench_die "BENCH_DETACHED_ROUNDS must be a number" ;; esac

# ---------------------------------------------------------------- CPU accounting

# Every process of one side runs in a cgroup of its own, so its CPU time
# counts whatever it forks, waited for or not: stockade's detached monitor
# and runc for stockade; containerd's daemon, its shims, runc and ctr for
# containerd. The container's own process is in runc's cgroup: not counted
# on either side. cgroup v2, or v1's cpuacct; without either, CPU falls back
# to GNU time's (the waited-for children only).
CG_KIND=none
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	CG_KIND=v2 CG_BASE=/sys/fs/cgroup
elif [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then
	CG_KIND=v1 CG_BASE=/sys/fs/cgroup/cpuacct
fi

# cg_new VAR NAME: creates the cgroup (removed on exit) and sets VAR to its
# path ("" without cgroups).
cg_new() {
	printf -v "$1" '%s' ""
	[ "$CG_KIND" != none ] || return 0
	local d=$CG_BASE/stockade-bench-$$-$2
	mkdir "$d" || bench_die "cannot create cgroup $d"
	bench_on_exit "rmdir '$d' 2>/dev/null"
	printf -v "$1" '%s' "$d"
}

# cg_cpu CG: CPU seconds the cgroup's processes used so far (0 without cgroups).
cg_cpu() {
	case $CG_KIND in
	v2) awk '$1 == "usage_usec" {printf "%.3f\n", $2 / 1e6}' "$1/cpu.stat" ;;
	v1) awk '{printf "%.3f\n", $1 / 1e9}' "$1/cpuacct.usage" ;;
	*) echo 0 ;;
	esac
}

# ---------------------------------------------------------------- one run

# measure SIDE LOG CMD...: times CMD (run inside SIDE's cgroup) with
# bench_measure. Sets RUN_OK, RUN_WALL, RUN_CPU (the cgroup's CPU during the
# run, or GNU time's) and RUN_LOAD.
measure() {
	local side=$1 log=$2 cg c0 c1
	shift 2
	if [ "$side" = stockade ]; then cg=$CG_S; else cg=$CG_C; fi
	RUN_OK=true
	c0=$(cg_cpu "$cg")
	if [ -n "$cg" ]; then
		bench_measure "$log" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@" || RUN_OK=false
	else
		bench_measure "$log" "$@" || RUN_OK=false
	fi
	c1=$(cg_cpu "$cg")
	RUN_WALL=$BENCH_WALL
	if [ -n "$cg" ]; then
		RUN_CPU=$(awk -v a="$c0" -v b="$c1" 'BEGIN {printf "%.3f\n", b - a}')
	else
		RUN_CPU=$BENCH_CPU
	fi
	RUN_LOAD=$(bench_others_load "$BENCH_WALL" "$BENCH_BUSY" "$RUN_CPU")
}

# stockade_cmd ARG...: stockade on the benchmark's root, state and empty config.
S_ARGS=()
stockade_cmd() { "$STOCKADE" "${S_ARGS[@]}" "$@"; }

# record PART ROUND FIRST TOOL OP: one JSON line and one table row for the
# last measure, and the wall time into the PART_TOOL_OP list.
record() {
	local part=$1 r=$2 first=$3 tool=$4 op=$5
	bench_json bench=run run_id="$RUN_ID" time="$(date -u +%FT%TZ)" part="$part" nice="$BENCH_NICE" \
		round="$r" first="$first" tool="$tool" op="$op" ok="$RUN_OK" wall_s="$RUN_WALL" cpu_s="$RUN_CPU" \
		cpu_source="$CPU_SOURCE" others_load="$RUN_LOAD" >>"$RESULTS"
	if [ "$RUN_OK" != true ]; then
		FAILED="$FAILED $tool/$op#$r"
		ROWS+=("$(row "$r" "$tool" "$op" failed - -)")
		echo "-- $tool $op (round $r) failed, the end of its output:" >&2
		tail -5 "$BENCH_TMP/$tool.log" >&2
		return 0
	fi
	ROWS+=("$(row "$r" "$tool" "$op" "$RUN_WALL" "$RUN_CPU" "$RUN_LOAD")")
	if bench_le 0.5 "$RUN_LOAD"; then DISTURBED=$((DISTURBED + 1)); fi
	eval "W_${part}_${tool}_${op//-/_}+=(\"\$RUN_WALL\")"
	eval "C_${part}_${tool}_${op//-/_}+=(\"\$RUN_CPU\")"
}

# med LISTNAME: median of the named array, or null when it is empty.
med() {
	local -n a=$1
	if [ ${#a[@]} -eq 0 ]; then echo null; else bench_median "${a[@]}"; fi
}

row() { printf '%-6s %-11s %-9s %9s %8s %12s\n' "$@"; }

# ---------------------------------------------------------------- main

bench_need_pkgs time docker-registry skopeo umoci containerd runc jq curl iproute2
command -v go >/dev/null || bench_die "go is needed to build the tiny image"
bench_tiny_image_build
bench_stockade
"$STOCKADE" run --help >/dev/null 2>&1 || bench_die "$STOCKADE has no run command: rebuild it (make build)"
# Only the flags configure stockade: no environment, an empty config.
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^STOCKADE_' || true)

bench_tmpdir
: >"$BENCH_TMP/stockade.toml"
: >"$BENCH_TMP/stockade.log"
: >"$BENCH_TMP/containerd.log"
bench_registry_start "$BENCH_TMP/registry"
bench_tiny_image_push
REF=$BENCH_TINY_REF

cg_new CG_S stockade
cg_new CG_C containerd
CPU_SOURCE=gnu-time
if [ -n "$CG_S" ]; then CPU_SOURCE=cgroup-$CG_KIND; fi

S_ARGS=(--root "$BENCH_TMP/stockade/root" --state "$BENCH_TMP/stockade/state" --config "$BENCH_TMP/stockade.toml")
mkdir -p "$BENCH_TMP/stockade/root" "$BENCH_TMP/stockade/state"
# Remove whatever a failed run left behind, before the dirs go.
bench_on_exit "stockade_cmd ps -aq 2>/dev/null | xargs -r '$STOCKADE' ${S_ARGS[*]} rm -f >/dev/null 2>&1"
stockade_cmd pull -q "$REF" >>"$BENCH_TMP/stockade.log" 2>&1 || bench_die "stockade pull $REF failed"

# runc leaves the empty parent cgroup of ctr's namespace (/bench in every
# hierarchy): remove it on exit, unless it was there before.
ctr_ns_cgroups() {
	local d
	for d in /sys/fs/cgroup/bench /sys/fs/cgroup/*/bench; do
		[ -d "$d" ] && rmdir "$d" 2>/dev/null
	done
	return 0
}
if ! ls -d /sys/fs/cgroup/bench /sys/fs/cgroup/*/bench >/dev/null 2>&1; then bench_on_exit ctr_ns_cgroups; fi
bench_containerd_start "$BENCH_TMP/containerd"
if [ -n "$CG_C" ]; then echo "$BENCH_CTR_PID" >"$CG_C/cgroup.procs"; fi
# Kill the tasks a failed run left (before bench_containerd_stop, which runs
# after this: cleanups go in reverse order).
bench_on_exit "ctr_cleanup"
ctr_cleanup() {
	local ids
	ids=$(bench_ctr -n bench containers ls -q 2>/dev/null) || return 0
	[ -n "$ids" ] || return 0
	# shellcheck disable=SC2086
	bench_ctr -n bench tasks delete -f $ids >/dev/null 2>&1 || true
	# shellcheck disable=SC2086
	bench_ctr -n bench containers delete $ids >/dev/null 2>&1 || true
}
bench_ctr -n bench images pull --plain-http --snapshotter overlayfs "$REF" >>"$BENCH_TMP/containerd.log" 2>&1 ||
	bench_die "ctr images pull $REF failed"

# Both run the command for real: /bin/sleep 0.3 takes its time, an exit
# status comes back.
sanity() {
	local t0 t1 rc
	t0=$(date +%s%N)
	"$@" >/dev/null 2>&1 || rc=$?
	t1=$(date +%s%N)
	[ "${rc:-0}" = 0 ] && [ $(((t1 - t0) / 1000000)) -ge 300 ]
}
sanity stockade_cmd run --rm "$REF" /bin/sleep 0.3 || bench_die "stockade run --rm $REF /bin/sleep 0.3 did not sleep or failed"
sanity bench_ctr -n bench run --rm --snapshotter overlayfs "$REF" "sanity-$$" /bin/sleep 0.3 ||
	bench_die "ctr run --rm $REF /bin/sleep 0.3 did not sleep or failed"
if stockade_cmd run --rm "$REF" /bin/sleep not-a-number >/dev/null 2>&1; then
	bench_die "stockade run --rm did not pass the command's exit status on"
fi

RESULTS=$(bench_results_file run)
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)-$$
mapfile -t HOST < <(bench_host_info)
FAILED=""
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
bench_log "load average before: $LOAD0; $BENCH_ROUNDS rounds of run --rm, $BENCH_DETACHED_ROUNDS of run -d / rm -f"

# ---------------------------------------------------------------- run --rm

ROWS=() DISTURBED=0
W_rm_stockade_run=() C_rm_stockade_run=() W_rm_containerd_run=() C_rm_containerd_run=()
for ((r = 1; r <= BENCH_ROUNDS; r++)); do
	if ((r % 2)); then order="stockade containerd"; else order="containerd stockade"; fi
	for tool in $order; do
		if [ "$tool" = stockade ]; then
			measure stockade "$BENCH_TMP/stockade" "$STOCKADE" "${S_ARGS[@]}" run --rm --network none "$REF" /bin/true
		else
			measure containerd "$BENCH_TMP/containerd" ctr --address "$BENCH_CTR_SOCK" -n bench \
				run --rm --snapshotter overlayfs "$REF" "rm-$$-$r" /bin/true
		fi
		record rm "$r" "${order%% *}" "$tool" run
	done
done
left_s=$(stockade_cmd ps -aq | wc -l)
left_c=$(bench_ctr -n bench containers ls -q | wc -l)
if [ "$left_s" != 0 ] || [ "$left_c" != 0 ]; then
	FAILED="$FAILED leftovers(stockade=$left_s,containerd=$left_c)"
fi

s_med=$(med W_rm_stockade_run) c_med=$(med W_rm_containerd_run)
s_cpu=$(med C_rm_stockade_run) c_cpu=$(med C_rm_containerd_run)
ratio=null cpu_ratio=null
if [ "$s_med" != null ] && [ "$c_med" != null ]; then
	ratio=$(bench_ratio "$s_med" "$c_med")
	cpu_ratio=$(bench_ratio "$s_cpu" "$c_cpu")
fi
echo
echo "run --rm $REF /bin/true: $BENCH_ROUNDS rounds (cpu: $CPU_SOURCE)"
row round tool op wall_s cpu_s others_load
printf '%s\n' "${ROWS[@]}"
row median stockade run "$s_med" "$s_cpu" ""
row median containerd run "$c_med" "$c_cpu" ""
if [ "$ratio" = null ]; then
	echo "ratio stockade/containerd: n/a (a side completed no run)"
else
	verdict=FAIL
	if bench_le "$ratio" "$RATIO_GOAL"; then verdict=ok; fi
	echo "ratio stockade/containerd, wall-time medians: $ratio (goal <= $RATIO_GOAL: $verdict); CPU-time medians: $cpu_ratio"
fi
echo "containerd's daemon was warm (started once); its cpu_s is daemon + shim + runc + ctr, stockade's is stockade + monitor + runc."
if [ "$DISTURBED" -gt 0 ]; then
	echo "warning: in $DISTURBED run(s) other processes kept >= 0.5 core busy (others_load): wall times are noisy, compare cpu_s too."
fi
bench_json bench=run kind=summary part=rm run_id="$RUN_ID" time="$(date -u +%FT%TZ)" nice="$BENCH_NICE" \
	rounds="$BENCH_ROUNDS" image="$REF" stockade_median_s="$s_med" containerd_median_s="$c_med" \
	ratio="$ratio" ratio_goal="$RATIO_GOAL" stockade_cpu_median_s="$s_cpu" containerd_cpu_median_s="$c_cpu" \
	cpu_ratio="$cpu_ratio" cpu_source="$CPU_SOURCE" stockade_runs="${#W_rm_stockade_run[@]}" \
	containerd_runs="${#W_rm_containerd_run[@]}" disturbed_runs="$DISTURBED" load_before="$LOAD0" \
	load_after="$(cut -d' ' -f1-3 /proc/loadavg)" "${HOST[@]}" >>"$RESULTS"

# ---------------------------------------------------------------- run -d, rm -f

if [ "$BENCH_DETACHED_ROUNDS" -gt 0 ]; then
	ROWS=() DISTURBED=0
	W_d_stockade_run_d=() C_d_stockade_run_d=() W_d_stockade_rm_f=() C_d_stockade_rm_f=()
	W_d_containerd_run_d=() C_d_containerd_run_d=() W_d_containerd_rm_f=() C_d_containerd_rm_f=()
	for ((r = 1; r <= BENCH_DETACHED_ROUNDS; r++)); do
		if ((r % 2)); then order="stockade containerd"; else order="containerd stockade"; fi
		for tool in $order; do
			name=bench-d-$$-$r
			if [ "$tool" = stockade ]; then
				measure stockade "$BENCH_TMP/stockade" "$STOCKADE" "${S_ARGS[@]}" run -d --network none --name "$name" "$REF" /bin/sleep infinity
				record d "$r" "${order%% *}" stockade run-d
				measure stockade "$BENCH_TMP/stockade" "$STOCKADE" "${S_ARGS[@]}" rm -f "$name"
				record d "$r" "${order%% *}" stockade rm-f
			else
				measure containerd "$BENCH_TMP/containerd" ctr --address "$BENCH_CTR_SOCK" -n bench \
					run -d --snapshotter overlayfs "$REF" "$name" /bin/sleep infinity
				record d "$r" "${order%% *}" containerd run-d
				# ctr has no `rm -f`: tasks delete -f kills and deletes the
				# task, containers delete removes the container and its snapshot.
				measure containerd "$BENCH_TMP/containerd" sh -c 'ctr --address "$0" -n bench tasks delete -f "$1" &&
					ctr --address "$0" -n bench containers delete "$1"' "$BENCH_CTR_SOCK" "$name"
				record d "$r" "${order%% *}" containerd rm-f
			fi
		done
	done
	echo
	echo "run -d $REF /bin/sleep infinity, then rm -f: $BENCH_DETACHED_ROUNDS rounds (information, no goal)"
	row round tool op wall_s cpu_s others_load
	printf '%s\n' "${ROWS[@]}"
	sum=()
	for op in run_d rm_f; do
		sm=$(med "W_d_stockade_$op") cm=$(med "W_d_containerd_$op")
		scpu=$(med "C_d_stockade_$op") ccpu=$(med "C_d_containerd_$op")
		row median stockade "${op//_/-}" "$sm" "$scpu" ""
		row median containerd "${op//_/-}" "$cm" "$ccpu" ""
		sum+=("stockade_${op}_median_s=$sm" "containerd_${op}_median_s=$cm" "${op}_ratio=$(bench_ratio "$sm" "$cm")"
			"stockade_${op}_cpu_median_s=$scpu" "containerd_${op}_cpu_median_s=$ccpu")
	done
	echo "containerd's rm-f is \`ctr tasks delete -f\` + \`ctr containers delete\` (two ctr processes)."
	if [ "$DISTURBED" -gt 0 ]; then
		echo "warning: in $DISTURBED run(s) other processes kept >= 0.5 core busy (others_load)."
	fi
	bench_json bench=run kind=summary part=detached run_id="$RUN_ID" time="$(date -u +%FT%TZ)" nice="$BENCH_NICE" \
		rounds="$BENCH_DETACHED_ROUNDS" image="$REF" "${sum[@]}" cpu_source="$CPU_SOURCE" \
		disturbed_runs="$DISTURBED" load_after="$(cut -d' ' -f1-3 /proc/loadavg)" "${HOST[@]}" >>"$RESULTS"
fi

echo
echo "load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
echo "results appended to $RESULTS"
if [ -n "$FAILED" ]; then
	bench_die "failed:$FAILED"
fi
