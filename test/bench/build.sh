#!/bin/bash
# build.sh: `stockade build` against `buildah bud` (Debian's buildah 1.28)
# of the same Containerfile and context (test/e2e/testdata/build, a
# multi-stage file using every instruction build supports), on the same
# busybox base, in the same run; then a fully cached rebuild as a fraction
# of the first build.
#
# Goals: stockade's median wall time <= 0.7 x buildah's; a cached rebuild
# <= 10% of the first build.
#
#   test/bench/build.sh                    # as root
#   BENCH_ROUNDS=5 test/bench/build.sh
set -eu
. "$(dirname "$0")/lib.sh"

BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_BUILDAH_DRIVER=${BENCH_BUILDAH_DRIVER:-overlay}

[ "$(id -u)" = 0 ] || bench_die "run as root (builds run containers)"
bench_need_pkgs buildah busybox-static umoci skopeo docker-registry runc jq time
bench_stockade
bench_tmpdir
T=$BENCH_TMP

# The base: Debian's static busybox, /bin/sh linked to it, as an OCI image
# on a loopback registry (the e2e test's busybox).
bench_log "busybox base image"
umoci init --layout "$T/bb"
umoci new --image "$T/bb:t"
umoci unpack --image "$T/bb:t" "$T/bb-bundle" >/dev/null
mkdir -p "$T/bb-bundle/rootfs/bin" "$T/bb-bundle/rootfs/etc" "$T/bb-bundle/rootfs/tmp"
cp /bin/busybox "$T/bb-bundle/rootfs/bin/busybox"
for n in sh cat echo true; do ln -s busybox "$T/bb-bundle/rootfs/bin/$n"; done
echo 'root:x:0:0:root:/:/bin/sh' >"$T/bb-bundle/rootfs/etc/passwd"
echo 'root:x:0:' >"$T/bb-bundle/rootfs/etc/group"
umoci repack --image "$T/bb:t" "$T/bb-bundle" >/dev/null
umoci config --image "$T/bb:t" --config.cmd sh --config.env PATH=/bin
bench_registry_start "$T/registry"
BASE=$BENCH_REGISTRY/bench/busybox:1
skopeo copy --quiet --dest-tls-verify=false "oci:$T/bb:t" "docker://$BASE"

# The context: the e2e test's, with the archive git does not keep.
CTX=$T/ctx
cp -a "$BENCH_REPO/test/e2e/testdata/build" "$CTX"
mkdir -p "$T/arch/top/sub"
echo in >"$T/arch/top/sub/f"
tar -C "$T/arch" -czf "$CTX/archive.tar.gz" top

S_ROOT=$T/stockade
stockade() { "$STOCKADE" --root "$S_ROOT/root" --state "$S_ROOT/state" --config "$T/empty.toml" "$@"; }
: >"$T/empty.toml"
B_ROOT=$T/buildah
buildah_() { buildah --root "$B_ROOT/root" --runroot "$B_ROOT/run" --storage-driver "$BENCH_BUILDAH_DRIVER" "$@"; }
bench_on_exit "buildah --root '$B_ROOT/root' --runroot '$B_ROOT/run' --storage-driver '$BENCH_BUILDAH_DRIVER' rm --all >/dev/null 2>&1; buildah --root '$B_ROOT/root' --runroot '$B_ROOT/run' --storage-driver '$BENCH_BUILDAH_DRIVER' rmi --all --force >/dev/null 2>&1"
bench_on_exit "'$STOCKADE' --root '$S_ROOT/root' --state '$S_ROOT/state' --config '$T/empty.toml' system prune -f >/dev/null 2>&1"

bench_log "pull the base (not timed)"
stockade pull -q "$BASE" >/dev/null
buildah_ pull -q --tls-verify=false "$BASE" >/dev/null

S_ARGS=(-q -t bench/built:1 --build-arg "BASE=$BASE" "$CTX")
S_BUILD=(build --no-cache "${S_ARGS[@]}")
B_BUILD=(bud --isolation chroot --layers --no-cache --format docker --tls-verify=false -q -t bench/built:1 --build-arg "BASE=$BASE" "$CTX")

