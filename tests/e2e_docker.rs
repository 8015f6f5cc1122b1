//! End to end with the real Docker Engine: the seed's Go service built
//! exactly as a user would (`DOCKER_BUILDKIT=1 docker build --secret
//! id=api_key,src=KEY`), in every variant the issue lists, saved with
//! `docker save` (the engine's own format: classic on Engine 20.10), converted
//! with skopeo to an OCI layout and an OCI archive, and audited in all three
//! forms, which must give the same verdict.
//!
//! Offline by construction: the base is the genuine Alpine 3.11 image from
//! `../shared/real-images/trivy/alpine-311.tar.gz` (`docker load`), the Go
//! binary is built on the host with Debian's golang-go, nothing is pulled
//! (no `# syntax=` line, no Go builder image). The Dockerfiles are in
//! `tests/data/dockerfiles/e2e/`.
//!
//! Needs: a reachable Docker Engine (`/usr/bin/docker`, Debian's 20.10 client:
//! the newer `docker` first on PATH wants buildx), `go`, `openssl`, `skopeo`.
//! If the engine cannot be reached the tests FAIL: they never skip.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

const DOCKER: &str = "/usr/bin/docker";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `cmd`, panicking with its stderr when it fails.
fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {cmd:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn docker() -> Command {
    let mut c = Command::new(DOCKER);
    c.env("DOCKER_BUILDKIT", "1");
    c
}

fn go() -> Command {
    let mut c = Command::new("go");
    c.current_dir(manifest_dir().join("tests/data/goservice"))
        .env("CGO_ENABLED", "0")
        .env("GOFLAGS", "-mod=mod")
        .env("GOCACHE", std::env::temp_dir().join("stowaway-go-cache"));
    c
}

/// Once per test process: the engine answers, `alpine:3.11` is loaded, the Go
/// build cache is warm (so the tests' own builds only link).
fn setup() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let info = Command::new(DOCKER).arg("info").output();
        match info {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "the Docker Engine cannot be reached (`{DOCKER} info` failed: {}): \
                 the e2e tests need a running engine and do not skip\n{}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!(
                "cannot run {DOCKER} ({e}): install Debian's docker.io client; \
                 the e2e tests do not skip"
            ),
        }
        // docker load < gunzip -c alpine-311.tar.gz (idempotent).
        let gz = manifest_dir().join("../shared/real-images/trivy/alpine-311.tar.gz");
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(
            std::fs::File::open(&gz)
                .unwrap_or_else(|e| panic!("{}: {e} (../shared beside the repo)", gz.display())),
        )
        .read_to_end(&mut tar)
        .expect("gunzip alpine-311.tar.gz");
        let mut child = docker()
            .args(["load", "-q"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker load");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(&tar).expect("feed docker load");
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "docker load alpine:3.11: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ok = run(
            docker()
                .args(["image", "inspect", "--format", "{{.Os}}/{{.Architecture}}"])
                .arg("alpine:3.11"),
            "docker image inspect alpine:3.11",
        );
        assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "linux/amd64");
        let warm = tempfile::tempdir().unwrap();
        run(
            go().args(["build", "-buildvcs=false", "-o"])
                .arg(warm.path().join("server"))
                .arg("./cmd/server"),
            "go build (install Debian's golang-go; .ci/run does)",
        );
    });
}

/// The Go service built on the host: static (CGO off), no VCS stamp (the
/// verdict must not depend on the checkout being clean).
fn go_build(out: &Path, flags: &[&str]) {
    let mut c = go();
    c.args(["build", "-buildvcs=false"])
        .args(flags)
        .arg("-o")
        .arg(out)
        .arg("./cmd/server");
    run(&mut c, "go build");
}

/// A fresh P-256 key (PKCS#8 PEM), written to `path`; returns its text.
fn gen_key(path: &Path) -> String {
    run(
        Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
            ])
            .arg(path),
        "openssl genpkey",
    );
    std::fs::read_to_string(path).unwrap()
}

