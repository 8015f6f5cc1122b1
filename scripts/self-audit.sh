#!/usr/bin/env bash
# stowaway passes its own gate: build a static stowaway, put it in a FROM
# scratch image with the Docker engine, docker save it, and audit that image
# with the freshly built binary. Run by .ci/run on every commit.
set -euo pipefail
cd "$(dirname "$0")/.."

docker=/usr/bin/docker   # Debian's client: BuildKit built in, no buildx needed
if ! "$docker" info >/dev/null 2>&1; then
  echo "self-audit: the Docker engine cannot be reached" >&2
  exit 1
fi

RUSTFLAGS="-C target-feature=+crt-static -C strip=symbols" \
  cargo build --locked --release --target x86_64-unknown-linux-gnu --target-dir target/static
bin=target/static/x86_64-unknown-linux-gnu/release/stowaway

tag="stowaway-self-audit:$$"
out=$(mktemp -d)
trap '"$docker" rmi -f "$tag" >/dev/null 2>&1 || true; rm -rf "$out"' EXIT
DOCKER_BUILDKIT=1 "$docker" build -q -t "$tag" . >/dev/null
"$docker" save "$tag" -o "$out/stowaway.tar"

# stowaway makes no network calls, so its image needs no CA bundle.
"$bin" audit "$out/stowaway.tar" \
  --dockerfile Dockerfile \
  --expect-base scratch \
  --max-size 15MB \
  --skip-check ca-certificates \
  --fail-on low \
  --no-progress
