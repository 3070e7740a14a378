#!/usr/bin/env bash
# Listing benchmark: `stockade ps -a` and `stockade ps -a --format json` over
# 200 containers, first all created (never started), then with running
# `sleep` containers (run -d), with the memory those take; `ctr containers
# ls` and `ctr tasks ls` (containerd 1.6) over as many containers, for
# reference. See README.md in this folder.
#
#   test/bench/ps.sh                   # as root, from anywhere
#
# Environment:
#   BENCH_PS_CONTAINERS=200            containers in each variant
#   BENCH_PS_RUNNING=200               of them running in the second variant (the rest
#                                      created); lowered to 50 when memory looks short
#   BENCH_PS_REPS=20                   timed listings per command and variant
#   BENCH_PS_CONTAINERD=1              0: no containerd reference
#   STOCKADE=bin/stockade              binary to measure (built with make if missing)
#   BENCH_NICE=-10                     priority of the measured processes (0: off)
#   BENCH_CACHE=/var/cache/stockade-bench   the tiny image, built once
#   BENCH_RESULTS=test/bench/results   where the JSON lines go
# The W_* lists are filled through eval; sh -c scripts are single-quoted.
# shellcheck disable=SC2034,SC2016
set -eu

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

N=${BENCH_PS_CONTAINERS:-200}
RUNNING=${BENCH_PS_RUNNING:-$N}
REPS=${BENCH_PS_REPS:-20}
WITH_CTRD=${BENCH_PS_CONTAINERD:-1}
GOAL_MS=100
# Memory a running container may take on each side (monitor or shim, and
# the sleep), for the check that lowers RUNNING to 50 when 200 would take
# more than half of MemAvailable. Measured: ~11 MiB RSS per monitor or shim
# plus ~2 MiB per sleep.
PER_RUNNING_MIB=16

[ "$(id -u)" = 0 ] || bench_die "run as root (overlay mounts, runc, containerd)"
for v in N RUNNING REPS; do
	case ${!v} in '' | *[!0-9]*) bench_die "$v must be a number" ;; esac
done
if [ "$N" = 0 ] || [ "$REPS" = 0 ]; then bench_die "BENCH_PS_CONTAINERS and BENCH_PS_REPS must be positive"; fi
[ "$RUNNING" -le "$N" ] || RUNNING=$N

# ---------------------------------------------------------------- helpers

S_ARGS=()
stockade_cmd() { "$STOCKADE" "${S_ARGS[@]}" "$@"; }

mem_available_kb() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }

