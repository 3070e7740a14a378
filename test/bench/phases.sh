#!/usr/bin/env bash
# Where the time of `stockade run --rm IMAGE /bin/true` goes: the image is
# pulled first (not timed), then BENCH_ROUNDS runs with --debug-timing, and
# the median of each phase is printed (cli = the stockade command, monitor =
# the container's monitor it re-execs). With BENCH_STRACE=1, one more run
# under strace counts the fsync/fdatasync and sleep calls of every process
# before runc is first started, and all of the run's. See README.md here.
#
#   test/bench/phases.sh               # as root, from anywhere
#
# Environment:
#   BENCH_ROUNDS=10                    rounds
#   BENCH_STRACE=0                     1: the strace counts as well
#   BENCH_RUNTIME=                     the OCI runtime stockade runs (crun, say;
#                                      empty: the configuration's default, runc)
#   STOCKADE=bin/stockade              binary to measure (built with make if missing)
#   BENCH_BASELINE=                    another stockade binary (its siblings next to
#                                      it) to run in alternate rounds on the same
#                                      store: the medians side by side, and the
#                                      start of the runtime (the start path's end)
#                                      round by round
#   BENCH_NICE=-10                     priority of the measured processes (0: off)
#   BENCH_CACHE=/var/cache/stockade-bench   the tiny image, built once
set -eu

BENCH_ROUNDS=${BENCH_ROUNDS:-10}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
BENCH_STRACE=${BENCH_STRACE:-0}

[ "$(id -u)" = 0 ] || bench_die "run as root (overlay mounts, runc)"
case $BENCH_ROUNDS in '' | *[!0-9]* | 0) bench_die "BENCH_ROUNDS must be a positive integer" ;; esac

