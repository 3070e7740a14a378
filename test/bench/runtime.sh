#!/usr/bin/env bash
# stockade-runtime against bare runc, command by command, on one bundle
# (the tiny image's static sleep): `create`, `start`, `state`, `exec` (of
# /bin/true), `pause`, `resume`, `kill KILL` and `delete` are timed, each
# of the two tools in turn, alternating who goes first. The medians, their ratios (goal <=
# 1.15) and the CPU time of each command (perf's task-clock, less noisy on a
# busy machine) are printed. A third tool, goexec, is the floor of any Go
# front end: a static Go program that only executes runc with its
# arguments (Go's start, then runc's); its ratio is the best a
# stockade-runtime that is a Go program can reach. See README.md here.
#
#   test/bench/runtime.sh              # as root, from anywhere
#
# Environment:
#   BENCH_ROUNDS=20                    rounds
#   STOCKADE_RUNTIME=bin/stockade-runtime   binary to measure (built with make if missing)
#   BENCH_RUNC=runc                    the runc both drive (stockade-runtime's --runc)
#   BENCH_NICE=-10                     priority of the measured processes (0: off;
#                                      nice's own exec is in every timing, all tools alike)
#   BENCH_FIFO=0                       1: the rounds run as SCHED_FIFO (chrt -f 50),
#                                      ahead of every ordinary process: numbers
#                                      close to a quiet host's on a busy one
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
# goexec: Go's start, then runc's (the floor of a Go front end).
mkdir -p "$BENCH_TMP/goexec"
printf '%s\n' 'package main' '' 'import (' '	"os"' '	"syscall"' ')' '' \
	'func main() {' '	syscall.Exec(os.Args[1], os.Args[1:], os.Environ())' '	os.Exit(127)' '}' >"$BENCH_TMP/goexec/main.go"
printf 'module goexec\n\ngo 1.21\n' >"$BENCH_TMP/goexec/go.mod"
(cd "$BENCH_TMP/goexec" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags '-s -w' -o goexec .)
B=$BENCH_TMP/bundle
umoci unpack --image "$BENCH_TINY_DIR/oci:tiny" "$B" >/dev/null
jq '.process.args = ["/bin/sleep", "infinity"] | .process.terminal = false' "$B/config.json" >"$B/c.json"
mv "$B/c.json" "$B/config.json"
printf '{"args":["/bin/true"],"cwd":"/","env":["PATH=/bin"]}' >"$BENCH_TMP/process.json"
R_RUNC=$BENCH_TMP/runc-root
R_SRT=$BENCH_TMP/srt-root
R_GOEXEC=$BENCH_TMP/goexec-root
mkdir -p "$R_RUNC" "$R_SRT/runc" "$R_GOEXEC"

# The command line of each tool on its own root.
CMD_runc=("$RUNC" --root "$R_RUNC")
CMD_srt=("$SRT" --root "$R_SRT" --runc "$RUNC")
CMD_goexec=("$BENCH_TMP/goexec/goexec" "$RUNC" --root "$R_GOEXEC")
tool_cmd() {
	local -n cmd=CMD_$1
	shift
	"${cmd[@]}" "$@"
}
bench_on_exit 'for t in runc srt goexec; do for id in $(tool_cmd $t list -q 2>/dev/null); do tool_cmd $t delete --force "$id" >/dev/null 2>&1; done; done'

# launch CMD...: runs CMD with PREFIX (a scheduling command, or nothing)
# at priority BENCH_NICE.
launch() {
	local nice=()
	[ "$BENCH_NICE" = 0 ] || nice=(nice -n "$BENCH_NICE")
	"${PREFIX[@]}" "${nice[@]}" "$@"
}

# timed MODE TOOL OP ARG...: runs one command of TOOL. MODE wall appends
# its wall time (µs, bash's clock: no process of its own) to W_TOOL_OP;
# MODE cpu its CPU time (ms, perf stat's task-clock) to C_TOOL_OP.
timed() {
	local mode=$1 tool=$2 op=$3 t0 t1 cpu
	local -n cmd=CMD_$tool
	shift 3
	if [ "$mode" = wall ]; then
		t0=${EPOCHREALTIME/./}
		launch "${cmd[@]}" "$@" </dev/null >/dev/null 2>&1 || bench_die "$tool $* failed"
		t1=${EPOCHREALTIME/./}
		eval "W_${tool}_$op+=(\"$((t1 - t0))\")"
	else
		cpu=$(launch perf stat -x, -e task-clock -o /dev/fd/3 -- "${cmd[@]}" "$@" 3>&1 </dev/null >/dev/null 2>&1 |
			awk -F, '$3 == "task-clock" {print $1}') || bench_die "$tool $* failed"
		eval "C_${tool}_$op+=(\"${cpu:-0}\")"
	fi
}

