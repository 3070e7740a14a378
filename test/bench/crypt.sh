#!/usr/bin/env bash
# Encrypted pull benchmark: stockade pulling the same ~200 MB Debian image
# (lib.sh's cached image, zstd) twice over, as plain zstd layers and as
# zstd+encrypted layers (OCI-crypt, JWE for an RSA 2048 key, encrypted by
# skopeo), cold, from a plain-HTTP docker-registry on loopback. The goal:
# the encrypted pull's median wall time <= 1.15 x the plain one's.
#
#   test/bench/crypt.sh                # as root, from anywhere
#
# Environment (see README.md in this folder for the shared ones):
#   BENCH_ROUNDS=5                     rounds; each pulls both, alternating who goes first
#   BENCH_FS=disk                      where the fresh roots go: disk (under TMPDIR) or tmpfs
#   BENCH_NICE=-10                     priority of the measured processes (0: off)
#   STOCKADE=bin/stockade              binary to measure (built with make if missing)
#   BENCH_CACHE=/var/cache/stockade-bench   the image, built once (shared with pull.sh)
#   BENCH_RESULTS=test/bench/results   JSON lines go to crypt-YYYY-MM-DD.jsonl there
#
# It exits non-zero when a pull failed, not when the goal is missed: read
# the verdict.
set -eu

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

BENCH_FS=${BENCH_FS:-disk}
RATIO_GOAL=1.15

[ "$(id -u)" = 0 ] || bench_die "run as root (debootstrap, overlay mounts)"
case $BENCH_FS in disk | tmpfs) ;; *) bench_die "BENCH_FS must be disk or tmpfs" ;; esac
case $BENCH_ROUNDS in '' | *[!0-9]* | 0) bench_die "BENCH_ROUNDS must be a positive integer" ;; esac

# run_pull KIND REF [FLAG...]: one cold stockade pull into a new, empty root
# and state. Sets RUN_OK, RUN_WALL, RUN_CPU, RUN_RSS_KB, RUN_LOAD, RUN_DISK.
run_pull() {
	local kind=$1 ref=$2 d=$WORK/$1
	shift 2
	mkdir -p "$d/root" "$d/state"
	RUN_OK=true RUN_DISK=0
	bench_measure "$BENCH_TMP/$kind" "$STOCKADE" --root "$d/root" --state "$d/state" \
		--config "$BENCH_TMP/stockade.toml" pull "$@" "$ref" || RUN_OK=false
	RUN_WALL=$BENCH_WALL RUN_CPU=$BENCH_CPU RUN_RSS_KB=$BENCH_RSS_KB
	RUN_LOAD=$(bench_others_load "$BENCH_WALL" "$BENCH_BUSY" "$BENCH_CPU")
	if [ "$RUN_OK" = true ]; then
		RUN_DISK=$(du -sxb "$d/root" | cut -f1)
		if [ "$RUN_DISK" -lt "$IMAGE_UNPACKED_BYTES" ]; then
			echo "$kind: only $RUN_DISK bytes under its root, the image unpacks to $IMAGE_UNPACKED_BYTES" >>"$BENCH_TMP/$kind.log"
			RUN_OK=false
		fi
	fi
	bench_rmdir "$d"
}

median_or_null() {
	if [ $# -eq 0 ]; then echo null; else bench_median "$@"; fi
}

mib() {
	case $1 in - | null | '') echo - ;; *) awk -v k="$1" 'BEGIN {printf "%.0f\n", k / 1024}' ;; esac
}

row() { printf '%-7s %-10s %9s %8s %9s %12s\n' "$@"; }

# ---------------------------------------------------------------- main

bench_need_pkgs debootstrap time docker-registry skopeo umoci jq curl iproute2 openssl
bench_image_build
bench_stockade
"$STOCKADE" pull --help 2>/dev/null | grep -q -- '--key' || bench_die "$STOCKADE cannot pull encrypted images (no pull --key): rebuild it (make build)"
# Only the flags configure stockade: no environment, an empty config, and
# a keys directory that holds nothing.
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(STOCKADE_|OCICRYPT_)' || true)

