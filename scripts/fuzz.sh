#!/usr/bin/env bash
# Fuzz stowaway's parsers with cargo-fuzz (libFuzzer): builds every target in
# fuzz/, seeds a corpus from ../shared/real-images and the repo's own test
# data, runs each target for a fixed time, and prints executions, coverage
# and crashes per target. Not part of `cargo test` (fuzz/ is its own
# workspace).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default: 60 s, every target)
#   FUZZ_JOBS=2 scripts/fuzz.sh 300                    (two targets at a time)
#
# Targets (fuzz/fuzz_targets/): archive layout spec_json layer elf
# gobuildinfo rules. Each run is plain libFuzzer (no fork mode): it stops at
# the first crash, writes it to fuzz/artifacts/<target>/ (crash-*, oom-*,
# timeout-*) and the script goes on with the next target. Replay one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none --debug-assertions \
#     --fuzz-dir fuzz <target> fuzz/artifacts/<target>/<file>
# and shrink it with `cargo fuzz tmin` and the same flags.
# Logs: fuzz/logs/<target>.log. Seeds are (re)written to
# fuzz/corpus/<target>/seed-* on every run; the corpus grows there (columns:
# seeds, corpus files at the start and at the end of the run).
# fuzz/corpus, fuzz/artifacts and fuzz/logs are git-ignored.
#
# Needs: cargo-fuzz (installed from crates.io when missing), python3 (3.11+),
# optionally go (a Go build-info seed). Builds on stable with RUSTC_BOOTSTRAP=1
# and no sanitizer (`-s none`); FUZZ_SANITIZER=address for ASan (nightly if
# installed). CARGO_TARGET_DIR is honoured (cargo's default is fuzz/target).
# Rayon runs one thread (RAYON_NUM_THREADS) so a run uses one core.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${1:-60}
shift || true
ALL=(archive layout spec_json layer elf gobuildinfo rules)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi
JOBS=${FUZZ_JOBS:-1}
REAL=../shared/real-images

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz from crates.io" >&2
  cargo install cargo-fuzz --locked
fi
# Default: the stable toolchain, RUSTC_BOOTSTRAP=1 for the -Z flags cargo-fuzz
# passes, no sanitizer (the allocation guard in fuzz_targets/common.rs stands
# in for ASan's malloc limit). FUZZ_SANITIZER=address builds with ASan, with
# a nightly toolchain when one is installed.
SANITIZER=${FUZZ_SANITIZER:-none}
if [ "$SANITIZER" != none ] && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  FUZZ=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  FUZZ=(cargo fuzz)
fi
SAN=(-s "$SANITIZER")
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}

# The targets write their inputs under $TMPDIR: a private one (on tmpfs when
# there is one: ext4 flushes each rewritten file on close), removed after.
tmp=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- corpus ------------------------------------------------------------------
GOSEED=
if command -v go >/dev/null 2>&1; then
  # A real Go 1.18+ build-info blob, with -ldflags -X: the window around it.
  if (cd tests/data/goservice && CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local \
      go build -ldflags '-X main.version=fuzz-seed' -o "$tmp/goseed" ./cmd/server) \
      >/dev/null 2>&1; then
    GOSEED=$tmp/goseed
  fi
fi

python3 - "$REAL" "$GOSEED" <<'PY'
import gzip, hashlib, io, json, lzma, os, re, sys, tarfile, tomllib

real, goseed = sys.argv[1], sys.argv[2]
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

def dir_files(d):
    out = {}
    for dirpath, _, names in os.walk(d):
        for n in names:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, d)] = open(p, "rb").read()
    return out

def as_tar(files):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for n, data in sorted(files.items()):
            ti = tarfile.TarInfo(n)
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
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
        if not isinstance(e, dict):
            return None
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
    return as_tar(out)

# --- the `layout` target's form: documents joined by SEP, digests, hex names
# and descriptor sizes of other documents written as @digest:N / @hex:N /
# @size:N (see fuzz/fuzz_targets/layout.rs).
SEP = b"\n@@blob@@\n"
HEX = re.compile(rb"[0-9a-f]{64}")

def blob_hex(name):
    m = re.fullmatch(r"blobs/sha256/([0-9a-f]{64})", name)
    return m.group(1) if m else None

