#!/usr/bin/env bash
# stockade-runtime against bare runc, command by command, on one bundle
# (the tiny image's static sleep): `create` (not timed), then `start`,
# `state`, `kill KILL` and `delete` are timed, each of the two tools in
# turn, alternating who goes first. The medians, their ratios (goal <=
# 1.15) and the CPU time of each command (perf's task-clock, less noisy on a
# busy machine) are printed. See README.md here.
#
#   test/bench/runtime.sh              # as root, from anywhere
#
# Environment:
#   BENCH_ROUNDS=20                    rounds
#   STOCKADE_RUNTIME=bin/stockade-runtime   binary to measure (built with make if missing)
#   BENCH_RUNC=runc                    the runc both drive (stockade-runtime's --runc)
#   BENCH_NICE=-10                     priority of the measured processes (0: off)
#   BENCH_CACHE=/var/cache/stockade-bench   the tiny image, built once
set -eu

BENCH_ROUNDS=${BENCH_ROUNDS:-20}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
BENCH_RUNC=${BENCH_RUNC:-runc}
GOAL=1.15

[ "$(id -u)" = 0 ] || bench_die "run as root (runc)"
case $BENCH_ROUNDS in '' | *[!0-9]* | 0) bench_die "BENCH_ROUNDS must be a positive integer" ;; esac
bench_need_pkgs runc umoci jq
command -v go >/dev/null || bench_die "go is needed to build the tiny image"
bench_tiny_image_build
SRT=${STOCKADE_RUNTIME:-bin/stockade-runtime}
case $SRT in /*) ;; *) SRT=$BENCH_REPO/$SRT ;; esac
[ -x "$SRT" ] || make -C "$BENCH_REPO" build >&2
RUNC=$(command -v "$BENCH_RUNC") || bench_die "no $BENCH_RUNC"
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^STOCKADE_' || true)

bench_tmpdir
B=$BENCH_TMP/bundle
umoci unpack --image "$BENCH_TINY_DIR/oci:tiny" "$B" >/dev/null
jq '.process.args = ["/bin/sleep", "infinity"] | .process.terminal = false' "$B/config.json" >"$B/c.json"
mv "$B/c.json" "$B/config.json"
R_RUNC=$BENCH_TMP/runc-root
R_SRT=$BENCH_TMP/srt-root
mkdir -p "$R_RUNC" "$R_SRT/runc"

# The command line of each tool on its own root.
CMD_runc=("$RUNC" --root "$R_RUNC")
CMD_srt=("$SRT" --root "$R_SRT" --runc "$RUNC")
tool_cmd() {
	local -n cmd=CMD_$1
	shift
	"${cmd[@]}" "$@"
}
bench_on_exit 'for t in runc srt; do for id in $(tool_cmd $t list -q 2>/dev/null); do tool_cmd $t delete --force "$id" >/dev/null 2>&1; done; done'

# timed MODE TOOL OP ARG...: runs one command of TOOL. MODE wall appends
# its wall time (µs, bash's clock: no process of its own) to W_TOOL_OP;
# MODE cpu its CPU time (ms, perf stat's task-clock) to C_TOOL_OP.
timed() {
	local mode=$1 tool=$2 op=$3 t0 t1 cpu
	local -n cmd=CMD_$tool
	shift 3
	if [ "$mode" = wall ]; then
		t0=${EPOCHREALTIME/./}
		bench_nice "${cmd[@]}" "$@" </dev/null >/dev/null 2>&1 || bench_die "$tool $* failed"
		t1=${EPOCHREALTIME/./}
		eval "W_${tool}_$op+=(\"$((t1 - t0))\")"
	else
		cpu=$(bench_nice perf stat -x, -e task-clock -o /dev/fd/3 -- "${cmd[@]}" "$@" 3>&1 </dev/null >/dev/null 2>&1 |
			awk -F, '$3 == "task-clock" {print $1}') || bench_die "$tool $* failed"
		eval "C_${tool}_$op+=(\"${cpu:-0}\")"
	fi
}

# one MODE TOOL ROUND: create (untimed), start, state, kill, wait, delete.
one() {
	local mode=$1 tool=$2 id=bench-$3-$2 i
	tool_cmd "$tool" create --bundle "$B" "$id" </dev/null >/dev/null 2>&1 || bench_die "$tool create failed"
	timed "$mode" "$tool" start start "$id"
	timed "$mode" "$tool" state state "$id"
	timed "$mode" "$tool" kill kill "$id" 9
	for ((i = 0; i < 100; i++)); do
		tool_cmd "$tool" state "$id" 2>/dev/null | grep -q '"stopped"' && break
		sleep 0.02
	done
	timed "$mode" "$tool" delete delete "$id"
}

# Both work before anything counts.
one wall runc 0
one wall srt 0
for op in start state kill delete; do eval "W_runc_$op=(); C_runc_$op=(); W_srt_$op=(); C_srt_$op=()"; done

for mode in wall cpu; do
	for ((r = 1; r <= BENCH_ROUNDS; r++)); do
		if ((r % 2)); then one $mode runc "$r"; one $mode srt "$r"; else one $mode srt "$r"; one $mode runc "$r"; fi
	done
done

printf '%-8s %14s %14s %8s %12s %12s %9s\n' command runc_wall_ms srt_wall_ms ratio runc_cpu_ms srt_cpu_ms cpu_ratio
for op in start state kill delete; do
	eval "wr=\$(bench_median \"\${W_runc_$op[@]}\"); ws=\$(bench_median \"\${W_srt_$op[@]}\")"
	eval "cr=\$(bench_median \"\${C_runc_$op[@]}\"); cs=\$(bench_median \"\${C_srt_$op[@]}\")"
	# shellcheck disable=SC2154
	printf '%-8s %14.1f %14.1f %8s %12.1f %12.1f %9s\n' "$op" "$(awk -v v="$wr" 'BEGIN{print v/1000}')" \
		"$(awk -v v="$ws" 'BEGIN{print v/1000}')" "$(bench_ratio "$ws" "$wr")" "$cr" "$cs" "$(bench_ratio "$cs" "$cr")"
done
echo "goal: ratio <= $GOAL; $BENCH_ROUNDS rounds; runtime $($RUNC --version | head -1); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