# one MODE TOOL ROUND: create, start, state, exec, pause, resume, kill,
# wait, delete.
PREFIX=()
CREATE_SCHED=()
one() {
	local mode=$1 tool=$2 id=bench-$3-$2 i
	# create as an ordinary process: a SCHED_FIFO one cannot join the
	# container's new cpu cgroup, which has no real-time budget.
	PREFIX=("${CREATE_SCHED[@]}")
	timed "$mode" "$tool" create create --bundle "$B" "$id"
	PREFIX=()
	timed "$mode" "$tool" start start "$id"
	timed "$mode" "$tool" state state "$id"
	PREFIX=("${CREATE_SCHED[@]}") # exec joins the container's cgroups too
	timed "$mode" "$tool" exec exec --process "$BENCH_TMP/process.json" "$id"
	PREFIX=()
	timed "$mode" "$tool" pause pause "$id"
	timed "$mode" "$tool" resume resume "$id"
	timed "$mode" "$tool" kill kill "$id" 9
	for ((i = 0; i < 100; i++)); do
		tool_cmd "$tool" state "$id" 2>/dev/null | grep -q '"stopped"' && break
		sleep 0.02
	done
	timed "$mode" "$tool" delete delete "$id"
}

# rounds: BENCH_ROUNDS rounds of each mode, the tools in a rotating order.
rounds() {
	local mode r t
	for mode in wall cpu; do
		for ((r = 1; r <= BENCH_ROUNDS; r++)); do
			case $((r % 3)) in
			1) set -- runc srt goexec ;;
			2) set -- srt goexec runc ;;
			0) set -- goexec runc srt ;;
			esac
			for t; do one $mode "$t" "$r"; done
		done
	done
}

# All work before anything counts.
for t in runc srt goexec; do one wall $t 0; done
for t in runc srt goexec; do for op in create start state exec pause resume kill delete; do eval "W_${t}_$op=(); C_${t}_$op=()"; done; done
sched=nice
if [ "${BENCH_FIFO:-0}" = 1 ]; then
	# chrt runs a command, not a function: the rounds' processes get
	# the policy from this shell, set and reset around them.
	chrt -f -p 50 $$ || bench_die "chrt -f: cannot make this shell SCHED_FIFO"
	sched=fifo
	CREATE_SCHED=(chrt -o 0)
	BENCH_NICE=0 # no effect on SCHED_FIFO; nor its exec in every timing
fi
rounds
[ "$sched" = fifo ] && chrt -o -p 0 $$

ms() { awk -v v="$1" 'BEGIN{printf "%.1f", v/1000}'; }
printf '%-8s %12s %12s %7s %14s %7s %12s %12s %9s %14s\n' command runc_wall_ms srt_wall_ms ratio goexec_wall_ms ratio \
	runc_cpu_ms srt_cpu_ms cpu_ratio goexec_cpu_ms
for op in create start state exec pause resume kill delete; do
	for t in runc srt goexec; do
		eval "w_$t=\$(bench_median \"\${W_${t}_$op[@]}\"); c_$t=\$(bench_median \"\${C_${t}_$op[@]}\")"
	done
	# shellcheck disable=SC2154
	printf '%-8s %12s %12s %7s %14s %7s %12.1f %12.1f %9s %14.1f\n' "$op" "$(ms "$w_runc")" "$(ms "$w_srt")" \
		"$(bench_ratio "$w_srt" "$w_runc")" "$(ms "$w_goexec")" "$(bench_ratio "$w_goexec" "$w_runc")" \
		"$c_runc" "$c_srt" "$(bench_ratio "$c_srt" "$c_runc")" "$c_goexec"
done
echo "goal: ratio <= $GOAL; $BENCH_ROUNDS rounds; scheduling $sched; runtime $($RUNC --version | head -1); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