bench_tmpdir
mkdir -p "$BENCH_TMP/no-keys"
printf 'decryption_keys_path = "%s"\n' "$BENCH_TMP/no-keys" >"$BENCH_TMP/stockade.toml"
bench_registry_start "$BENCH_TMP/registry"
WORK=$BENCH_TMP/work
mkdir -p "$WORK"
if [ "$BENCH_FS" = tmpfs ]; then mount -t tmpfs -o size=8g,mode=0700 bench-work "$WORK"; fi

# The plain twin, and the encrypted one: skopeo keeps the zstd layer and
# encrypts it (no recompression), so both pulls decompress the same bytes.
bench_image_push zstd
plain=$BENCH_REGISTRY/$BENCH_IMAGE_NAME:zstd
enc=$BENCH_REGISTRY/$BENCH_IMAGE_NAME:zstd-encrypted
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$BENCH_TMP/priv.pem" 2>/dev/null
openssl pkey -in "$BENCH_TMP/priv.pem" -pubout -out "$BENCH_TMP/pub.pem"
bench_log "skopeo push $enc (encrypted for jwe:pub.pem)"
skopeo copy --quiet --dest-tls-verify=false --encryption-key "jwe:$BENCH_TMP/pub.pem" \
	"oci:$BENCH_IMAGE_DIR/oci-zstd:debian" "docker://$enc"
enc_info=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"http://$BENCH_REGISTRY/v2/$BENCH_IMAGE_NAME/manifests/zstd-encrypted" |
	jq -r '[(.layers | length), ([.layers[].size] | add), (.layers | map(.mediaType) | unique | join(","))] | @tsv')
read -r ENC_LAYERS ENC_BYTES ENC_MT <<<"$enc_info"
[ "$ENC_MT" = "application/vnd.oci.image.layer.v1.tar+zstd+encrypted" ] ||
	bench_die "pushed $enc but the registry serves layers of type $ENC_MT"
read -r LAYERS LAYER_BYTES _ < <(bench_layer_info "$BENCH_IMAGE_DIR/oci-zstd")
[ "$LAYERS" = "$ENC_LAYERS" ] || bench_die "plain image has $LAYERS layers, encrypted one $ENC_LAYERS"
bench_log "$LAYERS layer(s): plain $((LAYER_BYTES / 1048576)) MiB, encrypted $((ENC_BYTES / 1048576)) MiB, $((IMAGE_UNPACKED_BYTES / 1048576)) MiB unpacked, $BENCH_ROUNDS rounds, roots on $BENCH_FS"

RESULTS=$(bench_results_file crypt)
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)-$$
mapfile -t HOST < <(bench_host_info)
FAILED=""
: >"$BENCH_TMP/plain.log"
: >"$BENCH_TMP/encrypted.log"
p_wall=() p_cpu=() p_rss=() e_wall=() e_cpu=() e_rss=() rows=()
disturbed=0

for ((r = 1; r <= BENCH_ROUNDS; r++)); do
	if ((r % 2)); then order="plain encrypted"; else order="encrypted plain"; fi
	for kind in $order; do
		if [ "$kind" = plain ]; then
			run_pull plain "$plain"
		else
			run_pull encrypted "$enc" --key "$BENCH_TMP/priv.pem"
		fi
		bench_json bench=crypt run_id="$RUN_ID" time="$(date -u +%FT%TZ)" compression=zstd \
			fs="$BENCH_FS" nice="$BENCH_NICE" round="$r" first="${order%% *}" kind="$kind" ok="$RUN_OK" \
			wall_s="$RUN_WALL" cpu_s="$RUN_CPU" peak_rss_kb="$RUN_RSS_KB" others_load="$RUN_LOAD" \
			disk_bytes="$RUN_DISK" >>"$RESULTS"
		bench_log "round $r/$BENCH_ROUNDS $kind: ok=$RUN_OK ${RUN_WALL}s cpu ${RUN_CPU}s others_load $RUN_LOAD"
		if [ "$RUN_OK" != true ]; then
			echo "-- $kind pull failed, the end of its output:" >&2
			tail -5 "$BENCH_TMP/$kind.log" >&2
			FAILED="$FAILED $kind"
			rows+=("$(row "$r" "$kind" failed - - -)")
			continue
		fi
		rows+=("$(row "$r" "$kind" "$RUN_WALL" "$RUN_CPU" "$(mib "$RUN_RSS_KB")" "$RUN_LOAD")")
		if bench_le 0.5 "$RUN_LOAD"; then disturbed=$((disturbed + 1)); fi
		if [ "$kind" = plain ]; then
			p_wall+=("$RUN_WALL") p_cpu+=("$RUN_CPU") p_rss+=("$RUN_RSS_KB")
		else
			e_wall+=("$RUN_WALL") e_cpu+=("$RUN_CPU") e_rss+=("$RUN_RSS_KB")
		fi
	done
