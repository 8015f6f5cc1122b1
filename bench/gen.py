#!/usr/bin/env python3
"""Deterministic generator of large, realistic container images for the
stowaway benchmark (issue 4).

Python 3 standard library only, plus the `zstd` command-line tool (Debian
package `zstd`) for the zstd layers. Everything is derived from fixed seeds:
the same gen.py and --scale give byte-identical images.

Images (sizes at --scale 1, uncompressed layer tars):

  go-single-stage  ~850 MB, 10 layers: a golang:1.22-like single-stage build
                   (Debian base, gcc/git, /usr/local/go toolchain, module
                   cache, sources with .git, build cache, a 15 MB binary)
  mixed-1g         ~1.07 GB, 9 layers: Python app image, text and binary
                   content, a `chmod -R` layer duplicating 150 MB, and a few
                   planted secrets (listed in meta.json "planted")
  one-huge-layer   ~1.3 GB in ONE layer: a squashed ML-serving image

Each image is written in four forms:

  docker.tar     docker save, classic (Engine < 25): <v1id>/layer.tar (plain tar)
  docker-gz.tar  ggcr/kaniko tarball: <digest>.tar.gz gzip layers, sha256:<hex> config
  oci-gzip.tar   OCI image archive (tar of a layout), gzip layers
  oci-zstd/      OCI image layout directory, zstd layers

plus meta.json (layer digests, sizes, uncompressed total, planted secrets).

Usage: gen.py --out DIR [--scale 1.0] [--only NAME ...] [--jobs N]
"""

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import zlib

KiB = 1 << 10
MiB = 1 << 20
EPOCH = 1717171717  # fixed mtime for every tar entry
CREATED = "2024-05-31T16:08:37Z"
FORMS = ("docker", "docker-gz", "oci-gzip", "oci-zstd")
GZIP_LEVEL = 6  # Go's compress/gzip DefaultCompression (docker, buildkit)
ZSTD_LEVEL = 3  # zstd default, as containerd/buildkit use

# ---------------------------------------------------------------------------
# Content pools: built once from a fixed seed, sliced at random offsets.
# Pools are large (16-32 MiB) so gzip (32 KiB window) and zstd level 3
# (2 MiB window) rarely see a slice twice: compression ratios stay realistic.
# ---------------------------------------------------------------------------

WORDS = """
the of and to in is for on that with as by this be from are at or it an not
which can have all if will more one has when new use used value values data
file files path name names type types error errors return returns config
request response server client cache build module package function method
field fields buffer bytes string strings index map list set key keys read
write open close start stop run runs time timeout context cancel deadline
user users group token tokens session state status code header headers body
parse parser format encode decode json yaml http https url host port addr
address network conn connection stream reader writer channel worker workers
queue job jobs task tasks event events handler handlers router route routes
metric metrics trace span log logger level debug info warn count size length
offset limit page pages table row rows column query result results commit
version release image layer manifest digest blob registry tag tags label
memory alloc free pool lock mutex atomic sync wait group signal process
exec command args flag flags option options default enable disable check
valid invalid missing unknown found update delete create insert select
""".split()

PKGS = """
runtime sync net/http encoding/json io os fmt strings bytes bufio context
crypto/tls crypto/sha256 crypto/x509 errors sort strconv time math reflect
unicode/utf8 path/filepath regexp compress/gzip archive/tar database/sql
net/url log/slog sync/atomic internal/poll internal/abi go/ast go/parser
go/types cmd/compile/internal/ssa cmd/compile/internal/types2
cmd/link/internal/ld github.com/spf13/cobra github.com/prometheus/client_golang/prometheus
google.golang.org/grpc google.golang.org/protobuf/proto go.uber.org/zap
github.com/stretchr/testify/assert golang.org/x/net/http2 golang.org/x/sys/unix
k8s.io/apimachinery/pkg/runtime k8s.io/client-go/rest github.com/aws/aws-sdk-go-v2/service/s3
github.com/jackc/pgx/v5 github.com/redis/go-redis/v9 go.opentelemetry.io/otel/trace
""".split()

GOTYPES = ["int", "int64", "uint32", "string", "[]byte", "error", "bool",
           "context.Context", "*http.Request", "io.Reader", "map[string]any",
           "time.Duration", "[]string", "*Config", "chan struct{}", "float64"]


def camel(r, n=2):
    return "".join(r.choice(WORDS).capitalize() for _ in range(n))


def lower_camel(r, n=2):
    s = camel(r, n)
    return s[0].lower() + s[1:]


def _lines_pool(r, size, make_line):
    out, n = [], 0
    while n < size:
        line = make_line(r)
        out.append(line)
        n += len(line) + 1
    return ("\n".join(out) + "\n").encode()


def _go_line(r):
    k = r.random()
    if k < 0.10:
        return "func (%s *%s) %s(%s %s, %s %s) (%s, error) {" % (
            r.choice("abcsvx"), camel(r), camel(r), lower_camel(r, 1), r.choice(GOTYPES),
            lower_camel(r, 1), r.choice(GOTYPES), r.choice(GOTYPES))
    if k < 0.22:
        return "\tif err != nil {\n\t\treturn nil, fmt.Errorf(\"%s %s: %%w\", err)\n\t}" % (
            r.choice(WORDS), r.choice(WORDS))
    if k < 0.38:
        return "\t%s := %s.%s(%s, %d)" % (lower_camel(r), r.choice(PKGS).split("/")[-1],
                                          camel(r), lower_camel(r), r.randrange(1, 4096))
    if k < 0.52:
        return "// %s %s" % (r.choice(WORDS).capitalize(),
                             " ".join(r.choice(WORDS) for _ in range(r.randrange(4, 14))) + ".")
    if k < 0.58:
        return "\tfor i := 0; i < len(%s); i++ {\n\t\t%s[i] = %s(%s[i])\n\t}" % (
            (lower_camel(r),) * 2 + (camel(r), lower_camel(r)))
    if k < 0.64:
        return "\tcase %s%s:\n\t\treturn %s" % (camel(r), r.choice(["", "Kind", "Op"]), lower_camel(r))
    if k < 0.70:
        return "type %s struct {\n\t%s %s\n\t%s %s `json:\"%s\"`\n}" % (
            camel(r), camel(r), r.choice(GOTYPES), camel(r), r.choice(GOTYPES), lower_camel(r))
    if k < 0.74:
        return "import \"%s\"" % r.choice(PKGS)
    if k < 0.77:
        # Realistic prefilter candidates that are not secrets.
        return r.choice([
            "\ttok := s.scanner.Scan() // token.%s" % camel(r, 1),
            "\tpassword := cfg.%s.Password // read from the environment" % camel(r, 1),
            "\tsecret, err := os.ReadFile(filepath.Join(dir, \"%s\"))" % r.choice(WORDS),
            "\tconst apiKeyHeader = \"X-Api-Key\"",
            "\t// see https://%s.example.org/%s" % (r.choice(WORDS), r.choice(WORDS)),
        ])
    if k < 0.90:
        return "\t%s.%s = %s.%s(%s)" % (lower_camel(r, 1), camel(r), r.choice(PKGS).split("/")[-1],
                                        camel(r), ", ".join(lower_camel(r, 1) for _ in range(r.randrange(0, 4))))
    return "\treturn %s, nil\n}\n" % lower_camel(r)


