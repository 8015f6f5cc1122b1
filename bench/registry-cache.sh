#!/usr/bin/env bash
# Registry cache benchmark (issue 5): a local distribution registry holding
# ~20 images that share their base layers, scanned with `stowaway
# scan-registry` cold (empty cache) and warm (the same registry again), plus
# a run with --no-cache for reference. Writes the figures, with machine
# notes, to bench/REGISTRY.md (or --report FILE).
#
#   bench/registry-cache.sh                 # 20 images, 64 MB base, 3 warm runs
#   bench/registry-cache.sh --images 40 --base-mb 64
#
# Options (or the environment variable in brackets):
#   --images N      images to push                      [IMAGES=20]
#   --base-mb MB    shared base layer, uncompressed      [BASE_MB=64]
#   --runtime-mb MB each of the two runtime layers       [RUNTIME_MB=16]
#   --app-mb MB     each image's own layer               [APP_MB=4]
#   --reps N        warm runs (median reported)          [REPS=3]
#   --jobs N        scan-registry --jobs                 [JOBS=4]
#   --bin PATH      stowaway binary (default: cargo build --release)
#   --dir DIR       work directory                       [BENCH_DIR=/tmp/stowaway-registry-bench]
#   --report FILE   where to write the results           [bench/REGISTRY.md]
#
# Needs: docker-registry, skopeo (Debian packages), python3, cargo.
# Exit status: 0 ok; 3 a run failed or a planted key was not reported.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
IMAGES=${IMAGES:-20}
BASE_MB=${BASE_MB:-64}
RUNTIME_MB=${RUNTIME_MB:-16}
APP_MB=${APP_MB:-4}
REPS=${REPS:-3}
JOBS=${JOBS:-4}
BENCH_DIR=${BENCH_DIR:-/tmp/stowaway-registry-bench}
REPORT=${REPORT:-$here/REGISTRY.md}
BIN=${STOWAWAY_BIN:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --images) IMAGES=$2; shift 2 ;;
    --base-mb) BASE_MB=$2; shift 2 ;;
    --runtime-mb) RUNTIME_MB=$2; shift 2 ;;
    --app-mb) APP_MB=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --dir) BENCH_DIR=$2; shift 2 ;;
    --report) REPORT=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "registry-cache.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

for tool in docker-registry skopeo python3; do
  command -v "$tool" >/dev/null || { echo "registry-cache.sh: $tool is missing (apt-get install docker-registry skopeo python3)" >&2; exit 2; }
done
if [ -z "$BIN" ]; then
  (cd "$repo" && cargo build --release --locked -q)
  BIN=${CARGO_TARGET_DIR:-$repo/target}/release/stowaway
fi

rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
cat > "$BENCH_DIR/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $BENCH_DIR/storage
http:
  addr: $host
  secret: bench
EOF
docker-registry serve "$BENCH_DIR/registry.yml" >"$BENCH_DIR/registry.log" 2>&1 &
registry_pid=$!
trap 'kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
  sleep 0.1
done

echo "generating $IMAGES images..." >&2
python3 "$here/registry_gen.py" --out "$BENCH_DIR/images" --images "$IMAGES" \
  --base-mb "$BASE_MB" --runtime-mb "$RUNTIME_MB" --app-mb "$APP_MB" >"$BENCH_DIR/images.txt"
echo "pushing to $host..." >&2
xargs -P 4 -L 1 sh -c 'skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$0:1" "docker://'"$host"'/$1:1"' \
  <"$BENCH_DIR/images.txt"
stored=$(du -sb "$BENCH_DIR/storage" | cut -f1)

