#!/usr/bin/env bash
# Issue 19's floor: `stockade run --rm --network none IMAGE /bin/true`
# against bare `runc run` of a bundle of the same root file system (and,
# when installed, stockade with crun against bare `crun run`), in
# alternating rounds, who goes first switching each round. Each bare run
# gets a fresh copy-free bundle: the tiny image unpacked once by umoci,
# its config.json made by `runc spec` (a new network namespace with
# loopback only, as stockade's --network none) with args /bin/true. The
# ratio printed is median stockade / median bare; the issue's goal is
# <= 1.5. See README.md here.
#
#   test/bench/floor.sh                # as root, from anywhere
#
# Environment:
#   BENCH_ROUNDS=20                    rounds
#   STOCKADE=bin/stockade              binary to measure (built with make if missing)
#   BENCH_NICE=-10                     priority of the measured processes (0: off)
#   BENCH_CACHE=/var/cache/stockade-bench   the tiny image, built once
set -eu

BENCH_ROUNDS=${BENCH_ROUNDS:-20}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || bench_die "run as root (overlay mounts, runc)"
case $BENCH_ROUNDS in '' | *[!0-9]* | 0) bench_die "BENCH_ROUNDS must be a positive integer" ;; esac

bench_need_pkgs docker-registry skopeo umoci runc jq
bench_tiny_setup

# The bare side's bundle: the same image, unpacked by umoci; runc spec's
# defaults (namespaces including network, no terminal), /bin/true.
BUNDLE=$BENCH_TMP/bundle
umoci unpack --image "$BENCH_TINY_DIR/oci:tiny" "$BUNDLE" >/dev/null
(cd "$BUNDLE" && rm -f config.json && runc spec)
jq '.process.args = ["/bin/true"] | .process.terminal = false | .root.readonly = false' \
	"$BUNDLE/config.json" >"$BUNDLE/config.json.new" && mv "$BUNDLE/config.json.new" "$BUNDLE/config.json"

# side NAME RUNTIME: a stockade root of its own whose runtime is RUNTIME.
declare -A ARGS
side() {
	local name=$1 rt=$2 dir=$BENCH_TMP/$1
	mkdir -p "$dir/root" "$dir/state"
	printf 'runtime = "%s"\n' "$rt" >"$dir/stockade.toml"
	ARGS[$name]="--root $dir/root --state $dir/state --config $dir/stockade.toml"
	# shellcheck disable=SC2086
	"$STOCKADE" ${ARGS[$name]} pull -q "$REF" >/dev/null 2>&1 || bench_die "stockade pull ($rt) failed"
	# shellcheck disable=SC2086
	"$STOCKADE" ${ARGS[$name]} run --rm --network none "$REF" >"$dir/first.log" 2>&1 ||
		bench_die "stockade run ($rt) failed: $(tail -3 "$dir/first.log")"
	bench_on_exit "'$STOCKADE' ${ARGS[$name]} ps -aq 2>/dev/null | xargs -r '$STOCKADE' ${ARGS[$name]} rm -f >/dev/null 2>&1"
}


compare() {
	local rt=$1 name=$2 r s=() b=() x y
	side "$name" "$rt"
	for ((r = 1; r <= BENCH_ROUNDS; r++)); do
		sync
		# shellcheck disable=SC2086
		if ((r % 2)); then
			x=$(bench_ms "$STOCKADE" ${ARGS[$name]} run --rm --network none "$REF")
			y=$(bench_ms "$rt" run --bundle "$BUNDLE" "floor-$$-$r")
		else
			y=$(bench_ms "$rt" run --bundle "$BUNDLE" "floor-$$-$r")
			x=$(bench_ms "$STOCKADE" ${ARGS[$name]} run --rm --network none "$REF")
		fi
		s+=("$x") b+=("$y")
	done
	local ms_s ms_b ratio
	ms_s=$(bench_median "${s[@]}") ms_b=$(bench_median "${b[@]}")
	ratio=$(bench_ratio "$ms_s" "$ms_b")
	printf '%-6s stockade run --rm %8s ms   bare %s run %8s ms   ratio %s (goal <= 1.5)\n' "$rt" "$ms_s" "$rt" "$ms_b" "$ratio"
	bench_json floor "runtime=$rt" "rounds=$BENCH_ROUNDS" "stockade_ms=$ms_s" "bare_ms=$ms_b" "ratio=$ratio" >/dev/null || true
}

compare runc runc
if command -v crun >/dev/null; then
	# crun refuses hosts with hybrid cgroups ("cgroups in hybrid mode not
	# supported"): said and skipped, not failed.
	if out=$(crun run --bundle "$BUNDLE" "floor-$$-probe" 2>&1); then
		compare crun crun
	else
		echo "crun   skipped: bare crun cannot run here: $out"
	fi
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