def _py_line(r):
    k = r.random()
    ind = "    " * r.randrange(0, 3)
    if k < 0.12:
        return "%sdef %s(self, %s, %s=None):" % (ind, "_".join(r.choice(WORDS) for _ in range(2)),
                                                 r.choice(WORDS), r.choice(WORDS))
    if k < 0.25:
        return '%s"""%s."""' % (ind + "    ", " ".join(r.choice(WORDS) for _ in range(r.randrange(4, 12))).capitalize())
    if k < 0.45:
        return "%s%s = %s.%s(%s)" % (ind, r.choice(WORDS), r.choice(WORDS), r.choice(WORDS),
                                     ", ".join(r.choice(WORDS) for _ in range(r.randrange(0, 4))))
    if k < 0.55:
        return "%sif %s is not None and %s > %d:" % (ind, r.choice(WORDS), r.choice(WORDS), r.randrange(100))
    if k < 0.62:
        return "from %s.%s import %s, %s" % (r.choice(WORDS), r.choice(WORDS), camel(r), camel(r))
    if k < 0.70:
        return "%sraise %sError(\"%s %s\")" % (ind, camel(r, 1), r.choice(WORDS), r.choice(WORDS))
    if k < 0.73:
        return "%stoken = request.headers.get(\"Authorization\", \"\")" % ind
    if k < 0.85:
        return "%s# %s" % (ind, " ".join(r.choice(WORDS) for _ in range(r.randrange(3, 12))))
    return "%sreturn self._%s" % (ind, r.choice(WORDS))


def _log_line(r):
    return ("2024-05-%02dT%02d:%02d:%02d.%03dZ %s [%s] %s /api/v%d/%s/%d status=%d dur=%dms "
            "ip=10.%d.%d.%d req=%016x ua=\"%s/%d.%d\"" % (
                r.randrange(1, 31), r.randrange(24), r.randrange(60), r.randrange(60), r.randrange(1000),
                r.choice(["INFO ", "INFO ", "INFO ", "DEBUG", "WARN ", "ERROR"]),
                r.choice(["http", "worker", "scheduler", "db", "cache", "auth"]),
                r.choice(["GET", "GET", "POST", "PUT", "DELETE"]), r.randrange(1, 3),
                r.choice(WORDS), r.randrange(100000),
                r.choice([200, 200, 200, 201, 204, 301, 400, 401, 404, 500]),
                r.randrange(1, 2000), r.randrange(256), r.randrange(256), r.randrange(256),
                r.getrandbits(64), r.choice(["curl", "python-requests", "Go-http-client", "Mozilla"]),
                r.randrange(1, 9), r.randrange(0, 40)))


def _conf_line(r):
    k = r.random()
    ind = "  " * r.randrange(0, 4)
    if k < 0.5:
        return "%s%s_%s: %s" % (ind, r.choice(WORDS), r.choice(WORDS),
                                r.choice([str(r.randrange(10000)), "true", "false", r.choice(WORDS),
                                          "/%s/%s" % (r.choice(WORDS), r.choice(WORDS))]))
    if k < 0.65:
        return "%s- name: %s-%s" % (ind, r.choice(WORDS), r.choice(WORDS))
    if k < 0.75:
        return "Package: %s-%s\nVersion: %d.%d.%d-%d\nArchitecture: amd64\nDescription: %s" % (
            r.choice(WORDS), r.choice(WORDS), r.randrange(10), r.randrange(30), r.randrange(20),
            r.randrange(5), " ".join(r.choice(WORDS) for _ in range(8)))
    if k < 0.80:
        return "%s%s_password_file: /run/secrets/%s" % (ind, r.choice(WORDS), r.choice(WORDS))
    if k < 0.90:
        return "/usr/%s/%s/%s" % (r.choice(["lib", "share", "bin"]), r.choice(WORDS), r.choice(WORDS))
    return "# %s" % " ".join(r.choice(WORDS) for _ in range(r.randrange(3, 10)))


def _doc_line(r):
    s = " ".join(r.choice(WORDS) for _ in range(r.randrange(6, 18)))
    return s[0].upper() + s[1:] + r.choice([".", ".", ",", ":"])


def _symbol(r):
    k = r.random()
    pkg = r.choice(PKGS)
    if k < 0.45:
        return "%s.(*%s).%s" % (pkg, camel(r), camel(r))
    if k < 0.7:
        return "%s.%s" % (pkg, camel(r))
    if k < 0.85:
        return "/usr/local/go/src/%s/%s.go" % (pkg, r.choice(WORDS))
    return "%s %s %s" % (r.choice(WORDS), r.choice(WORDS), r.choice(["failed", "not found", "too large", "invalid"]))