fn random_alnum(n: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut f = std::fs::File::open("/dev/urandom").unwrap();
    let mut out = String::new();
    let mut b = [0u8; 64];
    while out.len() < n {
        f.read_exact(&mut b).unwrap();
        // 248 = 4 * 62: no modulo bias.
        out.extend(
            b.iter()
                .filter(|&&x| x < 248)
                .map(|&x| A[(x % 62) as usize] as char),
        );
    }
    out.truncate(n);
    out
}

/// A Stripe-shaped fake live key, fresh per run.
fn fake_stripe_key() -> String {
    format!("sk_live_{}", random_alnum(30))
}

/// stowaway's fingerprint of a secret: the first 16 hex digits of its sha256
/// (src/redact.rs). A PEM match is the block from `-----BEGIN` to the end
/// armor, without the trailing newline.
fn fp(secret: &str) -> String {
    sha256_hex(secret.as_bytes())[..16].to_string()
}

fn pem_fp(pem: &str) -> String {
    fp(pem.trim_end())
}

/// Removes the image it names when dropped, even when the test failed.
struct ImageGuard(String);

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let _ = Command::new(DOCKER)
            .args(["rmi", "-f", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// One variant built and written in the three forms.
struct Built {
    _guard: ImageGuard,
    _dir: tempfile::TempDir,
    forms: Vec<(&'static str, PathBuf)>,
}

/// Builds `tests/data/dockerfiles/e2e/<variant>.Dockerfile` in the context
/// `ctx` (Dockerfile copied in), with the key as the `api_key` secret, saves
/// it and converts it with skopeo.
fn build(
    variant: &str,
    dir: tempfile::TempDir,
    ctx: &Path,
    secret: &Path,
    build_args: &[String],
) -> Built {
    build_target(variant, None, dir, ctx, secret, build_args)
}

/// [`build`] of one `--target` stage of the variant's Dockerfile.
fn build_target(
    variant: &str,
    target: Option<&str>,
    dir: tempfile::TempDir,
    ctx: &Path,
    secret: &Path,
    build_args: &[String],
) -> Built {
    let t = Instant::now();
    let name = target.unwrap_or(variant);
    let tag = format!("stowaway-e2e-{name}:{}", std::process::id());
    let dockerfile =
        manifest_dir().join(format!("tests/data/dockerfiles/e2e/{variant}.Dockerfile"));
    std::fs::copy(&dockerfile, ctx.join("Dockerfile")).unwrap();
    let guard = ImageGuard(tag.clone());
    let mut c = docker();
    c.args(["build", "-q", "--secret"])
        .arg(format!("id=api_key,src={}", secret.display()));
    for a in build_args {
        c.args(["--build-arg", a]);
    }
    if let Some(t) = target {
        c.args(["--target", t]);
    }
    c.args(["-t", &tag, "-f"])
        .arg(ctx.join("Dockerfile"))
        .arg(ctx);
    run(&mut c, &format!("docker build {name}"));
    let variant = name;
    let classic = dir.path().join(format!("{variant}.tar"));
    run(
        docker().args(["save", "-o"]).arg(&classic).arg(&tag),
        "docker save",
    );
    let layout = dir.path().join(format!("{variant}-oci"));
    let archive = dir.path().join(format!("{variant}.oci.tar"));
    for dest in [
        format!("oci:{}:{variant}", layout.display()),
        format!("oci-archive:{}:{variant}", archive.display()),
    ] {
        run(
            Command::new("skopeo").args([
                "--insecure-policy",
                "copy",
                "-q",
                &format!("docker-archive:{}", classic.display()),
                &dest,
            ]),
            "skopeo copy (apt-get install skopeo; .ci/run does)",
        );
    }
    eprintln!(
        "{variant}: built, saved and converted in {:.1?}",
        t.elapsed()
    );
    Built {
        _guard: guard,
        _dir: dir,
        forms: vec![
            ("docker-archive", classic),
            ("oci-layout", layout),
            ("oci-archive", archive),
        ],
    }
}

/// Everything of a report that must not depend on the form: one line per
/// finding and per policy result, sorted.
fn verdict(img: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for f in img["findings"].as_array().unwrap() {
        out.push(format!(
            "{} {} {} L{} {} {} {}={} fp={} x{}",
            f["severity"].as_str().unwrap(),
            f["rule"].as_str().unwrap(),
            f["where"].as_str().unwrap(),
            f["layer"],
            f["path"].as_str().unwrap_or("-"),
            f["state"].as_str().unwrap_or("-"),
            f["config_field"].as_str().unwrap_or("-"),
            f["config_key"].as_str().unwrap_or("-"),
            f["fingerprint"].as_str().unwrap_or("-"),
            f["occurrences"],
        ));
    }
    for p in img["policy"].as_array().unwrap() {
        out.push(format!(
            "policy {} {}",
            p["check"].as_str().unwrap(),
            p["status"].as_str().unwrap()
        ));
    }
    out.sort();
    out
}

fn diff_ids(img: &Value) -> Vec<String> {
    img["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["diff_id"].as_str().unwrap().to_string())
        .collect()
}

/// Audits every form with `args`; checks exit code, format, one image, the
/// same verdict and the same layers (by diff_id) in each, and that no output
/// holds any of `secrets`. Returns the docker-archive image report.
fn audit_all(built: &Built, args: &[&str], want_code: i32, secrets: &[&str]) -> Value {
    let mut first: Option<(Vec<String>, Vec<String>, Value)> = None;
    for (format, path) in &built.forms {
        let t = Instant::now();
        let mut a: Vec<&std::ffi::OsStr> = vec!["audit".as_ref(), path.as_os_str()];
        a.extend(
            ["--format", "json", "--no-progress"]
                .iter()
                .map(std::ffi::OsStr::new),
        );
        a.extend(args.iter().map(std::ffi::OsStr::new));
        let (code, out, err) = stowaway(&a);
        eprintln!("  audit {format}: exit {code} in {:.1?}", t.elapsed());
        for s in secrets {
            assert!(
                !out.contains(s) && !err.contains(s),
                "{format}: a secret was printed"
            );
        }
        assert_eq!(code, want_code, "{format}: exit code; stderr: {err}\n{out}");
        let report: Value = serde_json::from_str(&out).expect("JSON report");
        let images = report["images"].as_array().unwrap();
        assert_eq!(images.len(), 1, "{format}");
        let img = images[0].clone();
        assert_eq!(img["format"], *format, "{format}");
        assert_eq!(img["platform"], "linux/amd64", "{format}");
        let v = verdict(&img);
        let d = diff_ids(&img);
        match &first {
            None => first = Some((v, d, img)),
            Some((v0, d0, _)) => {
                assert_eq!(&v, v0, "{format}: verdict differs from docker-archive");
                assert_eq!(&d, d0, "{format}: layers differ from docker-archive");
            }
        }
    }
    // The text report never prints a secret either.
    let (_, text, _) = stowaway([
        "audit".as_ref(),
        built.forms[0].1.as_os_str(),
        "--no-progress".as_ref(),
    ]);
    for s in secrets {
        assert!(!text.contains(s), "text report printed a secret");
    }
    first.unwrap().2
}

fn findings(img: &Value) -> &Vec<Value> {
    img["findings"].as_array().unwrap()
}

fn policy(img: &Value) -> BTreeMap<String, (String, Value)> {
    img["policy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["check"].as_str().unwrap().to_string(),
                (p["status"].as_str().unwrap().to_string(), p.clone()),
            )
        })
        .collect()
}

/// Index of the layer whose history line contains `needle`.
fn layer_made_by(img: &Value, needle: &str) -> u64 {
    img["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["created_by"].as_str().is_some_and(|c| c.contains(needle)))
        .unwrap_or_else(|| panic!("no layer made by {needle:?}: {}", img["layers"]))["index"]
        .as_u64()
        .unwrap()
}

/// A temp dir with a build context `ctx/` holding the host-built binary, and
/// a fresh key outside the context. Returns (dir, ctx, key path, key PEM).
fn workspace(ldflags: &[&str]) -> (tempfile::TempDir, PathBuf, PathBuf, String) {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    go_build(&ctx.join("server"), ldflags);
    let key = dir.path().join("api-private-key.pem");
    let pem = gen_key(&key);
    (dir, ctx, key, pem)
}

/// The body of a PEM (no armor lines): what must never be printed.
fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

const STRIPPED: &[&str] = &["-trimpath", "-ldflags", "-s -w"];

#[test]
fn good_multi_stage_build_with_a_secret_mount_leaks_nothing() {
    let (dir, ctx, key, pem) = workspace(STRIPPED);
    let built = build("good", dir, &ctx, &key, &[]);
    let body = pem_body(&pem);
    let img = audit_all(
        &built,
        &["--expect-port", "8080", "--expect-base", "alpine:3.11"],
        0,
        &[&body],
    );
    let key_fp = pem_fp(&pem);
    assert!(
        !findings(&img)
            .iter()
            .any(|f| f["fingerprint"] == key_fp.as_str()),
        "the key was found: {img}"
    );
    assert!(findings(&img).is_empty(), "{:#?}", verdict(&img));
    let p = policy(&img);
    let status: BTreeMap<&str, &str> = p
        .iter()
        .map(|(k, (s, _))| (k.as_str(), s.as_str()))
        .collect();
    // Every check passes on the genuine alpine:3.11 + a static Go binary:
    // size (~10 MB < 15 MB), only-allowed-files (alpine recognised by its apk
    // database, the binary is the entrypoint), ca-certificates (alpine's
    // /etc/ssl/cert.pem), entrypoint-runnable (static ELF amd64), ports, user
    // (USER 65534), base (alpine 3.11). go-binary warns only: Go leaves
    // -ldflags out of the build info of a -trimpath build.
    let expected: BTreeMap<&str, &str> = [
        ("size-budget", "pass"),
        ("only-allowed-files", "pass"),
        ("ca-certificates", "pass"),
        ("entrypoint-runnable", "pass"),
        ("go-binary", "warn"),
        ("exposed-ports", "pass"),
        ("user", "pass"),
        ("base-image", "pass"),
    ]
    .into_iter()
    .collect();
    assert_eq!(status, expected, "{}", img["policy"]);
    assert!(
        p["go-binary"].1["message"]
            .as_str()
            .unwrap()
            .contains("-trimpath"),
        "{}",
        p["go-binary"].1
    );
}

#[test]
fn key_copied_then_removed_is_found_deleted_in_the_copy_layer() {
    let (dir, ctx, key, pem) = workspace(STRIPPED);
    std::fs::copy(&key, ctx.join("api-private-key.pem")).unwrap();
    let built = build("copy-then-rm", dir, &ctx, &key, &[]);
    let img = audit_all(&built, &["--expect-port", "8080"], 1, &[&pem_body(&pem)]);
    let copy_layer = layer_made_by(&img, "COPY api-private-key.pem /app/key.pem");
    let rm_layer = layer_made_by(&img, "rm /app/key.pem");
    assert_eq!((copy_layer, rm_layer), (1, 2), "{}", img["layers"]);
    let key_fp = pem_fp(&pem);
    let hits: Vec<&Value> = findings(&img)
        .iter()
        .filter(|f| f["fingerprint"] == key_fp.as_str())
        .collect();
    assert_eq!(hits.len(), 1, "{:#?}", verdict(&img));
    let f = hits[0];
    assert_eq!(f["rule"], "pem-private-key");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["layer"], copy_layer);
    assert_eq!(f["path"], "/app/key.pem");
    assert_eq!(f["state"], "deleted");
    assert!(f["created_by"]
        .as_str()
        .unwrap()
        .contains("COPY api-private-key.pem"));
    // Nothing else: the verdict is the key alone (the user check warns).
    assert_eq!(findings(&img).len(), 1, "{:#?}", verdict(&img));
    let p = policy(&img);
    assert!(p.values().all(|(s, _)| s != "fail"), "{}", img["policy"]);
}

#[test]
fn single_stage_build_leaves_the_toolchain_and_sources() {
    let (dir, ctx, key, pem) = workspace(STRIPPED);
    // Stand-in toolchain: the host's go binary and its src/fmt tree.
    let goroot = run(go().args(["env", "GOROOT"]), "go env GOROOT");
    let goroot = PathBuf::from(String::from_utf8_lossy(&goroot.stdout).trim());
    std::fs::create_dir_all(ctx.join("go/bin")).unwrap();
    std::fs::create_dir_all(ctx.join("go/src/fmt")).unwrap();
    std::fs::copy(goroot.join("bin/go"), ctx.join("go/bin/go")).unwrap();
    for e in std::fs::read_dir(goroot.join("src/fmt")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), ctx.join("go/src/fmt").join(e.file_name())).unwrap();
    }
    let src = manifest_dir().join("tests/data/goservice");
    std::fs::create_dir_all(ctx.join("app/cmd/server")).unwrap();
    std::fs::copy(src.join("go.mod"), ctx.join("app/go.mod")).unwrap();
    std::fs::copy(
        src.join("cmd/server/main.go"),
        ctx.join("app/cmd/server/main.go"),
    )
    .unwrap();
    let built = build("single-stage", dir, &ctx, &key, &[]);
    let img = audit_all(&built, &["--expect-port", "8080"], 1, &[&pem_body(&pem)]);

    let go_layer = layer_made_by(&img, "COPY go /usr/local/go");
    let src_layer = layer_made_by(&img, "COPY app/ /app/");
    let by_rule =
        |r: &str| -> Vec<&Value> { findings(&img).iter().filter(|f| f["rule"] == r).collect() };
    let tc = by_rule("residue.go-toolchain");
    assert_eq!(tc.len(), 1, "{:#?}", verdict(&img));
    assert_eq!(tc[0]["layer"], go_layer);
    assert_eq!(tc[0]["state"], "present");
    assert!(tc[0]["files"].as_u64().unwrap() >= 2, "{}", tc[0]);
    assert!(
        tc[0]["sample_paths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "/usr/local/go/bin/go"),
        "{}",
        tc[0]
    );
    let srcs = by_rule("residue.go-sources");
    assert_eq!(srcs.len(), 1, "{:#?}", verdict(&img));
    assert_eq!(srcs[0]["layer"], src_layer);
    assert_eq!(srcs[0]["state"], "present");

    // The secret mount left only empty /run/secrets directories: no leak.
    let key_fp = pem_fp(&pem);
    assert!(
        !findings(&img)
            .iter()
            .any(|f| f["fingerprint"] == key_fp.as_str()
                || f["rule"] == "secret-path.buildkit-secret"
                || f["rule"] == "pem-private-key"),
        "{:#?}",
        verdict(&img)
    );

    let p = policy(&img);
    let (status, only) = &p["only-allowed-files"];
    assert_eq!(status, "fail", "{only}");
    let details = only["details"].to_string();
    for offender in [
        "toolchain",
        "/usr/local/go/bin/go",
        "sources",
        "/app/cmd/server/main.go",
    ] {
        assert!(
            details.contains(offender),
            "offender {offender} not named: {details}"
        );
    }
    // ~21 MB with the stand-in toolchain: over the 15 MB budget.
    assert_eq!(p["size-budget"].0, "fail", "{}", p["size-budget"].1);
}

#[test]
fn key_passed_as_build_arg_and_env_is_found_in_the_config() {
    let (dir, ctx, key, pem) = workspace(STRIPPED);
    let stripe = fake_stripe_key();
    let built = build("arg-env", dir, &ctx, &key, &[format!("API_KEY={stripe}")]);
    let img = audit_all(
        &built,
        &["--expect-port", "8080"],
        1,
        &[&stripe, &pem_body(&pem)],
    );
    let stripe_fp = fp(&stripe);
    let hits: Vec<&Value> = findings(&img)
        .iter()
        .filter(|f| f["fingerprint"] == stripe_fp.as_str())
        .collect();
    // One finding per secret (src/dedupe.rs): the ENV value, with the two
    // history lines (`RUN |1 API_KEY=...` and `ENV API_KEY=...`) counted as
    // more occurrences of it.
    assert_eq!(hits.len(), 1, "{:#?}", verdict(&img));
    let f = hits[0];
    assert_eq!(f["rule"], "stripe-secret-key");
    assert_eq!(f["where"], "config");
    assert_eq!(f["config_field"], "env");
    assert_eq!(f["config_key"], "API_KEY");
    assert_eq!(f["occurrences"], 3, "{f}");
    // The build arg is in the RUN layer's history line, masked in the report.
    let run_layer = layer_made_by(&img, "RUN |1 API_KEY=sk_l");
    let line = img["layers"][run_layer as usize]["created_by"]
        .as_str()
        .unwrap();
    assert!(line.contains("redacted"), "{line}");
    assert!(
        findings(&img).iter().all(|f| f["where"] == "config"),
        "{:#?}",
        verdict(&img)
    );
    assert!(!findings(&img)
        .iter()
        .any(|f| f["fingerprint"] == pem_fp(&pem).as_str()));

    // ARG alone (no ENV): the build arg is still in the RUN's history line.
    // (Same context: `built` keeps it alive.)
    let dir = tempfile::tempdir().unwrap();
    let arg_only = build_target(
        "arg-env",
        Some("arg-only"),
        dir,
        &ctx,
        &key,
        &[format!("API_KEY={stripe}")],
    );
    let img = audit_all(
        &arg_only,
        &["--expect-port", "8080"],
        1,
        &[&stripe, &pem_body(&pem)],
    );
    let hits: Vec<&Value> = findings(&img)
        .iter()
        .filter(|f| f["fingerprint"] == stripe_fp.as_str())
        .collect();
    assert_eq!(hits.len(), 1, "{:#?}", verdict(&img));
    let f = hits[0];
    assert_eq!(f["rule"], "stripe-secret-key", "{f}");
    assert_eq!(f["where"], "config", "{f}");
    assert_eq!(f["config_field"], "history", "{f}");
    let run_layer = layer_made_by(&img, "RUN |1 API_KEY=sk_l");
    assert_eq!(
        f["history_index"], img["layers"][run_layer as usize]["history_index"],
        "the finding points at the RUN line: {f}"
    );
    drop(built);
}

#[test]
fn key_linked_with_ldflags_x_fails_go_binary_and_is_found_in_the_binary() {
    let stripe = fake_stripe_key();
    let flag = format!("-X main.apiKey={stripe}");
    let (dir, ctx, key, pem) = workspace(&["-ldflags", &flag]);
    let built = build("ldflags", dir, &ctx, &key, &[]);
    let img = audit_all(
        &built,
        &["--expect-port", "8080"],
        1,
        &[&stripe, &pem_body(&pem)],
    );
    let p = policy(&img);
    let (status, go) = &p["go-binary"];
    assert_eq!(status, "fail", "{go}");
    let msg = go["message"].as_str().unwrap();
    assert!(msg.contains("-X main.apiKey=sk_live_"), "{msg}");
    assert!(msg.contains(&fp(&stripe)), "{msg}");
    let bin_layer = layer_made_by(&img, "/app/server");
    let hits: Vec<&Value> = findings(&img)
        .iter()
        .filter(|f| f["rule"] == "stripe-secret-key")
        .collect();
    assert_eq!(hits.len(), 1, "{:#?}", verdict(&img));
    assert_eq!(hits[0]["path"], "/app/server");
    assert_eq!(hits[0]["layer"], bin_layer);
    assert_eq!(hits[0]["state"], "present");
    assert_eq!(hits[0]["fingerprint"], fp(&stripe).as_str());
    assert!(!findings(&img)
        .iter()
        .any(|f| f["fingerprint"] == pem_fp(&pem).as_str()));
}
