#!/usr/bin/env bash
# The FreeBSD jail runtime's own cost, by phase, measured on any OS: the
# jail package's BenchmarkLifecyclePhases runs create, start, kill and
# delete of one container over the recording kernel (kernel calls cost
# nothing there), with the state root in a temporary directory, and
# reports the median of each phase. BENCH_ROUNDS runs of it (go test
# -count); the table has the median of the rounds' medians, in the order
# the phases ran. Then BenchmarkLifecycle (create, start, state, delete
# with timing off: time and allocations) and BenchmarkDelete (a killed
# process or a removed jail the kernel takes a moment to let go). No root
# needed. See README.md here.
#
#   test/bench/jail-phases.sh
#
# Environment:
#   BENCH_ROUNDS=5           rounds (go test -count)
#   BENCH_ITERS=300          lifecycles per round (-benchtime)
#   BENCH_STATE_TMP=$TMPDIR  where the state roots go (/dev/shm: tmpfs);
#                            /tmp when TMPDIR is unset
#   BENCH_NICE=-10           priority of the benchmark as root (0: off)
set -eu

BENCH_ROUNDS=${BENCH_ROUNDS:-5}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
BENCH_ITERS=${BENCH_ITERS:-300}
BENCH_STATE_TMP=${BENCH_STATE_TMP:-${TMPDIR:-/tmp}}
[ "$(id -u)" = 0 ] || BENCH_NICE=0

case $BENCH_ROUNDS in '' | *[!0-9]* | 0) bench_die "BENCH_ROUNDS must be a positive integer" ;; esac
case $BENCH_ITERS in '' | *[!0-9]* | 0) bench_die "BENCH_ITERS must be a positive integer" ;; esac
[ -d "$BENCH_STATE_TMP" ] || bench_die "BENCH_STATE_TMP: $BENCH_STATE_TMP is not a directory"
if ! command -v go >/dev/null 2>&1; then
	[ -x /usr/local/go/bin/go ] || bench_die "go is not in PATH"
	PATH=/usr/local/go/bin:$PATH
fi

bench_tmpdir
bench_log "go test -c ./jail/"
(cd "$BENCH_REPO" && go test -c -o "$BENCH_TMP/jail.test" ./jail/) || bench_die "the jail package's tests do not build"

out=$BENCH_TMP/bench.txt
bench_log "$BENCH_ROUNDS rounds of $BENCH_ITERS lifecycles, state under $BENCH_STATE_TMP"
(cd "$BENCH_REPO/jail" && TMPDIR=$BENCH_STATE_TMP bench_nice "$BENCH_TMP/jail.test" \
	-test.run '^$' -test.bench '^(BenchmarkLifecyclePhases|BenchmarkLifecycle|BenchmarkDelete)$' \
	-test.benchtime "${BENCH_ITERS}x" -test.count "$BENCH_ROUNDS" -test.benchmem) >"$out" 2>&1 ||
	bench_die "the benchmarks failed: $(tail -5 "$out")"
grep -q '^BenchmarkLifecyclePhases' "$out" || bench_die "BenchmarkLifecyclePhases reported nothing: $(tail -5 "$out")"

# "NN.op.step-ns/op" metrics of each round, as "NN.op.step VALUE" lines.
metrics() {
	awk -v bench="$1" '$1 ~ "^" bench "(-[0-9]+)?$" {
		for (i = 3; i < NF; i++) if ($(i + 1) ~ /-ns\/op$/ || $(i + 1) ~ /^(ns|B|allocs)\/op$/) print $(i + 1), $i
	}' "$out"
}

printf '%-28s %12s %8s\n' phase median_us share
metrics BenchmarkLifecyclePhases >"$BENCH_TMP/phases.txt"
total=$(awk '$1 == "ns/op" {print $2}' "$BENCH_TMP/phases.txt" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
sum=0
for unit in $(awk '$1 ~ /-ns\/op$/ {print $1}' "$BENCH_TMP/phases.txt" | sort -u); do
	# shellcheck disable=SC2046
	med=$(bench_median $(awk -v u="$unit" '$1 == u {print $2}' "$BENCH_TMP/phases.txt"))
	name=${unit#*.}
	name=${name%-ns/op}
	name=${name/./ }
	sum=$(awk -v a="$sum" -v b="$med" 'BEGIN {print a + b}')
	printf '%-28s %12.1f %7.1f%%\n' "$name" "$(awk -v v="$med" 'BEGIN {print v / 1e3}')" \
		"$(awk -v v="$med" -v t="$total" 'BEGIN {print (t > 0 ? 100 * v / t : 0)}')"
done
printf '%-28s %12.1f\n' "sum of the medians" "$(awk -v v="$sum" 'BEGIN {print v / 1e3}')"
printf '%-28s %12.1f   (create, start, kill, delete; timing on)\n' "lifecycle" "$(awk -v v="$total" 'BEGIN {print v / 1e3}')"

echo
printf '%-34s %12s %10s %10s\n' benchmark median_us B/op allocs/op
for bench in BenchmarkLifecycle BenchmarkDelete/at-once BenchmarkDelete/process-lingers BenchmarkDelete/jail-dying; do
	metrics "$bench" >"$BENCH_TMP/m.txt"
	[ -s "$BENCH_TMP/m.txt" ] || continue
	# shellcheck disable=SC2046
	printf '%-34s %12.1f %10.0f %10.0f\n' "${bench#Benchmark}" \
		"$(awk -v v="$(bench_median $(awk '$1 == "ns/op" {print $2}' "$BENCH_TMP/m.txt"))" 'BEGIN {print v / 1e3}')" \
		"$(bench_median $(awk '$1 == "B/op" {print $2}' "$BENCH_TMP/m.txt"))" \
		"$(bench_median $(awk '$1 == "allocs/op" {print $2}' "$BENCH_TMP/m.txt"))"
done
echo "state under $BENCH_STATE_TMP ($(df --output=fstype "$BENCH_STATE_TMP" 2>/dev/null | tail -1 || echo '?')); load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)"