class Pools:
    def __init__(self):
        r = random.Random(0x57044A7)
        t = time.time()
        self.rand = r.randbytes(32 * MiB)
        # Machine-code-like: a Zipf-weighted dictionary of short "instruction"
        # snippets with skewed byte values (gzip ~2x on this).
        common = [0x00, 0x48, 0x89, 0x8b, 0xe8, 0xff, 0x0f, 0x24, 0x44, 0x4c, 0x83, 0xc0, 0x85, 0x74, 0x75, 0xeb]
        snippets = []
        for _ in range(16384):
            n = r.randrange(2, 11)
            snippets.append(bytes(r.choice(common) if r.random() < 0.55 else r.randrange(256) for _ in range(n)))
        weights = [1.0 / (i + 8) for i in range(len(snippets))]
        cum, acc = [], 0.0
        for w in weights:
            acc += w
            cum.append(acc)
        parts = r.choices(snippets, cum_weights=cum, k=(24 * MiB) // 6)
        self.code = b"".join(parts)
        self.strings = b"".join(s.encode() + (b"\x00" if r.random() < 0.3 else b"")
                                for s in (_symbol(r) for _ in range(200000)))
        self.go = _lines_pool(r, 12 * MiB, _go_line)
        self.py = _lines_pool(r, 12 * MiB, _py_line)
        self.log = _lines_pool(r, 12 * MiB, _log_line)
        self.conf = _lines_pool(r, 8 * MiB, _conf_line)
        self.doc = _lines_pool(r, 8 * MiB, _doc_line)
        # float16-like weights: exponent byte concentrated, mantissa random.
        w = bytearray(r.randbytes(32 * MiB))
        table = bytes((0x30 + (b % 12)) | (b & 0x80) for b in range(256))
        w[1::2] = bytes(w[1::2]).translate(table)
        self.weights = bytes(w)
        self.build_seconds = time.time() - t


POOLS = None


def pools():
    global POOLS
    if POOLS is None:
        POOLS = Pools()
    return POOLS


def slices(r, pool, size, lo=2 * KiB, hi=64 * KiB):
    """Yield `size` bytes taken as random slices of `pool`."""
    n = len(pool)
    while size > 0:
        seg = min(size, r.randrange(lo, hi))
        off = r.randrange(0, n - seg)
        yield pool[off:off + seg]
        size -= seg


ELF_HEADER = (b"\x7fELF\x02\x01\x01" + b"\x00" * 9 +
              struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x401000, 0, 0, 0, 64, 56, 0, 64, 0, 0))


def gen_binary(r, size):
    p = pools()
    head = ELF_HEADER[:size]
    yield head
    size -= len(head)
    choices = [(p.code, 0.46), (p.strings, 0.24), (p.rand, 0.12), (None, 0.10), (p.doc, 0.08)]
    while size > 0:
        x, acc = r.random(), 0.0
        for pool, w in choices:
            acc += w
            if x < acc:
                break
        seg = min(size, r.randrange(4 * KiB, 192 * KiB))
        if pool is None:
            yield bytes(seg)
        else:
            off = r.randrange(0, len(pool) - seg)
            yield pool[off:off + seg]
        size -= seg


def gen_content(kind, r, size, header):
    """Yield exactly `size` bytes of content of `kind`."""
    p = pools()
    if kind in ("bin", "obj"):
        yield from gen_binary(r, size)
        return
    if kind == "archive":
        yield from slices(r, p.rand, size, 16 * KiB, 256 * KiB)
        return
    if kind == "weights":
        yield from slices(r, p.weights, size, 256 * KiB, 2 * MiB)
        return
    pool = {"go": p.go, "py": p.py, "log": p.log, "conf": p.conf, "doc": p.doc}[kind]
    h = header[:size]
    yield h
    yield from slices(r, pool, size - len(h))


def overlay(chunks, inserts):
    """Patch `inserts` [(offset, bytes)] into a chunk stream (same length)."""
    pos = 0
    for c in chunks:
        end = pos + len(c)
        hit = [(o, b) for o, b in inserts if o < end and o + len(b) > pos]
        if hit:
            c = bytearray(c)
            for o, b in hit:
                lo, hi = max(o, pos), min(o + len(b), end)
                c[lo - pos:hi - pos] = b[lo - o:hi - o]
            c = bytes(c)
        yield c
        pos = end


class ChunkReader(io.RawIOBase):
    def __init__(self, chunks):
        self.it = iter(chunks)
        self.buf = b""

    def readable(self):
        return True

    def read(self, n=-1):
        parts, have = [self.buf], len(self.buf)
        while n < 0 or have < n:
            try:
                c = next(self.it)
            except StopIteration:
                break
            parts.append(c)
            have += len(c)
        data = b"".join(parts)
        if n < 0:
            self.buf = b""
            return data
        self.buf = data[n:]
        return data[:n]


# ---------------------------------------------------------------------------
# Image specifications. Sizes in bytes at scale 1; `total` of a group is
# multiplied by --scale, as are explicit big files (bounded below).
# ---------------------------------------------------------------------------

EXT = {"go": ".go", "py": ".py", "log": ".log", "conf": ".yaml", "doc": ".txt",
       "bin": "", "obj": "-d", "archive": ".zip", "weights": ".safetensors"}


def G(root, total_mb, kind, median_kb, sigma=1.0, ext=None, mode=0o644, depth=(1, 3), seed=None):
    return {"root": root, "total": int(total_mb * MiB), "kind": kind, "median": int(median_kb * KiB),
            "sigma": sigma, "ext": EXT[kind] if ext is None else ext, "mode": mode, "depth": depth,
            "seed": seed}


def F(path, kind=None, size=0, mode=0o644, data=None, inserts=(), min_size=0):
    return {"path": path, "kind": kind, "size": size, "mode": mode, "data": data,
            "inserts": list(inserts), "min_size": min_size}


def L(created_by, groups=(), files=(), whiteouts=(), dirs=()):
    return {"created_by": created_by, "groups": list(groups), "files": list(files),
            "whiteouts": list(whiteouts), "dirs": list(dirs)}


