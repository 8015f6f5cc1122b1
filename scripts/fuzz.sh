#!/usr/bin/env bash
# Fuzz stowaway's parsers with cargo-fuzz (libFuzzer): builds every target in
# fuzz/, seeds a corpus from ../shared/real-images and the repo's own test
# data, runs each target for a fixed time, and prints executions and crashes
# per target. Not part of `cargo test`.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#   FUZZ_JOBS=2 scripts/fuzz.sh 300                      (two targets at a time)
#
# Targets: archive layer elf gobuildinfo rules spec_json (see fuzz/fuzz_targets/).
# Crashes land in fuzz/artifacts/<target>/ (crash-*, oom-*, timeout-*); replay
# one with `cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>`.
# Logs: fuzz/logs/<target>.log. The corpus is regenerated on every run and
# grows under fuzz/corpus/<target>/ (git-ignored by fuzz/.gitignore).
#
# Needs: cargo-fuzz (`cargo install cargo-fuzz` from crates.io), a nightly
# toolchain for -Zsanitizer=address (else RUSTC_BOOTSTRAP=1 on stable, with
# the sanitizer off), python3, xz.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${1:-60}
shift || true
ALL=(archive layer elf gobuildinfo rules spec_json)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi
JOBS=${FUZZ_JOBS:-1}
REAL=../shared/real-images

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz from crates.io" >&2
  cargo install cargo-fuzz --locked
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  FUZZ=(cargo +nightly fuzz)
  SAN=()
else
  # No nightly: the flags cargo-fuzz passes need RUSTC_BOOTSTRAP on stable,
  # and AddressSanitizer needs nightly's sanitizer runtime: run without it.
  export RUSTC_BOOTSTRAP=1
  FUZZ=(cargo fuzz)
  SAN=(-s none)
fi

# --- corpus ------------------------------------------------------------------
python3 - "$REAL" <<'PY'
import hashlib, io, json, lzma, os, sys, tarfile, tomllib

real = sys.argv[1]
root = "fuzz/corpus"
MAX = 256 << 10
seen = set()

def seed(target, data, limit=MAX):
    if not data or len(data) > limit:
        return
    h = hashlib.sha1(data).hexdigest()
    if (target, h) in seen:
        return
    seen.add((target, h))
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + h), "wb") as f:
        f.write(data)

def is_json(b):
    try:
        json.loads(b)
        return True
    except Exception:
        return False

