#!/usr/bin/env bash
# Memory of an idle container's supervisor: N containers of the tiny
# image's `sleep infinity` (--network none, detached) under stockade and
# under podman, then the RSS, PSS and private memory (Private_Clean +
# Private_Dirty) of each stockade monitor and each podman conmon, from
# /proc/PID/smaps_rollup: the median per container and the sum. The
# stockade monitors are measured after their handover to the small idle
# monitor (stockade-monitor, [monitor] idle_after); BENCH_IDLE_AFTER=0
# measures the full monitors instead. See README.md here.
#
#   test/bench/footprint.sh            # as root, from anywhere
#
# Environment:
#   BENCH_N=20                         containers per tool
#   BENCH_SKIP_PODMAN=                 set: stockade alone
#   BENCH_IDLE_AFTER=1s                [monitor] idle_after; 0: no handover
#   BENCH_PUBLISH=                     set: stockade's containers on the default
#                                      network with -p 80 (a [::1] forwarder each)
#   STOCKADE=bin/stockade              binary to measure (built with make if missing)
#   BENCH_CACHE=/var/cache/stockade-bench   the tiny image, built once
set -eu

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
BENCH_N=${BENCH_N:-20}
BENCH_SKIP_PODMAN=${BENCH_SKIP_PODMAN:-}
BENCH_IDLE_AFTER=${BENCH_IDLE_AFTER:-1s}
BENCH_PUBLISH=${BENCH_PUBLISH:-}
NET_ARGS=(--network none)
[ -z "$BENCH_PUBLISH" ] || NET_ARGS=(-p 80)

[ "$(id -u)" = 0 ] || bench_die "run as root (overlay mounts, runc)"
case $BENCH_N in '' | *[!0-9]* | 0) bench_die "BENCH_N must be a positive integer" ;; esac
bench_need_pkgs docker-registry skopeo umoci runc jq curl
[ -n "$BENCH_SKIP_PODMAN" ] || bench_need_pkgs podman conmon
bench_tiny_setup

# pids_with WORD: pids of the processes whose command line holds WORD
# (a directory of this run) and whose program is PROG.
pids_with() {
	local word=$1 prog=$2 p
	for p in /proc/[0-9]*; do
		[ -r "$p/cmdline" ] || continue
		if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "$word" &&
			[ "$(basename "$(readlink "$p/exe" 2>/dev/null)")" = "$prog" ]; then
			echo "${p#/proc/}"
		fi
	done
}

# report TOOL PID...: the medians and sums of Rss, Pss and private memory.
report() {
	local tool=$1 p rss=() pss=() priv=()
	shift
	for p in "$@"; do
		read -r r s v < <(awk '/^Rss:/ {r = $2} /^Pss:/ {s = $2} /^Private_(Clean|Dirty):/ {v += $2} END {print r, s, v}' "/proc/$p/smaps_rollup")
		rss+=("$r") pss+=("$s") priv+=("$v")
	done
	printf '%-22s %6d %10s %10s %12s %12s\n' "$tool" "$#" "$(bench_median "${rss[@]}")" "$(bench_median "${pss[@]}")" \
		"$(bench_median "${priv[@]}")" "$(printf '%s\n' "${pss[@]}" | awk '{s += $1} END {print s}')"
}

bench_stockade_store
printf '[monitor]\nidle_after = "%s"\n' "$BENCH_IDLE_AFTER" >"$BENCH_TMP/stockade.toml"
# The default network goes too, after the containers.
[ -z "$BENCH_PUBLISH" ] || bench_on_exit "'$STOCKADE' ${S_ARGS[*]} ps -aq 2>/dev/null | xargs -r -n 50 '$STOCKADE' ${S_ARGS[*]} rm -f >/dev/null 2>&1;" \
	"'$STOCKADE' ${S_ARGS[*]} network rm stockade >/dev/null 2>&1"
MONITOR_PROG=stockade-monitor
if [ "$BENCH_IDLE_AFTER" = 0 ]; then
	MONITOR_PROG=stockade