# mem_sum PID...: "RSS_KB PSS_KB" summed over the processes (smaps_rollup).
mem_sum() {
	local p rss=0 pss=0 r s
	for p in "$@"; do
		read -r r s < <(awk '/^Rss:/ {r = $2} /^Pss:/ {s = $2} END {print r + 0, s + 0}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0 0)
		rss=$((rss + r)) pss=$((pss + s))
	done
	echo "$rss $pss"
}

# pids_with ARG: PIDs of the processes whose command line contains ARG as
# one argument (our own root or socket path: only what this script started).
pids_with() {
	local f p
	for f in /proc/[0-9]*/cmdline; do
		p=${f#/proc/}
		p=${p%/cmdline}
		[ "$p" != $$ ] || continue
		tr '\0' '\n' 2>/dev/null <"$f" | grep -qxF -- "$1" && echo "$p"
	done
	return 0
}

# stockade_monitors: PIDs of this script's stockade monitor processes.
stockade_monitors() {
	local p
	for p in $(pids_with "$S_ROOT"); do
		tr '\0' '\n' 2>/dev/null <"/proc/$p/cmdline" | grep -qx monitor && echo "$p"
	done
	return 0
}

# ctr_shims: PIDs of the shims of this script's containerd.
ctr_shims() {
	local p
	for p in $(pids_with "$BENCH_CTR_SOCK"); do
		grep -qa containerd-shim "/proc/$p/cmdline" 2>/dev/null && echo "$p"
	done
	return 0
}

# stockade_clear: rm -f of every container, 50 ids a command.
stockade_clear() {
	stockade_cmd ps -aq 2>/dev/null | xargs -r -n 50 "$STOCKADE" "${S_ARGS[@]}" rm -f >/dev/null
}

# ctr_clear: kills and deletes every task, deletes every container.
ctr_clear() {
	local ids
	ids=$(bench_ctr -n bench containers ls -q 2>/dev/null) || return 0
	[ -n "$ids" ] || return 0
	# shellcheck disable=SC2086
	printf '%s\n' $ids | xargs -r -n 50 ctr --address "$BENCH_CTR_SOCK" -n bench tasks delete -f >/dev/null 2>&1 || true
	# shellcheck disable=SC2086
	printf '%s\n' $ids | xargs -r -n 50 ctr --address "$BENCH_CTR_SOCK" -n bench containers delete >/dev/null 2>&1 || true
}

# kill_leftovers: SIGKILL, by PID, to monitors and shims this script started
# that outlived the clean-up (there should be none).
kill_leftovers() {
	local p left
	left=$(stockade_monitors)
	if [ -n "${BENCH_CTR_SOCK:-}" ]; then left="$left $(ctr_shims)"; fi
	for p in $left; do
		echo "bench: killing leftover $(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | cut -c1-120) (pid $p)" >&2
		kill -9 "$p" 2>/dev/null || true
	done
}

# ms S: seconds in milliseconds, 1 decimal.
ms() { awk -v s="$1" 'BEGIN {printf "%.1f\n", s * 1000}'; }

# listing VARIANT: REPS rounds of every listing command, in turn.
listing() {
	local variant=$1 r cmd label
	local -a labels=("stockade ps -a" "stockade ps -a --format json")
	if [ "$WITH_CTRD" = 1 ]; then labels+=("ctr containers ls" "ctr tasks ls"); fi
	for label in "${labels[@]}"; do
		eval "W_$(key "$label")=() R_$(key "$label")=()"
	done
	for ((r = 1; r <= REPS; r++)); do
		for label in "${labels[@]}"; do
			case $label in
			"stockade ps -a") cmd=("$STOCKADE" "${S_ARGS[@]}" ps -a) ;;
			"stockade ps -a --format json") cmd=("$STOCKADE" "${S_ARGS[@]}" ps -a --format json) ;;
			"ctr containers ls") cmd=(ctr --address "$BENCH_CTR_SOCK" -n bench containers ls) ;;
			"ctr tasks ls") cmd=(ctr --address "$BENCH_CTR_SOCK" -n bench tasks ls) ;;
			esac
			ok=true
			bench_measure "$BENCH_TMP/list" "${cmd[@]}" || ok=false
			load=$(bench_others_load "$BENCH_WALL" "$BENCH_BUSY" "$BENCH_CPU")
			bench_json bench=ps run_id="$RUN_ID" time="$(date -u +%FT%TZ)" variant="$variant" containers="$N" \
				running="$(running_of "$variant")" rep="$r" command="$label" ok="$ok" wall_s="$BENCH_WALL" \
				cpu_s="$BENCH_CPU" peak_rss_kb="$BENCH_RSS_KB" others_load="$load" >>"$RESULTS"
			if [ "$ok" != true ]; then
				FAILED="$FAILED $variant/$label"
				tail -3 "$BENCH_TMP/list.log" >&2
				continue
			fi
			eval "W_$(key "$label")+=(\"\$BENCH_WALL\") R_$(key "$label")+=(\"\$BENCH_RSS_KB\")"
		done
	done
	for label in "${labels[@]}"; do
		summarize "$variant" "$label"
	done
}

