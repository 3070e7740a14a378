#!/usr/bin/env bash
# NRI cost benchmark: `stockade run --rm IMAGE /bin/true` with no NRI
# plugin, with one pre-installed current NRI plugin (it adjusts the
# container: an env var and an annotation), with one NRI 0.1 plugin, and
# with both. One stockade installation; its configuration file is swapped
# between runs. Each round runs the four once, in a rotating order. Prints
# the median wall time of each beside the plugin-less run's, and the
# median added cost. See README.md in this folder.
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

# once CASE: one timed run, its wall time in ms appended to T_CASE.
once() {
	local c=$1 t0 t1
	t0=$(date +%s%N)
	bench_nice "$STOCKADE" "${S[@]}" --config "$T/$c.toml" run --rm --network none "$REF" /bin/true >"$T/out" 2>&1 ||
		{ cat "$T/out" >&2; bench_die "run with $c failed"; }
	t1=$(date +%s%N)
	eval "T_$c+=(\$(((t1 - t0) / 1000)))"
}
for c in "${CASES[@]}"; do
	once "$c" # warm-up: page cache, plugin binaries
	eval "T_$c=()"
done
bench_log "$BENCH_ROUNDS rounds"
for ((r = 0; r < BENCH_ROUNDS; r++)); do
	for ((k = 0; k < ${#CASES[@]}; k++)); do
		once "${CASES[(r + k) % ${#CASES[@]}]}"
	done
done

RESULTS=$(bench_results_file nri)
ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }
eval "base=\$(bench_median \"\${T_none[@]}\")"
printf '\n%-14s %12s %12s\n' "run --rm" "median ms" "added ms"
for c in "${CASES[@]}"; do
	eval "m=\$(bench_median \"\${T_$c[@]}\")"
	added=$(awk -v a="$m" -v b="$base" 'BEGIN { printf "%.1f", (a - b) / 1000 }')
	[ "$c" = none ] && added=-
	printf '%-14s %12s %12s\n' "$c" "$(ms "$m")" "$added"
	bench_json bench=nri time="$(date -u +%FT%TZ)" case="$c" rounds="$BENCH_ROUNDS" median_ms="$(ms "$m")" \
		added_ms="$added" >>"$RESULTS"
done
echo "(median of $BENCH_ROUNDS runs each; JSON lines in $RESULTS)"