done

p_med=$(median_or_null "${p_wall[@]}") e_med=$(median_or_null "${e_wall[@]}")
p_cpu_med=$(median_or_null "${p_cpu[@]}") e_cpu_med=$(median_or_null "${e_cpu[@]}")
p_rss_med=$(median_or_null "${p_rss[@]}") e_rss_med=$(median_or_null "${e_rss[@]}")
ratio=null cpu_ratio=null
if [ "$p_med" != null ] && [ "$e_med" != null ]; then
	ratio=$(bench_ratio "$e_med" "$p_med")
	cpu_ratio=$(bench_ratio "$e_cpu_med" "$p_cpu_med")
fi

echo
echo "pull $plain vs $enc: $LAYERS layer(s), zstd $((LAYER_BYTES / 1048576)) MiB -> $((IMAGE_UNPACKED_BYTES / 1048576)) MiB / $IMAGE_FILES files unpacked; roots on $BENCH_FS"
row round kind wall_s cpu_s rss_MiB others_load
printf '%s\n' "${rows[@]}"
row median plain "$p_med" "$p_cpu_med" "$(mib "$p_rss_med")" ""
row median encrypted "$e_med" "$e_cpu_med" "$(mib "$e_rss_med")" ""
if [ "$ratio" = null ]; then
	echo "ratio encrypted/plain: n/a (a side completed no pull)"
else
	verdict=FAIL
	if bench_le "$ratio" "$RATIO_GOAL"; then verdict=ok; fi
	echo "ratio encrypted/plain, wall-time medians: $ratio (goal <= $RATIO_GOAL: $verdict); CPU-time medians: $cpu_ratio"
fi
if [ "$disturbed" -gt 0 ]; then
	echo "warning: in $disturbed run(s) other processes kept >= 0.5 core busy (others_load): wall times are noisy, compare cpu_s too."
fi

bench_json bench=crypt kind=summary run_id="$RUN_ID" time="$(date -u +%FT%TZ)" compression=zstd \
	fs="$BENCH_FS" nice="$BENCH_NICE" rounds="$BENCH_ROUNDS" layers="$LAYERS" layer_bytes="$LAYER_BYTES" \
	encrypted_layer_bytes="$ENC_BYTES" unpacked_bytes="$IMAGE_UNPACKED_BYTES" files="$IMAGE_FILES" \
	plain_median_s="$p_med" encrypted_median_s="$e_med" ratio="$ratio" ratio_goal="$RATIO_GOAL" \
	plain_cpu_median_s="$p_cpu_med" encrypted_cpu_median_s="$e_cpu_med" cpu_ratio="$cpu_ratio" \
	plain_peak_rss_kb_median="$p_rss_med" encrypted_peak_rss_kb_median="$e_rss_med" \
	plain_runs="${#p_wall[@]}" encrypted_runs="${#e_wall[@]}" disturbed_runs="$disturbed" \
	"${HOST[@]}" >>"$RESULTS"

echo
echo "results appended to $RESULTS"
if [ -n "$FAILED" ]; then
	bench_die "failed pulls:$FAILED"
fi