def layout_seed(files):
    tops = [n for n in ("index.json", "manifest.json") if n in files]
    if not tops:
        return None
    blobs = {}
    for n, data in files.items():
        h = blob_hex(n) or (HEX.fullmatch(n.split("/")[-1].split(".")[0].encode()) and n.split("/")[-1].split(".")[0])
        if h:
            blobs[h] = data
    # Docker-save members named other than blobs/sha256/<hex>: by content hash.
    named = {}
    for n, data in files.items():
        if n not in tops and not blob_hex(n):
            named[n] = hashlib.sha256(data).hexdigest()
            blobs.setdefault(named[n], data)
    refs = {h: {r.decode() for r in HEX.findall(d) if r.decode() in blobs and r.decode() != h}
            for h, d in blobs.items()}
    # Topological order: every document before the ones it names.
    order, state = [], {}
    def visit(h):
        if state.get(h) == 2:
            return True
        if state.get(h) == 1:
            return False  # a cycle: give up on this image
        state[h] = 1
        for r in sorted(refs[h]):
            if not visit(r):
                return False
        state[h] = 2
        order.append(h)
        return True
    roots = set()
    for t in tops:
        d = files[t]
        roots |= {r.decode() for r in HEX.findall(d) if r.decode() in blobs}
        for n, h in named.items():
            if n.encode() in d:
                roots.add(h)
    for h in sorted(roots):
        if not visit(h):
            return None
    order.reverse()
    index = {h: i + len(tops) for i, h in enumerate(order)}

    def encode(data, own=None):
        try:
            doc = json.loads(data)
        except Exception:
            doc = None
        if doc is not None:
            def walk(v):
                if isinstance(v, dict):
                    d = v.get("digest")
                    if isinstance(d, str) and d.startswith("sha256:") and d[7:] in index \
                            and isinstance(v.get("size"), int):
                        v["size"] = f"@@size:{index[d[7:]]}@@"
                    for x in v.values():
                        walk(x)
                elif isinstance(v, list):
                    for x in v:
                        walk(x)
            walk(doc)
            data = json.dumps(doc).encode()
            data = re.sub(rb'"@@size:(\d+)@@"', rb"@size:\1", data)
        for n, h in named.items():
            if h in index:
                data = data.replace(json.dumps(n).encode(), b'"blobs/sha256/@hex:%d"' % index[h])
        def sub(m):
            h = m.group(2).decode()
            if h not in index or h == own:
                return m.group(0)
            return (b"@digest:%d" if m.group(1) else b"@hex:%d") % index[h]
        return re.sub(rb"(sha256:)?([0-9a-f]{64})", sub, data)

    docs = [b"@name:" + t.encode() + b"\n" + encode(files[t]) for t in tops]
    docs += [encode(blobs[h], h) if is_json(blobs[h]) else blobs[h] for h in order]
    return SEP.join(docs)

sources = []  # (name, files)
archives = []
for dirpath, dirs, names in sorted(os.walk(real)):
    if os.path.exists(os.path.join(dirpath, "index.json")):
        files = dir_files(dirpath)
        sources.append(files)
        archives.append(as_tar(files))
        dirs[:] = []
        continue
    for n in sorted(names):
        p = os.path.join(dirpath, n)
        raw = open(p, "rb").read()
        if n.endswith(".xz"):
            raw = lzma.decompress(raw)
        elif n.endswith(".gz"):
            # alpine: 2.7 MB, too big to seed whole; its layer and ELF
            # files still seed the layer, elf and gobuildinfo targets.
            raw = gzip.decompress(raw)
            try:
                sources.append(members(raw))
            except Exception:
                pass
            continue
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
    sources.append(files)
    df = digest_free(files)
    if df:
        seed("archive", df)
    seed("archive", gzip.compress(a, 6, mtime=0))  # a gzip-wrapped archive

for files in sources:
    ls = layout_seed(files)
    if ls:
        seed("layout", ls, 1 << 20)
    for n, data in files.items():
        if is_json(data):
            seed("spec_json", data)
        elif data[:2] == b"\x1f\x8b" or data[:4] == b"\x28\xb5\x2f\xfd" or data[257:262] == b"ustar":
            seed("layer", data)
            try:
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
if goseed:
    b = open(goseed, "rb").read()
    at = b.find(b"\xff Go buildinf:")
    while at >= 0 and at % 16:
        at = b.find(b"\xff Go buildinf:", at + 1)
    if at >= 0:
        seed("gobuildinfo", b[max(0, at - 512):at + 4096])
    seed("elf", b[:64 << 10])  # headers; the section table is cut off

