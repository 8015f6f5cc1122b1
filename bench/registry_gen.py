#!/usr/bin/env python3
"""Deterministic images for the registry cache benchmark (bench/registry-cache.sh).

Writes N OCI image layouts (one per image, the image named `1`) that share
their base layers, as images built FROM one base do:

  base     ~BASE MB   an OS-like tree of text and binary-ish files (all images)
  runtime  ~RT MB     one of two runtime layers (even / odd images)
  app      ~APP MB    the image's own files, with a planted Stripe-shaped key

Python 3 standard library only; gzip layers; same arguments, same bytes.

Usage: registry_gen.py --out DIR [--images 20] [--base-mb 32] [--runtime-mb 8] [--app-mb 2]
Prints one line per image: `<dir> <repository> <planted key>`.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import tarfile

WORDS = (
    "the of and to in is for on that with as by this be from are at or it an not "
    "config server request response handler error value buffer stream layer image "
    "package module import return func struct interface string bytes context table"
).split()
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
EPOCH = 1717171717


def pool(seed, size):
    r = random.Random(seed)
    out = io.StringIO()
    n = 0
    while n < size:
        line = " ".join(r.choice(WORDS) for _ in range(r.randint(4, 14)))
        if r.random() < 0.2:
            line += " %08x" % r.getrandbits(32)
        out.write(line + "\n")
        n += len(line) + 1
    return out.getvalue().encode()


TEXT = pool(1, 8 << 20)


def content(r, size):
    """`size` bytes of text sliced from the pool, some files binary-ish."""
    if r.random() < 0.15:
        return bytes(r.getrandbits(8) for _ in range(min(size, 4096))) + TEXT[: max(0, size - 4096)]
    start = r.randrange(0, len(TEXT) - size - 1) if size < len(TEXT) else 0
    return TEXT[start : start + size]


def layer(seed, root, total_mb, extra=()):
    """A gzip tar of files under `root` adding up to about `total_mb` MB."""
    r = random.Random(seed)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        budget = int(total_mb * 1_000_000)
        i = 0
        while budget > 0:
            size = min(budget, int(r.lognormvariate(9.5, 1.2)) + 64)
            path = "%s/d%02d/f%05d.%s" % (root, r.randrange(40), i, r.choice(["txt", "conf", "py", "so", "go"]))
            add(tar, path, content(r, size))
            budget -= size
            i += 1
        for path, data in extra:
            add(tar, path, data)
    tar_bytes = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", compresslevel=6, mtime=0) as f:
        f.write(tar_bytes)
    return tar_bytes, gz.getvalue()


def add(tar, path, data, mode=0o644):
    info = tarfile.TarInfo(path)
    info.size = len(data)
    info.mode = mode
    info.mtime = EPOCH
    tar.addfile(info, io.BytesIO(data))


def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def write_layout(out, layers, tag):
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(b):
        d = digest(b)
        with open(os.path.join(blobs, d[7:]), "wb") as f:
            f.write(b)
        return {"digest": d, "size": len(b)}

    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["/app/server"], "User": "65534", "ExposedPorts": {"8080/tcp": {}}},
        "rootfs": {"type": "layers", "diff_ids": [digest(t) for t, _ in layers]},
        "history": [{"created_by": "layer %d" % i} for i in range(len(layers))],
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(put(config), mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(put(gz), mediaType="application/vnd.oci.image.layer.v1.tar+gzip") for _, gz in layers],
    }, sort_keys=True).encode()
    desc = dict(put(manifest), mediaType="application/vnd.oci.image.manifest.v1+json",
                annotations={"org.opencontainers.image.ref.name": tag})
    with open(os.path.join(out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [desc]}, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--base-mb", type=float, default=32)
    ap.add_argument("--runtime-mb", type=float, default=8)
    ap.add_argument("--app-mb", type=float, default=2)
    a = ap.parse_args()
    base = layer("base", "usr/share", a.base_mb, [("etc/os-release", b"ID=alpine\nVERSION_ID=3.19.1\n")])
    runtimes = [layer("runtime%d" % k, "opt/runtime%d" % k, a.runtime_mb) for k in range(2)]
    for i in range(a.images):
        r = random.Random("key%d" % i)
        key = "sk_live_" + "".join(r.choice(ALNUM) for _ in range(32))
        app = layer("app%d" % i, "app", a.app_mb, [("app/.env", ("STRIPE_SECRET_KEY=%s\n" % key).encode())])
        repo = "team-%d/svc-%02d" % (i % 4, i)
        out = os.path.join(a.out, "img%02d" % i)
        write_layout(out, [base, runtimes[i % 2], app], "1")
        print(out, repo, key)


if __name__ == "__main__":
    main()