def debian_base(tag):
    return L("/bin/sh -c #(nop) ADD file:%s in / " % hashlib.sha256(tag.encode()).hexdigest()[:64], [
        G("usr/bin", 30, "bin", 60, 1.2, mode=0o755, depth=(0, 0)),
        G("usr/lib/x86_64-linux-gnu", 45, "bin", 150, 1.3, ext=".so", depth=(0, 1)),
        G("usr/share/doc", 8, "doc", 3, 1.0, ext="", depth=(1, 1)),
        G("var/lib/dpkg/info", 6, "conf", 2, 1.2, ext=".list", depth=(0, 0)),
        G("usr/share/zoneinfo", 3, "archive", 2, 0.8, ext="", depth=(1, 1)),
        G("etc", 1, "conf", 1, 1.0, ext=".conf", depth=(0, 1)),
    ], [
        F("etc/os-release", data=b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
          b'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'),
        F("etc/debian_version", data=b"12.5\n"),
        F("etc/passwd", data=b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
          b"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"),
        F("etc/group", data=b"root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n"),
        F("bin/sh", kind="bin", size=125 * KiB, mode=0o755),
        F("bin/bash", kind="bin", size=1400 * KiB, mode=0o755),
    ])


def spec_go_single_stage():
    return {
        "tag": "bench/go-single-stage:1.22",
        "env": ["PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "GOLANG_VERSION=1.22.5", "GOTOOLCHAIN=local", "GOPATH=/go"],
        "entrypoint": ["/app/server"], "workdir": "/src",
        "layers": [
            debian_base("go-single-stage"),
            L("RUN /bin/sh -c apt-get update && apt-get install -y --no-install-recommends g++ gcc libc6-dev make pkg-config git # buildkit", [
                G("usr/lib/gcc/x86_64-linux-gnu/12", 60, "bin", 1500, 1.6, mode=0o755, depth=(0, 1)),
                G("usr/bin", 20, "bin", 300, 1.2, mode=0o755, depth=(0, 0)),
                G("usr/lib/git-core", 25, "bin", 800, 1.0, mode=0o755, depth=(0, 0)),
                G("usr/include", 12, "go", 6, 1.1, ext=".h", depth=(0, 2)),
                G("usr/share/perl/5.36", 10, "doc", 8, 1.0, ext=".pm", depth=(1, 2)),
                G("var/lib/apt/lists", 35, "conf", 3000, 1.0, ext="_Packages", depth=(0, 0)),
            ]),
            L("RUN /bin/sh -c set -eux; url='https://dl.google.com/go/go1.22.5.linux-amd64.tar.gz'; wget -O go.tgz \"$url\"; tar -C /usr/local -xzf go.tgz; rm go.tgz # buildkit", [
                G("usr/local/go/src", 95, "go", 5, 1.1, depth=(1, 4)),
                G("usr/local/go/src/internal/testdata", 15, "archive", 40, 1.5, ext=".bin", depth=(0, 2)),
                G("usr/local/go/pkg/tool/linux_amd64", 75, "bin", 8000, 0.5, mode=0o755, depth=(0, 0)),
                G("usr/local/go/test", 12, "go", 3, 1.0, depth=(0, 2)),
                G("usr/local/go/api", 4, "doc", 200, 0.7, depth=(0, 0)),
                G("usr/local/go/doc", 3, "doc", 30, 1.0, ext=".html", depth=(0, 0)),
            ], [
                F("usr/local/go/bin/go", kind="bin", size=14 * MiB, mode=0o755, min_size=2 * MiB),
                F("usr/local/go/bin/gofmt", kind="bin", size=3 * MiB, mode=0o755, min_size=512 * KiB),
                F("usr/local/go/VERSION", data=b"go1.22.5\ntime 2024-06-27T20:11:12Z\n"),
                F("usr/local/go/lib/time/zoneinfo.zip", kind="archive", size=400 * KiB),
            ]),
            L("RUN /bin/sh -c mkdir -p \"$GOPATH/src\" \"$GOPATH/bin\" && chmod -R 1777 \"$GOPATH\" # buildkit",
              dirs=["go", "go/src", "go/bin"]),
            L("COPY go.mod go.sum ./ # buildkit", files=[
                F("src/go.mod", data=b"module example.com/payments\n\ngo 1.22\n\nrequire (\n\tgithub.com/jackc/pgx/v5 v5.6.0\n"
                  b"\tgoogle.golang.org/grpc v1.64.0\n)\n"),
                F("src/go.sum", kind="conf", size=24 * KiB),
            ]),
            L("RUN /bin/sh -c go mod download # buildkit", [
                G("go/pkg/mod/github.com", 70, "go", 6, 1.1, depth=(2, 5)),
                G("go/pkg/mod/golang.org/x", 30, "go", 6, 1.1, depth=(2, 4)),
                G("go/pkg/mod/google.golang.org", 20, "go", 7, 1.1, depth=(2, 4)),
                G("go/pkg/mod/cache/download", 45, "archive", 300, 1.2, depth=(2, 4)),
                G("go/pkg/mod/cache/download/sumdb", 2, "conf", 2, 1.0, ext=".info", depth=(1, 3)),
            ]),
            L("COPY . . # buildkit", [
                G("src/internal", 6, "go", 5, 1.0, depth=(1, 3)),
                G("src/.git/objects", 8, "archive", 8, 1.5, ext="", depth=(1, 1)),
            ]),
            L("RUN /bin/sh -c CGO_ENABLED=0 go build -o /app/server ./cmd/server # buildkit", [
                G("root/.cache/go-build", 140, "obj", 40, 1.5, depth=(1, 1)),
            ], [
                F("app/server", kind="bin", size=15 * MiB, mode=0o755, min_size=2 * MiB),
            ]),
            L("RUN /bin/sh -c go vet ./... && go test ./... # buildkit", [
                G("root/.cache/go-build", 40, "obj", 40, 1.5, depth=(1, 1), seed="vet"),
            ]),
            L("COPY config/ /app/config/ # buildkit", [
                G("app/config", 0.3, "conf", 4, 1.0, depth=(0, 1)),
            ]),
        ],
    }


def planted_secrets():
    r = random.Random(0xC0FFEE)
    alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    up = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    b64 = alnum + "+/"
    import base64
    body = base64.b64encode(r.randbytes(1190)).decode()
    pem = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(body[i:i + 64] for i in range(0, len(body), 64)) + \
          "\n-----END RSA PRIVATE KEY-----\n"
    akid = "AKIA" + "".join(r.choice(up) for _ in range(16))
    sak = "".join(r.choice(b64) for _ in range(40))
    stripe = "sk_live_" + "".join(r.choice(alnum) for _ in range(32))
    ghp = "ghp_" + "".join(r.choice(alnum) for _ in range(36))
    return pem.encode(), akid, sak, stripe, ghp


def spec_mixed_1g():
    pem, akid, sak, stripe, ghp = planted_secrets()
    aws_env = ("#!/bin/sh\n# deploy helper\nset -eu\nexport AWS_DEFAULT_REGION=eu-west-1\n"
               "export AWS_ACCESS_KEY_ID=%s\nexport AWS_SECRET_ACCESS_KEY=%s\n"
               "exec aws s3 sync /srv/app/static s3://assets-prod/static\n" % (akid, sak)).encode()
    straddle_at = MiB - 20  # the token spans bytes [1 MiB - 20, 1 MiB + 21)
    return {
        "tag": "bench/mixed-1g:latest",
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONUNBUFFERED=1",
                "APP_ENV=production"],
        "entrypoint": ["/usr/local/bin/gunicorn"], "cmd": ["app.wsgi"], "workdir": "/srv/app",
        "layers": [
            debian_base("mixed-1g"),
            L("RUN /bin/sh -c apt-get update && apt-get install -y python3 python3-venv && rm -rf /var/lib/apt/lists/* # buildkit", [
                G("usr/lib/python3.11", 60, "py", 12, 1.2, depth=(0, 3)),
                G("usr/lib/python3.11/lib-dynload", 20, "bin", 200, 1.0, ext=".so", depth=(0, 0)),
            ]),
            L("RUN /bin/sh -c pip install -r requirements.txt # buildkit", [
                G("usr/local/lib/python3.11/site-packages", 140, "py", 10, 1.3, depth=(1, 4)),
                G("usr/local/lib/python3.11/site-packages/_libs", 60, "bin", 1000, 1.2, ext=".so", depth=(1, 2)),
                G("root/.cache/pip/http", 40, "archive", 200, 1.3, ext="", depth=(2, 3)),
            ]),
            L("COPY assets/ /srv/app/static/ # buildkit", [
                G("srv/app/static/img", 110, "archive", 200, 1.4, ext=".png", depth=(0, 2)),
                G("srv/app/static/js", 20, "doc", 30, 1.2, ext=".js", depth=(0, 2)),
            ]),
            L("COPY . /srv/app # buildkit", [
                G("srv/app/app", 15, "py", 8, 1.0, depth=(1, 3)),
                G("srv/app/config", 1, "conf", 2, 1.0, depth=(0, 1)),
                G("srv/app/.git/objects", 10, "archive", 8, 1.5, ext="", depth=(1, 1)),
            ], [
                F("srv/app/config/tls/server.key", data=pem, mode=0o600),
                F("srv/app/deploy/aws-env.sh", data=aws_env, mode=0o755),
                F("srv/app/bin/payments-worker", kind="bin", size=24 * MiB, mode=0o755, min_size=3 * MiB,
                  inserts=[(int(2.3 * MiB) + 7, b"\x00STRIPE_KEY\x00" + stripe.encode() + b"\x00")]),
            ]),
            L("RUN /bin/sh -c python manage.py collectstatic --noinput && ./scripts/load-fixtures.sh # buildkit", [
                G("var/log/app", 150, "log", 4000, 1.0, seed="applogs", depth=(0, 1)),
            ], [
                F("var/lib/app/fixtures/dump.sql", kind="conf", size=96 * MiB, min_size=2 * MiB + 64 * KiB,
                  inserts=[(straddle_at, b"\nGITHUB_TOKEN=" + ghp.encode() + b"\n")]),
            ]),
            L("RUN /bin/sh -c chmod -R g+w /var/log/app # buildkit", [
                G("var/log/app", 150, "log", 4000, 1.0, seed="applogs", depth=(0, 1), mode=0o664),
            ]),
            L("RUN /bin/sh -c rm -f /srv/app/config/tls/server.key && useradd -r app # buildkit",
              whiteouts=["srv/app/config/tls/server.key"],
              files=[F("etc/passwd", data=b"root:x:0:0:root:/root:/bin/bash\napp:x:999:999::/home/app:/bin/sh\n")]),
            L("COPY models/ /srv/app/models/ # buildkit", [
                G("srv/app/models", 100, "weights", 50 * 1024, 0.2, depth=(0, 0)),
            ]),
        ],
        # The key sits at offset straddle_at - len("\nGITHUB_TOKEN=") + ...: computed below.
        "planted": [
            {"rule": "pem-private-key", "path": "/srv/app/config/tls/server.key", "layer": 4, "state": "deleted"},
            {"rule": "aws-access-key-id", "path": "/srv/app/deploy/aws-env.sh", "layer": 4, "state": "present"},
            {"rule": "aws-secret-access-key", "path": "/srv/app/deploy/aws-env.sh", "layer": 4, "state": "present"},
            {"rule": "stripe-secret-key", "path": "/srv/app/bin/payments-worker", "layer": 4, "state": "present",
             "note": "inside a 24 MB binary, NUL-delimited, at offset ~2.3 MiB"},
            {"rule": "github-token", "path": "/var/lib/app/fixtures/dump.sql", "layer": 5, "state": "present",
             "offset": straddle_at + len(b"\nGITHUB_TOKEN="),
             "note": "spans the 1 MiB boundary of a 96 MB file: bytes [%d, %d)" % (
                 straddle_at + 14, straddle_at + 14 + len(ghp))},
        ],
    }