RESULTS=$(bench_results_file build)
RUN_ID=$(date +%s)-$$
mapfile -t HOST < <(bench_host_info)
s_walls=() b_walls=() c_walls=() bc_walls=()
for ((r = 1; r <= BENCH_ROUNDS; r++)); do
	order=(stockade buildah)
	((r % 2 == 0)) && order=(buildah stockade)
	for tool in "${order[@]}"; do
		if [ "$tool" = stockade ]; then
			bench_measure "$T/stockade-$r" "$STOCKADE" --root "$S_ROOT/root" --state "$S_ROOT/state" --config "$T/empty.toml" "${S_BUILD[@]}" ||
				{ tail -20 "$T/stockade-$r.log" >&2; bench_die "stockade build failed"; }
			s_walls+=("$BENCH_WALL")
		else
			bench_measure "$T/buildah-$r" buildah --root "$B_ROOT/root" --runroot "$B_ROOT/run" --storage-driver "$BENCH_BUILDAH_DRIVER" "${B_BUILD[@]}" ||
				{ tail -20 "$T/buildah-$r.log" >&2; bench_die "buildah bud failed"; }
			b_walls+=("$BENCH_WALL")
		fi
		load=$(bench_others_load "$BENCH_WALL" "$BENCH_BUSY" "$BENCH_CPU")
		bench_json bench=build kind=run run_id="$RUN_ID" tool="$tool" op=first round="$r" wall_s="$BENCH_WALL" \
			cpu_s="$BENCH_CPU" peak_rss_kb="$BENCH_RSS_KB" others_load="$load" >>"$RESULTS"
		printf '%-9s round %d  first build  %7.3f s  (cpu %s s, others %s)\n' "$tool" "$r" "$BENCH_WALL" "$BENCH_CPU" "$load"
	done
	# A fully cached rebuild: the same command without --no-cache, after
	# the build above filled the cache.
	bench_measure "$T/stockade-cached-$r" "$STOCKADE" --root "$S_ROOT/root" --state "$S_ROOT/state" --config "$T/empty.toml" build "${S_ARGS[@]}" ||
		bench_die "stockade cached build failed"
	c_walls+=("$BENCH_WALL")
	bench_json bench=build kind=run run_id="$RUN_ID" tool=stockade op=cached round="$r" wall_s="$BENCH_WALL" cpu_s="$BENCH_CPU" >>"$RESULTS"
	printf '%-9s round %d  cached       %7.3f s\n' stockade "$r" "$BENCH_WALL"
	bench_measure "$T/buildah-cached-$r" buildah --root "$B_ROOT/root" --runroot "$B_ROOT/run" --storage-driver "$BENCH_BUILDAH_DRIVER" "${B_BUILD[@]/--no-cache/--pull=false}" ||
		bench_die "buildah cached build failed"
	bc_walls+=("$BENCH_WALL")
	bench_json bench=build kind=run run_id="$RUN_ID" tool=buildah op=cached round="$r" wall_s="$BENCH_WALL" cpu_s="$BENCH_CPU" >>"$RESULTS"
	printf '%-9s round %d  cached       %7.3f s\n' buildah "$r" "$BENCH_WALL"
done

# The cached rebuild must be the same image as the build before it.
id1=$(stockade build -q -t bench/built:1 --build-arg "BASE=$BASE" "$CTX")
id2=$(stockade build -q -t bench/built:1 --build-arg "BASE=$BASE" "$CTX")
[ "$id1" = "$id2" ] || bench_die "a cached rebuild gave $id2, the build before it $id1"

sm=$(bench_median "${s_walls[@]}")
bm=$(bench_median "${b_walls[@]}")
cm=$(bench_median "${c_walls[@]}")
bcm=$(bench_median "${bc_walls[@]}")
ratio=$(bench_ratio "$sm" "$bm")
frac=$(bench_ratio "$cm" "$sm")
v1=missed v2=missed
bench_le "$ratio" 0.7 && v1=ok
bench_le "$frac" 0.1 && v2=ok
echo
printf 'first build, median of %d: stockade %s s, buildah (%s) %s s: ratio %s (goal <= 0.7: %s)\n' \
	"$BENCH_ROUNDS" "$sm" "$BENCH_BUILDAH_DRIVER" "$bm" "$ratio" "$v1"
printf 'cached rebuild, median: stockade %s s = %s of its first build (goal <= 0.1: %s); buildah %s s\n' \
	"$cm" "$frac" "$v2" "$bcm"
bench_json bench=build kind=summary run_id="$RUN_ID" time="$(date -u +%FT%TZ)" rounds="$BENCH_ROUNDS" \
	buildah_driver="$BENCH_BUILDAH_DRIVER" stockade_median_s="$sm" buildah_median_s="$bm" ratio="$ratio" \
	stockade_cached_median_s="$cm" cached_fraction="$frac" buildah_cached_median_s="$bcm" \
	ratio_verdict="$v1" cached_verdict="$v2" "${HOST[@]}" >>"$RESULTS"
bench_log "results appended to $RESULTS"
