#!/usr/bin/env bash
# NRI cost benchmark: `stockade run --rm IMAGE /bin/true` with no NRI
# plugin, with one pre-installed current NRI plugin (it adjusts the
# container: an env var and an annotation), with one NRI 0.1 plugin, and
# with both. One stockade installation; its configuration file is swapped
# between runs. Each round runs the four once, in a rotating order. Then,
# with `stockade system service` running (it starts the pre-installed
# plugin once and serves the events), rounds of the plugin-less run and the
# pre-installed plugin's alternate. Prints the median wall time and CPU
# time of each beside the plugin-less run's of its phase, and the median
# added cost. CPU time is what every process of the run used (stockade,
# its monitor, runc, the plugins, and the service in the second phase: all
# run in one cgroup; the container's own process is in runc's cgroup), and
# is the steadier measure on a busy machine.
#
#   test/bench/nri.sh                  # as root, from anywhere
#
# Environment:
#   BENCH_ROUNDS=15                    rounds
#   STOCKADE=bin/stockade              binary to measure (built with make if missing)
#   BENCH_NICE=-10                     priority of the measured processes (0: off)
#   BENCH_CACHE=/var/cache/stockade-bench   the tiny image, built once
#   BENCH_RESULTS=test/bench/results   where the JSON lines go
set -eu

BENCH_ROUNDS=${BENCH_ROUNDS:-15}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || bench_die "run as root (overlay mounts, runc)"
case $BENCH_ROUNDS in '' | *[!0-9]* | 0) bench_die "BENCH_ROUNDS must be a positive integer" ;; esac

bench_need_pkgs docker-registry skopeo umoci runc curl iproute2

# One cgroup holds what is measured (cgroup v2, or v1's cpuacct).
CG=
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	CG=/sys/fs/cgroup/stockade-bench-nri-$$
	CG_STAT() { awk '$1 == "usage_usec" {print $2}' "$CG/cpu.stat"; }
elif [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then
	CG=/sys/fs/cgroup/cpuacct/stockade-bench-nri-$$
	CG_STAT() { awk '{printf "%d\n", $1 / 1000}' "$CG/cpuacct.usage"; }
else
	CG_STAT() { echo 0; }
fi
if [ -n "$CG" ]; then
	mkdir "$CG" || bench_die "cannot create cgroup $CG"
	bench_on_exit "rmdir '$CG' 2>/dev/null"
fi
in_cg() { # CMD...: runs CMD in the cgroup, at priority BENCH_NICE
	local nice=()
	[ "$BENCH_NICE" = 0 ] || nice=(nice -n "$BENCH_NICE")
	if [ -n "$CG" ]; then sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG" "${nice[@]}" "$@"; else "${nice[@]}" "$@"; fi
}
command -v go >/dev/null || bench_die "go is needed to build the image and the plugins"
bench_tiny_image_build
bench_stockade
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^STOCKADE_' || true)

bench_tmpdir
T=$BENCH_TMP
bench_registry_start "$T/registry"
bench_tiny_image_push
REF=$BENCH_TINY_REF

# The test plugins of the e2e suite: nriplugin on NRI's pkg/stub,
# nri010plugin speaking NRI 0.1.
bench_log "build the test plugins"
mkdir -p "$T/plugins" "$T/conf.d" "$T/bin" "$T/resource.d"
(cd "$BENCH_REPO" && CGO_ENABLED=0 go build -o "$T/plugins/10-adjust" ./test/e2e/testdata/nriplugin)
(cd "$BENCH_REPO" && CGO_ENABLED=0 go build -o "$T/bin/rec-a" ./test/e2e/testdata/nri010plugin)
echo '{"adjust":true}' >"$T/conf.d/10-adjust.conf"
echo '{"version":"0.1","plugins":[{"type":"rec-a"}]}' >"$T/conf.json"

CASES=(none preinstalled v010 both)
config() {
	local current=false v010=false
	case $1 in preinstalled) current=true ;; v010) v010=true ;; both) current=true v010=true ;; esac
	cat <<EOT
[nri]
enable = $current
plugin_path = "$T/plugins"
plugin_config_path = "$T/conf.d"
socket_path = "$T/nri.sock"
[nri.v010]
enable = $v010
plugin_path = "$T/bin"
config_file = "$T/conf.json"
config_dir = "$T/resource.d"
EOT
}
for c in "${CASES[@]}"; do config "$c" >"$T/$c.toml"; done