def spec_one_huge_layer():
    return {
        "tag": "bench/one-huge-layer:latest",
        "env": ["PATH=/opt/conda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "MODEL_DIR=/models"],
        "entrypoint": ["/opt/conda/bin/python", "-m", "serve"], "workdir": "/srv",
        "layers": [
            L("/bin/sh -c #(nop) squashed image (docker export | docker import)", [
                G("usr/bin", 30, "bin", 60, 1.2, mode=0o755, depth=(0, 0)),
                G("usr/lib/x86_64-linux-gnu", 50, "bin", 150, 1.3, ext=".so", depth=(0, 1)),
                G("usr/share/doc", 10, "doc", 3, 1.0, ext="", depth=(1, 1)),
                G("opt/conda/lib/python3.11", 120, "py", 10, 1.3, depth=(1, 4)),
                G("opt/conda/lib/python3.11/site-packages/torch/lib", 330, "bin", 20 * 1024, 1.0,
                  ext=".so", depth=(0, 0)),
                G("opt/conda/pkgs", 60, "archive", 2000, 1.2, ext=".conda", depth=(0, 0)),
                G("srv/app", 20, "py", 8, 1.0, depth=(1, 3)),
                G("var/log", 30, "log", 2000, 1.0, depth=(0, 1)),
                G("models", 650, "weights", 160 * 1024, 0.3, depth=(0, 1)),
            ], [
                F("etc/os-release", data=b'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\n'),
            ]),
        ],
    }


SPECS = {
    "go-single-stage": spec_go_single_stage,
    "mixed-1g": spec_mixed_1g,
    "one-huge-layer": spec_one_huge_layer,
}

# ---------------------------------------------------------------------------
# Layer tar writing
# ---------------------------------------------------------------------------


def seed_of(*parts):
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "big")