key() { local k=${1//[^a-z]/_}; echo "$k"; }
running_of() { if [ "$1" = created ]; then echo 0; else echo "$RUNNING"; fi; }

# summarize VARIANT LABEL: a table row and a summary JSON line.
summarize() {
	local variant=$1 label=$2 k med mn mx rss verdict=- goal=null
	k=$(key "$label")
	local -n w=W_$k r=R_$k
	if [ ${#w[@]} -eq 0 ]; then
		printf '%-9s %-30s %9s\n' "$variant" "$label" failed
		return 0
	fi
	med=$(bench_median "${w[@]}")
	mn=$(printf '%s\n' "${w[@]}" | sort -g | head -1)
	mx=$(printf '%s\n' "${w[@]}" | sort -g | tail -1)
	rss=$(bench_median "${r[@]}")
	case $label in stockade*)
		goal=$GOAL_MS verdict=FAIL
		if bench_le "$(ms "$med")" "$GOAL_MS"; then verdict=ok; fi
		;;
	esac
	printf '%-9s %-30s %9s %9s %9s %8s %s\n' "$variant" "$label" "$(ms "$med")" "$(ms "$mn")" "$(ms "$mx")" \
		"$((rss / 1024))" "$verdict"
	bench_json bench=ps kind=summary run_id="$RUN_ID" time="$(date -u +%FT%TZ)" variant="$variant" \
		containers="$N" running="$(running_of "$variant")" command="$label" reps="${#w[@]}" median_s="$med" \
		min_s="$mn" max_s="$mx" peak_rss_kb_median="$rss" goal_ms="$goal" verdict="$verdict" \
		load="$(cut -d' ' -f1-3 /proc/loadavg)" "${HOST[@]}" >>"$RESULTS"
}

# step LABEL CMD...: runs CMD (not at BENCH_NICE: set-up), logs how long it took.
step() {
	local label=$1 t0 t1
	shift
	t0=$(date +%s%N)
	"$@"
	t1=$(date +%s%N)
	STEP_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f\n", (b - a) / 1e9}')
	bench_log "$label: ${STEP_S}s"
}

# count_check WHAT WANT GOT
count_check() { [ "$2" = "$3" ] || bench_die "$1: $3, want $2"; }

# ---------------------------------------------------------------- set-up

bench_need_pkgs time docker-registry skopeo umoci containerd runc jq curl iproute2
command -v go >/dev/null || bench_die "go is needed to build the tiny image"
bench_tiny_image_build
bench_stockade
"$STOCKADE" ps --help 2>/dev/null | grep -q -- --format || bench_die "$STOCKADE has no ps --format: rebuild it (make build)"
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^STOCKADE_' || true)

bench_tmpdir
: >"$BENCH_TMP/stockade.toml"
bench_registry_start "$BENCH_TMP/registry"
bench_tiny_image_push
REF=$BENCH_TINY_REF
S_ROOT=$BENCH_TMP/stockade/root
S_ARGS=(--root "$S_ROOT" --state "$BENCH_TMP/stockade/state" --config "$BENCH_TMP/stockade.toml")
mkdir -p "$S_ROOT" "$BENCH_TMP/stockade/state"
bench_on_exit "kill_leftovers"
bench_on_exit "stockade_clear"
stockade_cmd pull -q "$REF" >"$BENCH_TMP/pull.log" 2>&1 || bench_die "stockade pull $REF failed: $(tail -3 "$BENCH_TMP/pull.log")"
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
if [ "$WITH_CTRD" = 1 ]; then
	bench_containerd_start "$BENCH_TMP/containerd"
	bench_on_exit "kill_leftovers"
	bench_on_exit "ctr_clear"
	bench_ctr -n bench images pull --plain-http --snapshotter overlayfs "$REF" >>"$BENCH_TMP/pull.log" 2>&1 ||
		bench_die "ctr images pull $REF failed"
fi

RESULTS=$(bench_results_file ps)
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)-$$
mapfile -t HOST < <(bench_host_info)
FAILED=""
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# Enough memory for RUNNING running containers on each side? Else 50.
avail=$(mem_available_kb)
sides=1
if [ "$WITH_CTRD" = 1 ]; then sides=2; fi
if [ $((RUNNING * PER_RUNNING_MIB * 1024 * sides)) -gt $((avail / 2)) ] && [ "$RUNNING" -gt 50 ]; then
	bench_log "MemAvailable $((avail / 1024)) MiB looks short for $RUNNING running containers per side: 50 running"
	RUNNING=50
fi
bench_log "load average: $LOAD0; $N containers, then $RUNNING of them running; $REPS listings each"

TABLE_HEAD=$(printf '%-9s %-30s %9s %9s %9s %8s %s' variant command median_ms min_ms max_ms rss_MiB "goal<${GOAL_MS}ms")

# ---------------------------------------------------------------- variant 1: created

create_stockade() {
	local i
	for ((i = 1; i <= $1; i++)); do
		stockade_cmd create -q --network none --name "bench-ps-$i" "$REF" /bin/sleep infinity >/dev/null
	done
}
create_ctr() {
	local i
	for ((i = $2; i <= $1; i++)); do
		bench_ctr -n bench containers create --snapshotter overlayfs "$REF" "bench-ps-$i" /bin/sleep infinity >/dev/null
	done
}

step "stockade create x$N" create_stockade "$N"
CREATE_S=$STEP_S
count_check "stockade ps -aq" "$N" "$(stockade_cmd ps -aq | wc -l)"
if [ "$WITH_CTRD" = 1 ]; then
	step "ctr containers create x$N" create_ctr "$N" 1
	CREATE_C=$STEP_S
	count_check "ctr containers ls -q" "$N" "$(bench_ctr -n bench containers ls -q | wc -l)"
fi

echo
echo "$N containers created, none running: $REPS listings each"
echo "$TABLE_HEAD"
listing created

# ---------------------------------------------------------------- variant 2: running

step "stockade rm -f x$N (created)" stockade_clear
RM_CREATED_S=$STEP_S
count_check "stockade ps -aq after rm -f" 0 "$(stockade_cmd ps -aq | wc -l)"
if [ "$WITH_CTRD" = 1 ]; then
	step "ctr containers delete x$N" ctr_clear
	count_check "ctr containers ls -q after delete" 0 "$(bench_ctr -n bench containers ls -q | wc -l)"
fi

sync
sleep 2
mem0=$(mem_available_kb)
if [ "$WITH_CTRD" = 1 ]; then ctrd_rss0=$(awk '/^VmRSS:/ {print $2}' "/proc/$BENCH_CTR_PID/status"); fi

start_stockade() {
	local i
	for ((i = 1; i <= RUNNING; i++)); do
		if ! stockade_cmd run -d -q --network none --name "bench-ps-$i" "$REF" /bin/sleep infinity >/dev/null 2>"$BENCH_TMP/run.err"; then
			bench_log "stockade run -d #$i failed: $(tail -1 "$BENCH_TMP/run.err"); keeping $((i - 1)) running"
			RUNNING=$((i - 1))
			break
		fi
	done
	for ((i = RUNNING + 1; i <= N; i++)); do
		stockade_cmd create -q --network none --name "bench-ps-$i" "$REF" /bin/sleep infinity >/dev/null
	done
}
step "stockade run -d x$RUNNING + create x$((N - RUNNING))" start_stockade
START_S=$STEP_S
sleep 2
mem1=$(mem_available_kb)
mapfile -t S_PIDS < <(stockade_cmd ps -a --format json | jq -r '.[] | select(.state.status == "running") | .state.pid')
mapfile -t S_MONS < <(stockade_monitors)
count_check "stockade containers running" "$RUNNING" "${#S_PIDS[@]}"
count_check "stockade monitors" "$RUNNING" "${#S_MONS[@]}"
count_check "stockade ps -aq" "$N" "$(stockade_cmd ps -aq | wc -l)"
read -r s_mon_rss s_mon_pss < <(mem_sum "${S_MONS[@]}")
read -r s_ctr_rss s_ctr_pss < <(mem_sum "${S_PIDS[@]}")

if [ "$WITH_CTRD" = 1 ]; then
	start_ctr() {
		local i
		for ((i = 1; i <= RUNNING; i++)); do
			bench_ctr -n bench run -d --snapshotter overlayfs "$REF" "bench-ps-$i" /bin/sleep infinity >/dev/null
		done
		create_ctr "$N" $((RUNNING + 1))
	}
	step "ctr run -d x$RUNNING + containers create x$((N - RUNNING))" start_ctr
	START_C=$STEP_S
	sleep 2
	mem2=$(mem_available_kb)
	ctrd_rss1=$(awk '/^VmRSS:/ {print $2}' "/proc/$BENCH_CTR_PID/status")
	mapfile -t C_SHIMS < <(ctr_shims)
	mapfile -t C_PIDS < <(bench_ctr -n bench tasks ls | awk 'NR > 1 && $3 == "RUNNING" {print $2}')
	count_check "containerd tasks running" "$RUNNING" "${#C_PIDS[@]}"
	count_check "ctr containers ls -q" "$N" "$(bench_ctr -n bench containers ls -q | wc -l)"
	read -r c_shim_rss c_shim_pss < <(mem_sum "${C_SHIMS[@]}")
	read -r c_ctr_rss c_ctr_pss < <(mem_sum "${C_PIDS[@]}")
fi

echo
echo "$N containers, $RUNNING running (/bin/sleep infinity) and $((N - RUNNING)) created: $REPS listings each"
echo "$TABLE_HEAD"
listing running

# ---------------------------------------------------------------- memory

mib() { awk -v k="$1" 'BEGIN {printf "%.1f\n", k / 1024}'; }
per() { if [ "$2" -gt 0 ]; then awk -v k="$1" -v n="$2" 'BEGIN {printf "%.2f\n", k / n / 1024}'; else echo -; fi; }
echo
echo "memory of $RUNNING running containers (MiB; per container in brackets; PSS shares the binaries' pages)"
printf '%-11s %-26s %10s %10s\n' side processes RSS PSS
printf '%-11s %-26s %10s %10s\n' stockade "${#S_MONS[@]} monitors" "$(mib "$s_mon_rss") ($(per "$s_mon_rss" "$RUNNING"))" \
	"$(mib "$s_mon_pss") ($(per "$s_mon_pss" "$RUNNING"))"
printf '%-11s %-26s %10s %10s\n' stockade "${#S_PIDS[@]} sleep" "$(mib "$s_ctr_rss")" "$(mib "$s_ctr_pss")"
s_sys=$((mem0 - mem1))
echo "stockade: MemAvailable fell by $(mib "$s_sys") MiB ($(per "$s_sys" "$RUNNING") a container; kernel included: mounts, namespaces, cgroups, page cache)"
mem_json=(stockade_monitors="${#S_MONS[@]}" stockade_monitor_rss_kb="$s_mon_rss" stockade_monitor_pss_kb="$s_mon_pss"
	stockade_container_rss_kb="$s_ctr_rss" stockade_container_pss_kb="$s_ctr_pss" stockade_mem_available_drop_kb="$s_sys"
	stockade_start_s="$START_S" stockade_create_all_s="$CREATE_S" stockade_rm_created_s="$RM_CREATED_S")
if [ "$WITH_CTRD" = 1 ]; then
	printf '%-11s %-26s %10s %10s\n' containerd "${#C_SHIMS[@]} shims" "$(mib "$c_shim_rss") ($(per "$c_shim_rss" "$RUNNING"))" \
		"$(mib "$c_shim_pss") ($(per "$c_shim_pss" "$RUNNING"))"
	printf '%-11s %-26s %10s %10s\n' containerd "${#C_PIDS[@]} sleep" "$(mib "$c_ctr_rss")" "$(mib "$c_ctr_pss")"
	printf '%-11s %-26s %10s\n' containerd "daemon RSS growth" "$(mib $((ctrd_rss1 - ctrd_rss0)))"
	c_sys=$((mem1 - mem2))
	echo "containerd: MemAvailable fell by $(mib "$c_sys") MiB ($(per "$c_sys" "$RUNNING") a container)"
	mem_json+=(containerd_shims="${#C_SHIMS[@]}" containerd_shim_rss_kb="$c_shim_rss" containerd_shim_pss_kb="$c_shim_pss"
		containerd_container_rss_kb="$c_ctr_rss" containerd_container_pss_kb="$c_ctr_pss"
		containerd_daemon_rss_growth_kb=$((ctrd_rss1 - ctrd_rss0)) containerd_mem_available_drop_kb="$c_sys"
		containerd_start_s="$START_C" containerd_create_all_s="$CREATE_C")
fi
echo "set-up times (not at BENCH_NICE): stockade create x$N ${CREATE_S}s, rm -f x$N ${RM_CREATED_S}s, run -d x$RUNNING (+ create x$((N - RUNNING))) ${START_S}s${START_C:+; ctr containers create x$N ${CREATE_C}s, run -d x$RUNNING ${START_C}s}"

# ---------------------------------------------------------------- clean-up

step "stockade rm -f x$N ($RUNNING running)" stockade_clear
RM_RUNNING_S=$STEP_S
count_check "stockade ps -aq after rm -f" 0 "$(stockade_cmd ps -aq | wc -l)"
sleep 1
left=$(stockade_monitors)
[ -z "$left" ] || FAILED="$FAILED monitors-left:$(echo "$left" | wc -l)"
if [ "$WITH_CTRD" = 1 ]; then
	step "ctr tasks delete -f + containers delete x$N" ctr_clear
	count_check "ctr containers ls -q after delete" 0 "$(bench_ctr -n bench containers ls -q | wc -l)"
fi
bench_json bench=ps kind=memory run_id="$RUN_ID" time="$(date -u +%FT%TZ)" containers="$N" running="$RUNNING" \
	"${mem_json[@]}" stockade_rm_running_s="$RM_RUNNING_S" load_before="$LOAD0" \
	load_after="$(cut -d' ' -f1-3 /proc/loadavg)" "${HOST[@]}" >>"$RESULTS"

echo
echo "load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
echo "results appended to $RESULTS"
if [ -n "$FAILED" ]; then
	bench_die "failed:$FAILED"
fi