def members(tar_bytes):
    """name -> bytes of every regular member, links followed."""
    out, links = {}, {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as t:
        for m in t.getmembers():
            n = os.path.normpath(m.name).lstrip("./")
            if m.isfile():
                out[n] = t.extractfile(m).read()
            elif m.issym() or m.islnk():
                tgt = m.linkname if m.islnk() else os.path.normpath(os.path.join(os.path.dirname(n), m.linkname))
                links[n] = tgt.lstrip("./")
    for n, t in links.items():
        if t in out:
            out[n] = out[t]
    return out

def dir_as_tar(d):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w") as t:
        for name in sorted(os.listdir(d)):
            t.add(os.path.join(d, name), arcname=name)
    return b.getvalue()

def digest_free(files):
    """A classic docker save whose members are not named by digest: no digest
    to fail, so mutations reach the layer walk (diff_ids then only flag)."""
    try:
        man = json.loads(files["manifest.json"])
    except Exception:
        return None
    if not isinstance(man, list) or not man:
        return None
    out = {}
    new = []
    for i, e in enumerate(man):
        cfg = files.get(e.get("Config", ""))
        if cfg is None:
            return None
        out[f"c{i}.json"] = cfg
        layers = []
        for j, l in enumerate(e.get("Layers") or []):
            if l not in files:
                return None
            out[f"i{i}l{j}.tar"] = files[l]
            layers.append(f"i{i}l{j}.tar")
        new.append({"Config": f"c{i}.json", "RepoTags": e.get("RepoTags"), "Layers": layers})
    out["manifest.json"] = json.dumps(new).encode()
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for n, data in out.items():
            ti = tarfile.TarInfo(n)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return b.getvalue()

archives = []
for dirpath, dirs, names in os.walk(real):
    if os.path.exists(os.path.join(dirpath, "index.json")):
        archives.append(dir_as_tar(dirpath))
        dirs[:] = []
        continue
    for n in names:
        p = os.path.join(dirpath, n)
        raw = open(p, "rb").read()
        if n.endswith(".xz"):
            raw = lzma.decompress(raw)
        elif n.endswith(".gz"):
            continue  # alpine: 2.7 MB, too big to seed
        if n.endswith((".tar", ".xz")):
            archives.append(raw)
for p in ("testdata/demo-leaky.tar", "testdata/demo-clean.tar"):
    archives.append(open(p, "rb").read())

for a in archives:
    seed("archive", a)
    try:
        files = members(a)
    except Exception:
        continue
    df = digest_free(files)
    if df:
        seed("archive", df)
    for n, data in files.items():
        if is_json(data):
            seed("spec_json", data)
        elif data[:2] == b"\x1f\x8b" or data[:4] == b"\x28\xb5\x2f\xfd" or data[257:262] == b"ustar":
            seed("layer", data)
            try:
                import gzip, zlib
                plain = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
                for fn, fd in members(plain).items():
                    if fd[:4] == b"\x7fELF":
                        seed("elf", fd)
                        seed("gobuildinfo", fd)
            except Exception:
                pass

for n in os.listdir("tests/data/elf"):
    b = open(os.path.join("tests/data/elf", n), "rb").read()
    if b[:4] == b"\x7fELF" or n.endswith(".bin"):
        seed("elf", b)
        seed("gobuildinfo", b)

for n in sorted(os.listdir("signatures")):
    if not n.endswith(".toml"):
        continue
    for r in tomllib.load(open(os.path.join("signatures", n), "rb")).get("rule", []):
        for ex in r.get("examples", []) + r.get("negative_examples", []):
            path = r.get("example_path", "/app/config")
            seed("rules", (path + "\n" + ex).encode())
            seed("rules", ex.encode())
for n in os.listdir("tests/data"):
    p = os.path.join("tests/data", n)
    if n.endswith(".pem"):
        seed("rules", open(p, "rb").read())

for t in ("archive", "layer", "elf", "gobuildinfo", "rules", "spec_json"):
    d = os.path.join(root, t)
    print(f"corpus {t}: {len(os.listdir(d)) if os.path.isdir(d) else 0} files")
PY

# --- build -------------------------------------------------------------------
"${FUZZ[@]}" build "${SAN[@]}" --debug-assertions --fuzz-dir fuzz >&2

# --- run ---------------------------------------------------------------------
mkdir -p fuzz/logs
run_one() {
  local t=$1
  mkdir -p "fuzz/artifacts/$t"
  local before
  before=$(ls "fuzz/artifacts/$t" | wc -l)
  # fork mode: keep going after a crash, so several distinct bugs can show up.
  "${FUZZ[@]}" run "${SAN[@]}" --debug-assertions --fuzz-dir fuzz "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$SECS" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -rss_limit_mb=2048 -timeout=30 -max_len=1048576 -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$t/" >"fuzz/logs/$t.log" 2>&1 || true
  local execs crashes
  execs=$(grep -oE '^#[0-9]+' "fuzz/logs/$t.log" | tail -1 | tr -d '#')
  crashes=$(( $(ls "fuzz/artifacts/$t" | wc -l) - before ))
  printf '%-12s %8ss %12s execs %4s new artifacts (%s)\n' "$t" "$SECS" "${execs:-?}" "$crashes" \
    "$(ls "fuzz/artifacts/$t" | sed 's/-.*//' | sort | uniq -c | tr -s ' ' | paste -sd, -)"
}

echo
printf '%-12s %9s %18s %s\n' target time executions crashes
i=0
for t in "${TARGETS[@]}"; do
  run_one "$t" &
  i=$((i + 1))
  if [ "$i" -ge "$JOBS" ]; then wait -n; i=$((i - 1)); fi
done
wait