class HashWriter:
    def __init__(self, f):
        self.f, self.h, self.n = f, hashlib.sha256(), 0

    def write(self, b):
        self.f.write(b)
        self.h.update(b)
        self.n += len(b)
        return len(b)

    def tell(self):
        return self.n

    def flush(self):
        pass


class LayerWriter:
    def __init__(self, fileobj):
        self.tar = tarfile.open(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT)
        self.tar.copybufsize = MiB
        self.dirs = set()
        self.names = set()
        self.files = 0
        self.bytes = 0

    def _info(self, name, typ, size=0, mode=0o644):
        ti = tarfile.TarInfo(name)
        ti.type, ti.size, ti.mode, ti.mtime = typ, size, mode, EPOCH
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        return ti

    def mkdir(self, path):
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in self.dirs:
                self.dirs.add(d)
                self.tar.addfile(self._info(d + "/", tarfile.DIRTYPE, mode=0o755))

    def add(self, path, size, chunks, mode=0o644):
        if path in self.names:
            return False
        self.names.add(path)
        self.mkdir(path.rsplit("/", 1)[0] if "/" in path else "")
        ti = self._info(path, tarfile.REGTYPE, size, mode)
        if size <= 256 * KiB:
            data = b"".join(chunks)
            assert len(data) == size, (path, len(data), size)
            self.tar.addfile(ti, io.BytesIO(data))
        else:
            self.tar.addfile(ti, ChunkReader(chunks))
        self.files += 1
        self.bytes += size
        return True

    def whiteout(self, path):
        d, _, name = path.rpartition("/")
        self.mkdir(d)
        self.tar.addfile(self._info((d + "/" if d else "") + ".wh." + name, tarfile.REGTYPE, 0, 0o644),
                         io.BytesIO(b""))

    def close(self):
        self.tar.close()


def group_dirs(r, root, n, depth):
    dirs = []
    for _ in range(max(1, n)):
        d = r.randrange(depth[0], depth[1] + 1)
        parts = [root]
        for _ in range(d):
            w = r.choice(WORDS)
            parts.append(r.choice([w, w, "%s%s" % (w, r.choice(WORDS)), "v%d" % r.randrange(1, 5),
                                   "%02x" % r.randrange(256)]))
        dirs.append("/".join(parts))
    return dirs