S=(--root "$T/root" --state "$T/state")
bench_on_exit "'$STOCKADE' ${S[*]} --config '$T/none.toml' ps -aq 2>/dev/null | xargs -r '$STOCKADE' ${S[*]} --config '$T/none.toml' rm -f >/dev/null 2>&1"
"$STOCKADE" "${S[@]}" --config "$T/none.toml" pull -q "$REF" >/dev/null || bench_die "stockade pull $REF failed"

# once CASE: one timed run; its wall time and CPU time in µs are appended
# to T_CASE and C_CASE.
once() {
	local c=$1 t0 t1 c0 c1
	c0=$(CG_STAT)
	t0=$(date +%s%N)
	in_cg "$STOCKADE" "${S[@]}" --config "$T/$c.toml" run --rm --network none "$REF" /bin/true >"$T/out" 2>&1 ||
		{ cat "$T/out" >&2; bench_die "run with $c failed"; }
	t1=$(date +%s%N)
	c1=$(CG_STAT)
	eval "T_$c+=(\$(((t1 - t0) / 1000)))"
	eval "C_$c+=(\$((c1 - c0)))"
}
for c in "${CASES[@]}"; do
	once "$c" # warm-up: page cache, plugin binaries
	eval "T_$c=() C_$c=()"
done
bench_log "$BENCH_ROUNDS rounds"
for ((r = 0; r < BENCH_ROUNDS; r++)); do
	for ((k = 0; k < ${#CASES[@]}; k++)); do
		once "${CASES[(r + k) % ${#CASES[@]}]}"
	done
done

# Phase 2: the service runs; "service" is the pre-installed plugin's
# configuration, whose events now go to the service.
bench_log "system service, $BENCH_ROUNDS rounds"
# Started so that $! is the service itself (sh execs into it), and with
# none of this script's descriptors: the service outlives no pipe.
if [ -n "$CG" ]; then
	sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG" "$STOCKADE" "${S[@]}" --config "$T/preinstalled.toml" system service \
		</dev/null >/dev/null 2>"$T/service.log" &
else
	"$STOCKADE" "${S[@]}" --config "$T/preinstalled.toml" system service </dev/null >/dev/null 2>"$T/service.log" &
fi
SERVICE_PID=$!
bench_on_exit "bench_stop_pid $SERVICE_PID"
bench_wait 20 grep -q "NRI service started" "$T/service.log" || { cat "$T/service.log" >&2; bench_die "the service did not start"; }
cp "$T/preinstalled.toml" "$T/service.toml"
cp "$T/none.toml" "$T/none2.toml"
T_none2=() T_service=() C_none2=() C_service=()
once service # warm-up
T_service=() C_service=()
for ((r = 0; r < BENCH_ROUNDS; r++)); do
	if ((r % 2)); then once none2 && once service; else once service && once none2; fi
done
bench_stop_pid "$SERVICE_PID"

RESULTS=$(bench_results_file nri)
ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }
report() { # CASE BASE_CASE
	local m base added cm cbase cadded
	eval "m=\$(bench_median \"\${T_$1[@]}\")"
	eval "base=\$(bench_median \"\${T_$2[@]}\")"
	eval "cm=\$(bench_median \"\${C_$1[@]}\")"
	eval "cbase=\$(bench_median \"\${C_$2[@]}\")"
	added=$(awk -v a="$m" -v b="$base" 'BEGIN { printf "%+.1f", (a - b) / 1000 }')
	cadded=$(awk -v a="$cm" -v b="$cbase" 'BEGIN { printf "%+.1f", (a - b) / 1000 }')
	if [ "$1" = "$2" ]; then added=- cadded=-; fi
	printf '%-24s %10s %10s %10s %10s\n' "$1" "$(ms "$m")" "$added" "$(ms "$cm")" "$cadded"
	bench_json bench=nri time="$(date -u +%FT%TZ)" case="$1" rounds="$BENCH_ROUNDS" median_wall_ms="$(ms "$m")" \
		added_wall_ms="$added" median_cpu_ms="$(ms "$cm")" added_cpu_ms="$cadded" cgroup="${CG:-none}" >>"$RESULTS"
}
printf '\n%-24s %10s %10s %10s %10s\n' "run --rm /bin/true" "wall ms" "added" "CPU ms" "added"
for c in "${CASES[@]}"; do report "$c" none; done
printf '%s\n' "-- with system service running:"
report none2 none2
report service none2
echo "(median of $BENCH_ROUNDS runs each; JSON lines in $RESULTS)"
