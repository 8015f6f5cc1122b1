# stowaway's own image: one static binary on scratch, run as nobody.
# No base image can be pulled on the build machines, so the binary is built
# on the host first (glibc, statically linked: stowaway needs no NSS or dlopen):
#   RUSTFLAGS="-C target-feature=+crt-static -C strip=symbols" \
#     cargo build --release --target x86_64-unknown-linux-gnu --target-dir target/static
#   DOCKER_BUILDKIT=1 docker build -t stowaway .
FROM scratch
COPY target/static/x86_64-unknown-linux-gnu/release/stowaway /stowaway
USER 65534:65534
ENTRYPOINT ["/stowaway"]