def write_group(lw, g, scale, seed):
    r = random.Random(seed)
    total = max(int(g["total"] * scale), 1)
    median = min(g["median"], max(total // 3, 512))
    mu = __import__("math").log(max(median, 16))
    # Number of directories ~ files / 10.
    est_files = max(1, total // max(median, 1))
    dirs = group_dirs(r, g["root"], max(1, est_files // 10), g["depth"])
    done = 0
    while done < total:
        size = int(r.lognormvariate(mu, g["sigma"]))
        size = max(0, min(size, total - done, 512 * MiB))
        if total - done - size < 256:
            size = total - done
        d = r.choice(dirs)
        if g["kind"] == "obj":
            name = "%064x" % r.getrandbits(256) + g["ext"]
        else:
            name = "%s_%s%s" % (r.choice(WORDS), r.choice(WORDS), g["ext"]) if r.random() < 0.7 else \
                "%s%d%s" % (r.choice(WORDS), r.randrange(1000), g["ext"])
        path = d + "/" + name
        fr = random.Random(r.getrandbits(64))
        header = ("// %s\n" if g["kind"] == "go" else "# %s\n") % path
        if lw.add(path, size, gen_content(g["kind"], fr, size, header.encode()), g["mode"]):
            done += size


def write_layer(path, image, idx, layer, scale):
    with open(path, "wb") as f:
        hw = HashWriter(f)
        lw = LayerWriter(hw)
        for d in layer["dirs"]:
            lw.mkdir(d)
        for gi, g in enumerate(layer["groups"]):
            seed = seed_of(image, g["seed"] or idx, gi if g["seed"] is None else "", g["root"])
            write_group(lw, g, scale, seed)
        for fi, fs in enumerate(layer["files"]):
            if fs["data"] is not None:
                data = fs["data"]
                chunks = iter([data])
                size = len(data)
            else:
                size = max(int(fs["size"] * scale), fs["min_size"]) if fs["size"] >= MiB else fs["size"]
                fr = random.Random(seed_of(image, idx, "file", fs["path"]))
                chunks = gen_content(fs["kind"], fr, size, ("# %s\n" % fs["path"]).encode())
            if fs["inserts"]:
                for o, b in fs["inserts"]:
                    assert o + len(b) <= size, (fs["path"], o, size)
                chunks = overlay(chunks, fs["inserts"])
            lw.add(fs["path"], size, chunks, fs["mode"])
        for w in layer["whiteouts"]:
            lw.whiteout(w)
        lw.close()
    return "sha256:" + hw.h.hexdigest(), hw.n, lw.files, lw.bytes


def hash_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                break
            h.update(b)
    return "sha256:" + h.hexdigest()


def gzip_file(src, dst):
    h, n = hashlib.sha256(), 0
    c = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        while True:
            b = fi.read(4 * MiB)
            out = c.compress(b) if b else c.flush()
            if out:
                fo.write(out)
                h.update(out)
                n += len(out)
            if not b:
                break
    return "sha256:" + h.hexdigest(), n


def zstd_file(src, dst):
    subprocess.run(["zstd", "-q", "-f", "-%d" % ZSTD_LEVEL, "-T1", "--no-progress", src, "-o", dst], check=True)
    return hash_file(dst), os.path.getsize(dst)


def layer_task(args):
    image, idx, scale, work = args
    t0 = time.time()
    spec = SPECS[image]()
    layer = spec["layers"][idx]
    tar = os.path.join(work, "layer-%02d.tar" % idx)
    diff_id, size, files, file_bytes = write_layer(tar, image, idx, layer, scale)
    t1 = time.time()
    gz_digest, gz_size = gzip_file(tar, tar + ".gz")
    t2 = time.time()
    zst_digest, zst_size = zstd_file(tar, tar + ".zst")
    t3 = time.time()
    return {"image": image, "index": idx, "diff_id": diff_id, "size": size, "files": files,
            "file_bytes": file_bytes, "created_by": layer["created_by"],
            "gzip": {"digest": gz_digest, "size": gz_size}, "zstd": {"digest": zst_digest, "size": zst_size},
            "seconds": {"tar": round(t1 - t0, 1), "gzip": round(t2 - t1, 1), "zstd": round(t3 - t2, 1)}}


# ---------------------------------------------------------------------------
# Image forms
# ---------------------------------------------------------------------------

def jbytes(v):
    return json.dumps(v, separators=(",", ":"), sort_keys=False).encode()


def config_json(spec, layers):
    history = []
    for l in layers:
        history.append({"created": CREATED, "created_by": l["created_by"],
                        "comment": "buildkit.dockerfile.v0" if "# buildkit" in l["created_by"] else ""})
    cfg = {"Env": spec["env"], "Entrypoint": spec["entrypoint"], "WorkingDir": spec["workdir"]}
    if spec.get("cmd"):
        cfg["Cmd"] = spec["cmd"]
    return jbytes({"architecture": "amd64", "os": "linux", "created": CREATED, "config": cfg,
                   "rootfs": {"type": "layers", "diff_ids": [l["diff_id"] for l in layers]},
                   "history": history})


def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def hexd(d):
    return d.split(":", 1)[1]


class OuterTar:
    """A tar written member by member (files from disk or bytes)."""

    def __init__(self, path):
        self.tar = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)
        self.tar.copybufsize = 4 * MiB

    def _ti(self, name, size, typ=tarfile.REGTYPE):
        ti = tarfile.TarInfo(name)
        ti.size, ti.mtime, ti.mode, ti.type = size, EPOCH, 0o644 if typ == tarfile.REGTYPE else 0o755, typ
        return ti

    def bytes(self, name, data):
        self.tar.addfile(self._ti(name, len(data)), io.BytesIO(data))

    def file(self, name, path):
        with open(path, "rb") as f:
            self.tar.addfile(self._ti(name, os.path.getsize(path)), f)

    def dir(self, name):
        self.tar.addfile(self._ti(name, 0, tarfile.DIRTYPE))

    def close(self):
        self.tar.close()


def oci_manifest(config, layers, comp):
    mt = "application/vnd.oci.image.layer.v1.tar+" + comp
    return jbytes({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                              "digest": digest(config), "size": len(config)},
                   "layers": [{"mediaType": mt, "digest": l[comp]["digest"], "size": l[comp]["size"]}
                              for l in layers]})


def oci_index(manifest, tag):
    return jbytes({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                  "digest": digest(manifest), "size": len(manifest),
                                  "annotations": {"org.opencontainers.image.ref.name": tag.split(":")[-1],
                                                  "io.containerd.image.name": "docker.io/" + tag}}]})


OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


def assemble(image, spec, layers, work, out):
    config = config_json(spec, layers)
    tag = spec["tag"]
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    # docker save, classic: <v1id>/{VERSION,json,layer.tar}, <cfg>.json, manifest.json, repositories
    t = OuterTar(os.path.join(tmp, "docker.tar"))
    parent, chain, paths = None, None, []
    cfg_hex = hexd(digest(config))
    for i, l in enumerate(layers):
        chain = l["diff_id"] if chain is None else digest((chain + " " + l["diff_id"]).encode())
        top = i == len(layers) - 1
        v1 = hashlib.sha256(jbytes({"chain": chain, "parent": parent, "config": cfg_hex if top else None})).hexdigest()
        v1json = {"id": v1, "created": CREATED, "container_config": {}, "os": "linux"}
        if parent:
            v1json["parent"] = parent
        t.dir(v1 + "/")
        t.bytes(v1 + "/VERSION", b"1.0")
        t.bytes(v1 + "/json", jbytes(v1json))
        t.file(v1 + "/layer.tar", os.path.join(work, "layer-%02d.tar" % i))
        paths.append(v1 + "/layer.tar")
        parent = v1
    t.bytes(cfg_hex + ".json", config)
    t.bytes("manifest.json", jbytes([{"Config": cfg_hex + ".json", "RepoTags": [tag], "Layers": paths}]) + b"\n")
    name, _, ver = tag.rpartition(":")
    t.bytes("repositories", jbytes({name: {ver: parent}}) + b"\n")
    t.close()
    # ggcr / kaniko tarball: sha256:<cfg>, <digest>.tar.gz, manifest.json
    t = OuterTar(os.path.join(tmp, "docker-gz.tar"))
    t.bytes("sha256:" + cfg_hex, config)
    names = []
    for i, l in enumerate(layers):
        n = hexd(l["gzip"]["digest"]) + ".tar.gz"
        if n not in names:
            t.file(n, os.path.join(work, "layer-%02d.tar.gz" % i))
        names.append(n)
    t.bytes("manifest.json", jbytes([{"Config": "sha256:" + cfg_hex, "RepoTags": [tag], "Layers": names}]))
    t.close()
    # OCI archive, gzip layers
    man = oci_manifest(config, layers, "gzip")
    t = OuterTar(os.path.join(tmp, "oci-gzip.tar"))
    t.bytes("oci-layout", OCI_LAYOUT)
    t.bytes("index.json", oci_index(man, tag))
    t.dir("blobs/")
    t.dir("blobs/sha256/")
    seen = set()
    for i, l in enumerate(layers):
        if l["gzip"]["digest"] not in seen:
            seen.add(l["gzip"]["digest"])
            t.file("blobs/sha256/" + hexd(l["gzip"]["digest"]), os.path.join(work, "layer-%02d.tar.gz" % i))
    t.bytes("blobs/sha256/" + cfg_hex, config)
    t.bytes("blobs/sha256/" + hexd(digest(man)), man)
    t.close()
    # OCI layout directory, zstd layers (blobs hard-linked from the work dir)
    man = oci_manifest(config, layers, "zstd")
    d = os.path.join(tmp, "oci-zstd")
    os.makedirs(os.path.join(d, "blobs", "sha256"))
    with open(os.path.join(d, "oci-layout"), "wb") as f:
        f.write(OCI_LAYOUT)
    with open(os.path.join(d, "index.json"), "wb") as f:
        f.write(oci_index(man, tag))
    for i, l in enumerate(layers):
        dst = os.path.join(d, "blobs", "sha256", hexd(l["zstd"]["digest"]))
        if not os.path.exists(dst):
            os.link(os.path.join(work, "layer-%02d.tar.zst" % i), dst)
    for b in (config, man):
        with open(os.path.join(d, "blobs", "sha256", hexd(digest(b))), "wb") as f:
            f.write(b)
    return tmp


def source_key(scale):
    with open(os.path.abspath(__file__), "rb") as f:
        src = f.read()
    return hashlib.sha256(src + ("|scale=%r|py=%s" % (scale, sys.version.split()[0])).encode()).hexdigest()[:16]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory (one sub-directory per image)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply sizes by this (e.g. 0.1 for a quick run)")
    ap.add_argument("--only", action="append", choices=sorted(SPECS), help="generate only this image (repeatable)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--force", action="store_true", help="regenerate even if cached")
    a = ap.parse_args()
    if shutil.which("zstd") is None:
        sys.exit("gen.py: the zstd command is needed (Debian: apt-get install zstd)")
    names = a.only or list(SPECS)
    key = source_key(a.scale)
    todo = []
    for name in names:
        meta = os.path.join(a.out, name, "meta.json")
        if not a.force and os.path.exists(meta):
            with open(meta) as f:
                if json.load(f).get("key") == key:
                    print("gen: %s cached (key %s)" % (name, key), flush=True)
                    continue
        todo.append(name)
    if not todo:
        return
    t0 = time.time()
    pools()  # build before forking so workers share them
    print("gen: pools built in %.1fs" % POOLS.build_seconds, flush=True)
    tasks = []
    for name in todo:
        work = os.path.join(a.out, ".work", name)
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        spec = SPECS[name]()
        for i in range(len(spec["layers"])):
            est = sum(g["total"] for g in spec["layers"][i]["groups"])
            tasks.append((est, (name, i, a.scale, work)))
    tasks.sort(key=lambda t: -t[0])  # biggest first: better packing across workers
    results = {}
    import multiprocessing
    with multiprocessing.get_context("fork").Pool(a.jobs) as pool:
        for res in pool.imap_unordered(layer_task, [t[1] for t in tasks]):
            results[(res["image"], res["index"])] = res
            print("gen: %s layer %d: %d files, %.1f MB tar -> gzip %.1f MB, zstd %.1f MB (%s)" % (
                res["image"], res["index"], res["files"], res["size"] / 1e6, res["gzip"]["size"] / 1e6,
                res["zstd"]["size"] / 1e6, res["seconds"]), flush=True)
    for name in todo:
        spec = SPECS[name]()
        layers = [results[(name, i)] for i in range(len(spec["layers"]))]
        work = os.path.join(a.out, ".work", name)
        out = os.path.join(a.out, name)
        tmp = assemble(name, spec, layers, work, out)
        meta = {"key": key, "image": name, "scale": a.scale, "tag": spec["tag"],
                "layers": [{k: l[k] for k in ("index", "diff_id", "size", "files", "file_bytes", "gzip", "zstd",
                                               "created_by")} for l in layers],
                "uncompressed_bytes": sum(l["size"] for l in layers),
                "files": sum(l["files"] for l in layers),
                "gzip_bytes": sum(l["gzip"]["size"] for l in layers),
                "zstd_bytes": sum(l["zstd"]["size"] for l in layers),
                "forms": {"docker": "docker.tar", "docker-gz": "docker-gz.tar", "oci-gzip": "oci-gzip.tar",
                          "oci-zstd": "oci-zstd"},
                "planted": spec.get("planted", [])}
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        shutil.rmtree(out, ignore_errors=True)
        os.rename(tmp, out)
        shutil.rmtree(work, ignore_errors=True)
        print("gen: %s: %d layers, %d files, %.1f MB uncompressed, gzip %.1f MB (%.2fx), zstd %.1f MB (%.2fx)" % (
            name, len(layers), meta["files"], meta["uncompressed_bytes"] / 1e6, meta["gzip_bytes"] / 1e6,
            meta["uncompressed_bytes"] / meta["gzip_bytes"], meta["zstd_bytes"] / 1e6,
            meta["uncompressed_bytes"] / meta["zstd_bytes"]), flush=True)
    shutil.rmtree(os.path.join(a.out, ".work"), ignore_errors=True)
    print("gen: done in %.0fs" % (time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