for n in sorted(os.listdir("signatures")):
    if not n.endswith(".toml"):
        continue
    for r in tomllib.load(open(os.path.join("signatures", n), "rb")).get("rule", []):
        for ex in r.get("examples", []) + r.get("negative_examples", []):
            path = r.get("example_path", "/app/config")
            seed("rules", (path + "\n" + ex).encode())
            seed("rules", ex.encode())
        if r.get("kind") in ("secret-path", "residue"):
            seed("rules", (r.get("example_path", "/root/.ssh/id_rsa") + "\n").encode())
for n in os.listdir("tests/data"):
    p = os.path.join("tests/data", n)
    if n.endswith(".pem"):
        seed("rules", open(p, "rb").read())

for t in ("archive", "layout", "spec_json", "layer", "elf", "gobuildinfo", "rules"):
    d = os.path.join(root, t)
    print(f"corpus {t}: {len(os.listdir(d)) if os.path.isdir(d) else 0} files")
PY

# --- build -------------------------------------------------------------------
# Built once; the runs below start the binaries themselves (`cargo fuzz run`
# would rebuild first, and every target must test the same source).
"${FUZZ[@]}" build "${SAN[@]}" --debug-assertions --fuzz-dir fuzz >&2
host=$(rustc -vV | sed -n 's/^host: //p')
bindir=${CARGO_TARGET_DIR:-fuzz/target}/$host/release
echo "built at $(git rev-parse --short HEAD)$([ -z "$(git status --porcelain -- src Cargo.toml Cargo.lock)" ] || echo ' + uncommitted changes in src/'), sanitizer: $SANITIZER"

# --- run ---------------------------------------------------------------------
mkdir -p fuzz/logs
run_one() {
  local t=$1 log=fuzz/logs/$1.log
  mkdir -p "fuzz/artifacts/$t" "$tmp/$t"
  local before seeds start_n start rc=0
  before=$(ls "fuzz/artifacts/$t" | wc -l)
  seeds=$(ls "fuzz/corpus/$t" 2>/dev/null | grep -c '^seed-' || true)
  start_n=$(ls "fuzz/corpus/$t" 2>/dev/null | wc -l)
  start=$(date +%s)
  TMPDIR=$tmp/$t "$bindir/$t" "fuzz/corpus/$t" \
    -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -max_len=1048576 \
    -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1 || rc=$?
  local took=$(( $(date +%s) - start ))
  # The last status line: `#N DONE cov: C ft: F corp: K/S exec/s: E ...`
  # (or the last one before a crash); the totals from -print_final_stats.
  local status execs rate cov ft
  status=$(grep -E '^#[0-9]+' "$log" | tail -1)
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  execs=${execs:-$(sed -E 's/^#([0-9]+).*/\1/' <<<"$status")}
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' <<<"$status" | cut -d' ' -f2)
  ft=$(grep -oE 'ft: [0-9]+' <<<"$status" | cut -d' ' -f2)
  local final crashes kinds
  final=$(ls "fuzz/corpus/$t" | wc -l)
  crashes=$(( $(ls "fuzz/artifacts/$t" | wc -l) - before ))
  kinds=$(ls -t "fuzz/artifacts/$t" | head -n "$crashes" | sed 's/-.*//' | sort | uniq -c \
    | awk '{printf "%s%s %s", (NR>1?", ":""), $1, $2}')
  printf '%-12s %6ss %12s %8s %6s %7s %6s %6s %6s %s%s\n' "$t" "$took" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "$seeds" "$start_n" "$final" "$crashes" "${kinds:+ ($kinds)}"
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    echo "  $t: libFuzzer exited with $rc and left no artifact: see $log" >&2
  fi
}

echo
printf '%-12s %7s %12s %8s %6s %7s %6s %6s %6s %s\n' target time executions exec/s cov ft seeds corp0 corp1 crashes
i=0
for t in "${TARGETS[@]}"; do
  run_one "$t" &
  i=$((i + 1))
  if [ "$i" -ge "$JOBS" ]; then wait -n; i=$((i - 1)); fi
done
wait