bench_need_pkgs time docker-registry skopeo umoci runc jq curl
[ "$BENCH_STRACE" = 0 ] || bench_need_pkgs strace
bench_tiny_setup
"$STOCKADE" --help 2>/dev/null | grep -q -- --debug-timing || bench_die "$STOCKADE has no --debug-timing: rebuild it (make build)"
BASE=${BENCH_BASELINE:-}
if [ -n "$BASE" ]; then
	[ -x "$BASE" ] || bench_die "BENCH_BASELINE=$BASE is not an executable"
	case $BASE in /*) ;; *) BASE=$PWD/$BASE ;; esac
	bench_install_stockade BASE "$BASE"
	"$BASE" --help 2>/dev/null | grep -q -- --debug-timing || bench_die "$BASE has no --debug-timing"
fi
bench_stockade_store
[ -z "${BENCH_RUNTIME:-}" ] || printf 'runtime = "%s"\n' "$BENCH_RUNTIME" >"$BENCH_TMP/stockade.toml"
stockade_cmd run --rm --network none "$REF" >/dev/null 2>&1 || bench_die "stockade run --rm $REF failed"
[ -z "$BASE" ] || "$BASE" "${S_ARGS[@]}" run --rm --network none "$REF" >/dev/null 2>&1 ||
	bench_die "the baseline's run --rm $REF failed (does it know this store's schema?)"

# round BIN OUT: one timed run; the phases the command printed ("phase
# START_MS DURATION_MS PROC NAME...") go to OUT, the wall time from
# outside to OUT.wall.
round() {
	local t0 t1
	sync
	t0=$(date +%s%N)
	# The CLI's first phase, exec and init, starts here (phase.StartedBy).
	STOCKADE_PHASE_START=${EPOCHREALTIME/./}000 bench_nice "$1" "${S_ARGS[@]}" --debug-timing run --rm --network none "$REF" \
		>/dev/null 2>"$2" || bench_die "$1: round failed: $(tail -3 "$2")"
	t1=$(date +%s%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f\n", (b - a) / 1e6}' >"$2.wall"
	grep -q '^phase' "$2" || bench_die "$1: a round printed no phases"
}
# With a baseline the order alternates: a run's deferred removal (after
# its exit) overlaps the start of the next, and that one is not always
# the same binary.
for ((r = 1; r <= BENCH_ROUNDS; r++)); do
	if [ -n "$BASE" ] && ((r % 2)); then
		round "$BASE" "$BENCH_TMP/base-$r.txt"
		round "$STOCKADE" "$BENCH_TMP/round-$r.txt"
	else
		round "$STOCKADE" "$BENCH_TMP/round-$r.txt"
		[ -z "$BASE" ] || round "$BASE" "$BENCH_TMP/base-$r.txt"
	fi
done

# medians PREFIX: "proc<TAB>phase<TAB>median<TAB>max" per (proc, phase) of
# the rounds PREFIX-*.txt, in the order of the first round.
medians() {
	awk '$1 == "phase" && $2 != "total" {
		name = $5; for (i = 6; i <= NF; i++) name = name " " $i
		key = $4 "\t" name
		if (!(key in seen)) { seen[key] = 1; order[++n] = key }
		v[key] = v[key] " " $3
	}
	END { for (i = 1; i <= n; i++) print order[i] "\t" v[order[i]] }' "$1"-*.txt |
		while IFS=$'\t' read -r proc name vals; do
			# shellcheck disable=SC2086
			printf '%s\t%s\t%s\t%s\n' "$proc" "$name" "$(bench_median $vals)" "$(printf '%s\n' $vals | sort -g | tail -1)"
		done
}
# summary PREFIX: the medians of the total, the wall time and the start of
# the runtime's phase (from the CLI's exec on: where the start path ends).
summary() {
	local f tot=() walls=() start=()
	for f in "$1"-*.txt; do
		tot+=("$(awk '$1 == "phase" && $2 == "total" {print $3}' "$f")")
		walls+=("$(cat "$f.wall")")
		start+=("$(awk '$1 == "phase" && $4 == "monitor" && $5 == "runtime" && $6 == "run" {print $2; exit}' "$f")")
	done
	printf '%s\t%s\t%s\n' "$(bench_median "${start[@]}")" "$(bench_median "${tot[@]}")" "$(bench_median "${walls[@]}")"
}
IFS=$'\t' read -r s_start s_tot s_wall < <(summary "$BENCH_TMP/round")
if [ -z "$BASE" ]; then
	printf '%-8s %-32s %10s %10s\n' proc phase median_ms max_ms
	medians "$BENCH_TMP/round" | while IFS=$'\t' read -r proc name med max; do
		printf '%-8s %-32s %10s %10s\n' "$proc" "$name" "$med" "$max"
	done
	printf '%-8s %-32s %10s\n' all "runtime started at" "$s_start"
	printf '%-8s %-32s %10s\n' all "total (first to last phase)" "$s_tot"
	printf '%-8s %-32s %10s\n' all "wall (from outside)" "$s_wall"
else
	# Side by side, joined by (proc, phase): a phase one of them lacks
	# shows "-".
	IFS=$'\t' read -r b_start b_tot b_wall < <(summary "$BENCH_TMP/base")
	printf '%-8s %-32s %12s %12s\n' proc phase "baseline_ms" "measured_ms"
	awk -F'\t' 'NR == FNR { b[$1 "\t" $2] = $3; if (!(($1 "\t" $2) in seen)) { seen[$1 "\t" $2] = 1; bo[++nb] = $1 "\t" $2 }; next }
		{ k = $1 "\t" $2; m[k] = $3; if (!(k in seen)) { seen[k] = 1; bo[++nb] = k } }
		END { for (i = 1; i <= nb; i++) { split(bo[i], p, "\t"); printf "%-8s %-32s %12s %12s\n", p[1], p[2], (bo[i] in b) ? b[bo[i]] : "-", (bo[i] in m) ? m[bo[i]] : "-" } }' \
		<(medians "$BENCH_TMP/base") <(medians "$BENCH_TMP/round")
	printf '%-8s %-32s %12s %12s\n' all "runtime started at" "$b_start" "$s_start"
	printf '%-8s %-32s %12s %12s\n' all "total (first to last phase)" "$b_tot" "$s_tot"
	printf '%-8s %-32s %12s %12s\n' all "wall (from outside)" "$b_wall" "$s_wall"
	# Round by round: the measured binary's start of the runtime less the
	# baseline's of the same round (negative: the measured one is faster).
	started() { awk '$1 == "phase" && $4 == "monitor" && $5 == "runtime" && $6 == "run" {print $2; exit}' "$1"; }
	diffs=()
	for ((r = 1; r <= BENCH_ROUNDS; r++)); do
		diffs+=("$(awk -v m="$(started "$BENCH_TMP/round-$r.txt")" -v b="$(started "$BENCH_TMP/base-$r.txt")" 'BEGIN {printf "%.3f\n", m - b}')")
	done
	printf '%-8s %-32s %12s\n' all "runtime start, measured - baseline (median of rounds)" "$(bench_median "${diffs[@]}")"
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$BENCH_STRACE" != 0 ]; then
	# Syscalls of the whole run (all processes), and those made before the
	# first execve of runc; which files were synced; how long the sleeps
	# were (the Go runtime's sysmon sleeps 20 us to 10 ms between checks).
	strace -f -qq -y -e trace=execve,fsync,fdatasync,sync_file_range,nanosleep,clock_nanosleep \
		-o "$BENCH_TMP/strace.txt" "$STOCKADE" "${S_ARGS[@]}" run --rm --network none "$REF" >/dev/null 2>&1 ||
		bench_die "the traced run failed"
	awk -v tmp="$BENCH_TMP/" '
	/execve\(".*runc"/ && !runc { runc = 1 }
	{
		if (match($0, /(fsync|fdatasync|sync_file_range|clock_nanosleep|nanosleep|execve)\(/)) {
			c = substr($0, RSTART, RLENGTH - 1)
			all[c]++
			if (!runc) before[c]++
			if (c ~ /sync/ && match($0, /<[^>]*>/)) {
				f = substr($0, RSTART + 1, RLENGTH - 2); sub(tmp, "", f)
				files[c " " f (runc ? " (after runc)" : " (before runc)")]++
			}
			if (c ~ /sleep/ && match($0, /tv_nsec=[0-9]+/)) sleeps[substr($0, RSTART + 8, RLENGTH - 8) / 1000 " us"]++
		}
	}
	END {
		printf "%-18s %14s %8s\n", "syscall", "before runc", "all"
		n = split("fsync fdatasync sync_file_range nanosleep clock_nanosleep execve", k, " ")
		for (i = 1; i <= n; i++) printf "%-18s %14d %8d\n", k[i], before[k[i]], all[k[i]]
		print "synced files:"
		for (f in files) printf "  %4d  %s\n", files[f], f
		print "sleep lengths:"
		for (d in sleeps) printf "  %6d x %s\n", sleeps[d], d
	}' "$BENCH_TMP/strace.txt"
fi