now() { date +%s.%N; }
rm -f "$BENCH_DIR/failed"
# scan NAME ARGS...: one timed scan-registry run; prints seconds.
scan() {
  local name=$1; shift
  local out="$BENCH_DIR/$name" t0 t1 code=0
  t0=$(now)
  "$BIN" scan-registry "$host" --out-dir "$out" --jobs "$JOBS" "$@" >"$out.txt" 2>"$out.err" || code=$?
  t1=$(now)
  if [ "$code" != 1 ]; then
    echo "registry-cache.sh: $name: exit $code (expected 1: every image leaks)" >&2
    cat "$out.err" >&2
    touch "$BENCH_DIR/failed"
  fi
  python3 - "$out/summary.json" "$BENCH_DIR/images.txt" <<'PY' || touch "$BENCH_DIR/failed"
import hashlib, json, sys
s = json.load(open(sys.argv[1]))
want = {l.split()[1]: l.split()[2] for l in open(sys.argv[2])}
for r in s["results"]:
    rep = json.load(open(sys.argv[1].rsplit("/", 1)[0] + "/" + r["report"]))
    fps = {f.get("fingerprint") for i in rep["images"] for f in i["findings"]}
    key = want[r["repository"]]
    if hashlib.sha256(key.encode()).hexdigest()[:16] not in fps:
        sys.exit("planted key of %s not reported" % r["repository"])
if len(s["results"]) != len(want):
    sys.exit("%d images scanned, %d pushed" % (len(s["results"]), len(want)))
PY
  echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}'
}
counters() { python3 -c "import json,sys; c=json.load(open(sys.argv[1]))['cache']; print(c['layers_scanned'], c['layers_cached'], c['policies_cached'])" "$BENCH_DIR/$1/summary.json"; }

cache="$BENCH_DIR/cache"
echo "no-cache run..." >&2
nocache=$(scan nocache --no-cache)
echo "cold run..." >&2
cold=$(scan cold --cache-dir "$cache")
cold_counts=$(counters cold)
warm=()
for i in $(seq "$REPS"); do
  echo "warm run $i..." >&2
  warm+=("$(scan "warm$i" --cache-dir "$cache")")
done
warm_counts=$(counters warm1)
warm_median=$(printf '%s\n' "${warm[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
speedup=$(awk -v c="$cold" -v w="$warm_median" 'BEGIN {printf "%.1f", c / w}')
cache_bytes=$(du -sb "$cache" | cut -f1)
layer_mb=$(python3 -c "print(round(($BASE_MB + 2 * $RUNTIME_MB + $IMAGES * $APP_MB), 1))")

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
{
  cat <<EOF
# Registry scan: cold vs warm cache

\`bench/registry-cache.sh\` (issue 5) pushes $IMAGES images to a local
distribution registry (Debian's docker-registry, plain HTTP on 127.0.0.1) and
times \`stowaway scan-registry\` over all of them: once without a cache, once
with an empty cache (cold), then $REPS times with the cache the cold run filled
(warm; median reported).

Every image is a ${BASE_MB} MB base layer shared by all, one of two ${RUNTIME_MB} MB
runtime layers, and its own ${APP_MB} MB app layer with a planted Stripe-shaped
key (uncompressed sizes; gzip layers; ${layer_mb} MB of distinct layers,
$((IMAGES * 3)) layer references). Every run must report every planted key and
exit 1, or the script fails.

## Results

| run | wall time (s) | layers scanned | layers from cache | policy results from cache |
|---|---:|---:|---:|---:|
| no cache (\`--no-cache\`) | $nocache | | | |
| cold (empty cache) | $cold | $(echo "$cold_counts" | awk '{print $1}') | $(echo "$cold_counts" | awk '{print $2}') | $(echo "$cold_counts" | awk '{print $3}') |
| warm (median of $REPS: ${warm[*]}) | $warm_median | $(echo "$warm_counts" | awk '{print $1}') | $(echo "$warm_counts" | awk '{print $2}') | $(echo "$warm_counts" | awk '{print $3}') |

**Warm is ${speedup}x faster than cold.** The warm run reads no layer: for each
tag it fetches the manifest and the config (to know what to audit and to run
the config rules), takes the layer scans and the policy results from the cache,
and writes the reports again. The cold run already benefits from layer
sharing: each distinct layer is scanned once even though images are audited in
parallel (\`--jobs $JOBS\`); the no-cache run scans the shared base layer once
per image.

Cache size after the runs: $cache_bytes bytes (zstd-compressed JSON:
file lists, redacted hits, policy results; no file contents). Registry storage:
$stored bytes.

## Machine

- CPU: $cpu, $(nproc) cores available
- memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
- kernel: $(uname -r)
- stowaway $("$BIN" --version | awk '{print $2}') ($(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown) + work tree), release build
- docker-registry $(docker-registry --version 2>/dev/null | awk '{print $3}'), skopeo $(skopeo --version | awk '{print $3}')
- date: $(date -u +%Y-%m-%d)

Shared machine (other jobs were running): wall times vary by some 10%; the
layer counters do not vary.
EOF
} >"$REPORT"
echo "wrote $REPORT: cold ${cold}s, warm ${warm_median}s (${speedup}x)" >&2
if [ -e "$BENCH_DIR/failed" ]; then exit 3; fi
