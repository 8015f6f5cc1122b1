//! The images the product is about: the seeds' Go payment service built
//! right (clean) and built wrong in every way the issue lists (leaky).

use super::{Entry, Image, Layer};

pub const API_KEY_PEM: &str = include_str!("../data/api-private-key.pem");
pub const TEST_CA_PEM: &str = include_str!("../data/test-ca.pem");
/// Twelve self-signed test CA certificates: a bundle the policy accepts.
pub const CA_BUNDLE: &str = include_str!("../data/ca-bundle.pem");
/// A 512-byte static x86-64 ELF (nostdlib `_start`), as a scratch image holds.
pub const STATIC_ELF: &[u8] = include_bytes!("../data/elf/static-amd64");
/// A dynamically linked x86-64 ELF needing /lib64/ld-linux-x86-64.so.2 and libc.so.6.
pub const DYNAMIC_ELF: &[u8] = include_bytes!("../data/elf/hello-dyn-amd64");
/// Fake credentials in the shapes real ones have.
pub const STRIPE_KEY: &str = "sk_live_51Hx9TqKc2Vb7NmWq4ZrT8yPdL3fGs0a";
pub const STRIPE_ENV_KEY: &str = "sk_live_9Qw3ErT6yU1iO4pA7sD0fG2hJ5kL8zX";
pub const AWS_KEY_ID: &str = "AKIA4QZ7XK2M9RLT3VNB";
pub const AWS_SECRET: &str = "q8Zr3Xv1Lk9Tb2Nw7Pf4Hs6Jd0Gm5Yc8Ua1Eo3Ri";
pub const BUILD_ARG_KEY: &str = "b3Zk9QxW2rT7yLp4Nv8Mh1Cj6Fd0Gs5A";

/// Every planted secret value, for the never-printed checks.
pub const PLANTED: &[&str] = &[STRIPE_KEY, STRIPE_ENV_KEY, AWS_SECRET, BUILD_ARG_KEY];

/// A static ELF followed by a few KB of string data holding `embedded`, as
/// a Go binary's rodata holds an `-ldflags -X` value.
pub fn fake_binary(embedded: &str) -> Vec<u8> {
    let mut b = STATIC_ELF.to_vec();
    b.resize(4096, 0);
    b.extend_from_slice(b"runtime.main\0net/http.ListenAndServe\0/health\0");
    b.extend_from_slice(embedded.as_bytes());
    b.extend_from_slice(b"\0main.apiKey\0");
    b.resize(8192, 0xcc);
    b
}

fn base_layer() -> Layer {
    Layer::new(vec![
        Entry::file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        Entry::file("etc/alpine-release", "3.19.1\n"),
        Entry::file("etc/ssl/cert.pem", TEST_CA_PEM),
        Entry::exec("bin/busybox", fake_binary("BusyBox v1.36")),
        Entry::symlink("bin/sh", "/bin/busybox"),
    ])
    .with_created_by("/bin/sh -c #(nop) ADD file:0a1b2c in / ")
}

/// The single-stage, key-copying, arg-passing build: every leak the issue
/// lists, each in its own layer.
pub fn leaky_image() -> Image {
    Image::new()
        .with_tag("finserve/payment:leaky")
        .with_layer(base_layer())
        .with_layer(
            Layer::new(vec![
                Entry::file("usr/local/go/bin/go", fake_binary("go1.22")),
                Entry::file("usr/local/go/src/fmt/print.go", "package fmt\n"),
                Entry::file("go/pkg/mod/cache/download/x.zip", "PK\x03\x04"),
                Entry::file("root/.cache/go-build/00/00a1-d", "cache"),
            ])
            .gzip()
            .with_created_by("RUN /bin/sh -c tar -C /usr/local -xzf go.tgz # buildkit"),
        )
        .with_layer(
            Layer::new(vec![Entry::file_mode("app/key.pem", API_KEY_PEM, 0o600)])
                .with_created_by("COPY api-private-key.pem /app/key.pem # buildkit"),
        )
        .with_layer(
            Layer::new(vec![Entry::whiteout("app/key.pem")])
                .with_created_by("RUN /bin/sh -c rm /app/key.pem # buildkit"),
        )
        .with_layer(
            Layer::new(vec![
                Entry::dir("run/secrets"),
                Entry::file("run/secrets/api_key", API_KEY_PEM),
            ])
            .zstd()
            .with_created_by("RUN /bin/sh -c cp -r /run/secrets /run/ # buildkit"),
        )
        .with_layer(
            Layer::new(vec![Entry::file_mode(
                "root/.aws/credentials",
                format!(
                    "[default]\naws_access_key_id = {AWS_KEY_ID}\naws_secret_access_key = {AWS_SECRET}\n"
                ),
                0o600,
            )])
            .with_created_by("COPY credentials /root/.aws/credentials # buildkit"),
        )
        .with_layer(
            Layer::new(vec![
                Entry::file("app/main.go", "package main\n\nfunc main() {}\n"),
                Entry::file("app/go.mod", "module finserve/payment\n\ngo 1.22\n"),
                Entry::exec("app/server", fake_binary(STRIPE_KEY)),
            ])
            .gzip()
            .with_created_by(format!(
                "RUN |1 API_KEY={BUILD_ARG_KEY} /bin/sh -c go build -o server . # buildkit"
            )),
        )
        .with_history(0, "ARG API_KEY")
        .with_env("PATH=/usr/local/go/bin:/usr/local/bin:/usr/bin:/bin")
        .with_env(format!("STRIPE_API_KEY={STRIPE_ENV_KEY}"))
        .with_exposed_port("8080/tcp")
        .with_working_dir("/app")
        .with_cmd(&["./server"])
}

/// The multi-stage build done right: the binary and CA certificates on scratch.
pub fn clean_image() -> Image {
    Image::new()
        .with_tag("finserve/payment:clean")
        .with_layer(
            Layer::new(vec![Entry::file(
                "etc/ssl/certs/ca-certificates.crt",
                CA_BUNDLE,
            )])
            .with_created_by("COPY /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ # buildkit"),
        )
        .with_layer(
            Layer::new(vec![Entry::exec("server", STATIC_ELF)])
                .with_created_by("COPY /app/server /server # buildkit"),
        )
        .with_history(0, "WORKDIR /")
        .with_exposed_port("8080/tcp")
        .with_user("65534")
        .with_entrypoint(&["/server"])
}