elif [ ! -x "$(dirname "$STOCKADE")/stockade-monitor" ]; then
	bench_die "no stockade-monitor next to $STOCKADE (make build)"
fi
bench_log "stockade: $BENCH_N idle containers (idle_after $BENCH_IDLE_AFTER, ${NET_ARGS[*]})"
for ((i = 1; i <= BENCH_N; i++)); do
	stockade_cmd run -d "${NET_ARGS[@]}" "$REF" /bin/sleep infinity >/dev/null || bench_die "stockade run -d failed"
done

if [ -z "$BENCH_SKIP_PODMAN" ]; then
	P_ARGS=(--root "$BENCH_TMP/p/root" --runroot "$BENCH_TMP/p/run" --storage-driver overlay
		--cgroup-manager cgroupfs --events-backend file --runtime runc)
	podman_cmd() { podman "${P_ARGS[@]}" "$@"; }
	bench_on_exit "podman ${P_ARGS[*]} rm -af -t 0 >/dev/null 2>&1"
	podman_cmd pull -q --tls-verify=false "$REF" >/dev/null 2>&1 || bench_die "podman pull failed"
	bench_log "podman: $BENCH_N idle containers"
	for ((i = 1; i <= BENCH_N; i++)); do
		# Podman's default limits (nofile 1048576...) exceed what this host
		# lets runc's init set, and so did the host's own hard limits: low
		# explicit ones work (as in floor.sh).
		if ! podman_cmd run -d --network none --ulimit nofile=1024:1024 \
			--ulimit nproc=1024:1024 "$REF" /bin/sleep infinity >/dev/null 2>"$BENCH_TMP/podman.err"; then
			bench_log "podman run -d failed, podman left out: $(tail -1 "$BENCH_TMP/podman.err")"
			BENCH_SKIP_PODMAN=1
			break
		fi
	done
fi

# Let start-up garbage be collected, as it would be on a long-lived host,
# and the monitors hand over.
sleep "$(awk -v d="$BENCH_IDLE_AFTER" 'BEGIN {s = d + 0; if (d ~ /ms$/) s /= 1000; else if (d ~ /m$/) s *= 60; print s + 2}')"
printf '%-22s %6s %10s %10s %12s %12s\n' supervisor count rss_kb pss_kb private_kb pss_sum_kb
# The monitors are the records' (the small monitor's command line does not
# name the store), each checked to run MONITOR_PROG.
mapfile -t SP < <(stockade_cmd ps -q --no-trunc | while IFS= read -r id; do
	p=$(stockade_cmd inspect --format '{{.State.MonitorPid}}' "$id")
	[ "$(basename "$(readlink "/proc/$p/exe" 2>/dev/null)")" = "$MONITOR_PROG" ] && echo "$p"
done)
[ ${#SP[@]} -eq "$BENCH_N" ] || bench_die "found ${#SP[@]} monitors running $MONITOR_PROG, want $BENCH_N"
report "stockade $MONITOR_PROG" "${SP[@]}"
if [ -n "${BENCH_DETAIL:-}" ]; then
	# Where the first monitor's private memory is, by mapping.
	awk '/^[0-9a-f]+-[0-9a-f]+ / {m = $6 == "" ? "[anon]" : $6} /^Private_(Clean|Dirty):/ {p[m] += $2}
		END {for (m in p) if (p[m] > 0) printf "  %8d kB  %s\n", p[m], m}' "/proc/${SP[0]}/smaps" | sort -rn | head -8
fi
if [ -z "$BENCH_SKIP_PODMAN" ]; then
	mapfile -t CP < <(pids_with "$BENCH_TMP/p/run" conmon)
	[ ${#CP[@]} -eq "$BENCH_N" ] || bench_die "found ${#CP[@]} conmons, want $BENCH_N"
	report "podman conmon" "${CP[@]}"
fi
echo "medians per container; $BENCH_N containers each; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
