//! Registry sources and whole-registry scans, against a real registry
//! (Debian's docker-registry, see tests/common/registry.rs): audit by tag and
//! by digest, multi-platform indexes, basic and token authentication and
//! their failures, missing tags, a catalog scan of twenty images sharing
//! base layers, the cache (second run, torn entries, no secrets on disk),
//! and shards whose union is the full scan.

mod common;

use common::registry::{Auth, Registry, PASSWORD, USER};
use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs stowaway with a private cache home and docker config (nothing of
/// the machine's leaks in), plus `env`; returns (code, stdout, stderr).
fn run(home: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stowaway"));
    cmd.args(args)
        .env("XDG_CACHE_HOME", home.join("xdg-cache"))
        .env("DOCKER_CONFIG", home.join("docker-config"))
        .env_remove("STOWAWAY_REGISTRY_USER")
        .env_remove("STOWAWAY_REGISTRY_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run stowaway");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn creds_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("STOWAWAY_REGISTRY_USER", USER),
        ("STOWAWAY_REGISTRY_PASSWORD", PASSWORD),
    ]
}

/// A unique, live-looking Stripe key for image `name`.
fn secret_for(name: &str) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let h = Sha256::digest(format!("stowaway registry test {name}").as_bytes());
    let tail: String = h.iter().map(|b| ALNUM[*b as usize % 62] as char).collect();
    format!("sk_live_{tail}")
}

/// The fingerprint stowaway gives a secret: the first 16 hex of its sha256.
fn fingerprint(secret: &str) -> String {
    sha256_hex(secret.as_bytes())[..16].to_string()
}

fn alpine_base() -> Layer {
    Layer::new(vec![
        Entry::file("etc/alpine-release", "3.19.1\n"),
        Entry::file(
            "etc/os-release",
            "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n",
        ),
        Entry::file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        Entry::file("etc/ssl/cert.pem", CA_BUNDLE),
        Entry::file(
            "lib/apk/db/installed",
            "P:busybox\nF:bin\nR:busybox\nR:sh\nF:etc\nR:alpine-release\nR:os-release\nR:passwd\n\
             F:etc/ssl\nR:cert.pem\nF:lib/apk/db\nR:installed\n\n",
        ),
        Entry::exec("bin/busybox", fake_binary("BusyBox v1.36.1")),
        Entry::symlink("bin/sh", "/bin/busybox"),
    ])
    .gzip()
    .with_created_by("ADD alpine-minirootfs-3.19.1-x86_64.tar.gz / # buildkit")
}

fn debian_base() -> Layer {
    Layer::new(vec![
        Entry::file("etc/debian_version", "12.5\n"),
        Entry::file(
            "etc/os-release",
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
        ),
        Entry::file("etc/ssl/certs/ca-certificates.crt", CA_BUNDLE),
        Entry::file(
            "var/lib/dpkg/info/base-files.list",
            "/etc/debian_version\n/etc/os-release\n/var/lib/dpkg/info/base-files.list\n",
        ),
        Entry::exec("bin/bash", fake_binary("GNU bash, version 5.2.15")),
    ])
    .zstd()
    .with_created_by("ADD rootfs.tar.xz / # buildkit")
}

fn runtime_layer() -> Layer {
    Layer::new(vec![
        Entry::file("usr/lib/libruntime.so.1", fake_binary("runtime 1.2")),
        Entry::file("etc/runtime.conf", "threads = 4\n"),
    ])
    .gzip()
    .with_created_by("RUN /bin/sh -c apk add runtime # buildkit")
}

/// An image on `base` whose app layer holds its own Stripe key; with
/// `delete`, a later layer deletes the key file (it stays in the image).
fn app_image(name: &str, base: Layer, runtime: bool, delete: bool) -> Image {
    let secret = secret_for(name);
    let mut img = Image::new().with_tag(format!("{name}:1")).with_layer(base);
    if runtime {
        img = img.with_layer(runtime_layer());
    }
    img = img.with_layer(
        Layer::new(vec![
            Entry::exec("app/server", fake_binary(&format!("{name} server"))),
            Entry::file("app/.env", format!("STRIPE_SECRET_KEY={secret}\n")),
        ])
        .gzip()
        .with_created_by(format!("COPY {name} /app # buildkit")),
    );
    if delete {
        img = img.with_layer(
            Layer::new(vec![Entry::whiteout("app/.env")])
                .with_created_by("RUN /bin/sh -c rm /app/.env # buildkit"),
        );
    }
    img.with_entrypoint(&["/app/server"])
        .with_exposed_port("8080/tcp")
        .with_user("65534")
}

/// Writes an image as an OCI layout under `dir` and returns its path.
fn layout(dir: &Path, name: &str, img: &Image) -> PathBuf {
    let path = dir.join(name.replace(['/', ':'], "_"));
    write_oci_layout(std::slice::from_ref(img), &path, MediaFamily::Oci, false);
    path
}

/// Findings without their ids (which name the repository) and layer
/// digests (skopeo compresses plain layers when it pushes), in order.
fn findings(report: &Value) -> Vec<Value> {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|img| img["findings"].as_array().unwrap().clone())
        .map(|mut f| {
            f.as_object_mut().unwrap().remove("id");
            f.as_object_mut().unwrap().remove("layer_digest");
            f
        })
        .collect()
}

fn one_error_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("stowaway: error: "), "{stderr}");
    lines[0]
}

#[test]
fn audit_by_tag_and_by_digest_matches_the_local_audit() {
    let reg = Registry::start(Auth::None);
    let work = tempfile::tempdir().unwrap();
    let img = leaky_image();
    let dir = work.path().join("leaky");
    write_oci_layout(std::slice::from_ref(&img), &dir, MediaFamily::Oci, false);
    reg.push(&dir, "leaky", "finserve/payment:leaky");
    // An image with Docker media types (skopeo converts the manifest; Docker
    // has no zstd layers, so not the leaky image).
    let gz = app_image("docker/app", alpine_base(), true, true);
    let gz_dir = layout(work.path(), "docker-app", &gz);
    reg.push_as(&gz_dir, "1", "docker/app:1", &["--format", "v2s2"]);
    let (code, gz_local) = audit_json(&gz_dir);
    assert_eq!(code, 1);
    let (code, leaky_local) = audit_json(&dir);
    assert_eq!(code, 1);

    // skopeo compresses the plain layers it pushes: the registry's manifest
    // is the one to look up by digest.
    let by_tag = format!("{}/finserve/payment:leaky", reg.host);
    let (code, out, err) = run(work.path(), &["audit", "--format", "json", &by_tag], &[]);
    assert_eq!(code, 1, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let manifest = report["images"][0]["manifest_digest"]
        .as_str()
        .unwrap()
        .to_string();
    let by_digest = format!("docker://{}/finserve/payment@{manifest}", reg.host);
    let docker = format!("{}/docker/app:1", reg.host);
    for reference in [&by_tag, &by_digest, &docker] {
        let local = if reference == &docker {
            &gz_local
        } else {
            &leaky_local
        };
        let (code, out, err) = run(work.path(), &["audit", "--format", "json", reference], &[]);
        assert_eq!(code, 1, "{reference}: {err}");
        let report: Value = serde_json::from_str(&out).unwrap();
        let image = &report["images"][0];
        assert_eq!(image["format"], "registry");
        if reference != &docker {
            assert_eq!(image["manifest_digest"], manifest.as_str());
            assert_eq!(image["layers"][1]["compression"], "gzip");
        } else {
            let mt = image["layers"][1]["media_type"].as_str().unwrap();
            assert!(
                mt.starts_with("application/vnd.docker.image.rootfs"),
                "{mt}"
            );
        }
        assert_eq!(findings(&report), findings(local), "{reference}");
        // The same policy results, but for the compressed size (skopeo
        // compressed the plain layers).
        let policy = |img: &Value| -> Vec<Value> {
            img["policy"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| match p["check"].as_str() {
                    Some("size-budget") => p["status"].clone(),
                    _ => p.clone(),
                })
                .collect()
        };
        assert_eq!(policy(image), policy(&local["images"][0]), "{reference}");
        for s in PLANTED {
            assert!(!out.contains(s) && !err.contains(s), "a secret was printed");
        }
    }
}

#[test]
fn multi_platform_index_and_platform_filter() {
    let reg = Registry::start(Auth::None);
    let work = tempfile::tempdir().unwrap();
    let amd = app_image("multi-amd64", alpine_base(), false, false).with_tag("multi:1");
    let arm = app_image("multi-arm64", alpine_base(), false, false)
        .with_platform("linux", "arm64", Some("v8"))
        .with_tag("multi:1");
    let dir = work.path().join("multi");
    // skopeo reads OCI indexes from a layout (Docker manifest lists only from a registry).
    write_oci_layout(&[amd, arm], &dir, MediaFamily::Oci, true);
    reg.push(&dir, "1", "team/multi:1");
    let reference = format!("{}/team/multi:1", reg.host);

    let (code, out, err) = run(work.path(), &["audit", "--format", "json", &reference], &[]);
    assert_eq!(code, 1, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let platforms: Vec<&str> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);

    let (code, out, err) = run(
        work.path(),
        &[
            "audit",
            "--format",
            "json",
            "--platform",
            "linux/arm64",
            &reference,
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let images = report["images"].as_array().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0]["platform"], "linux/arm64/v8");
    let fps: Vec<&str> = images[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["fingerprint"].as_str())
        .collect();
    assert!(fps.contains(&fingerprint(&secret_for("multi-arm64")).as_str()));
    assert!(!fps.contains(&fingerprint(&secret_for("multi-amd64")).as_str()));

    let (code, _, err) = run(
        work.path(),
        &["audit", "--platform", "linux/s390x", &reference],
        &[],
    );
    assert_eq!(code, 2);
    assert!(one_error_line(&err).contains("no image for the requested --platform"));
}

#[test]
fn missing_tags_and_repositories_are_one_line_errors() {
    let reg = Registry::start(Auth::None);
    let work = tempfile::tempdir().unwrap();
    let dir = layout(work.path(), "clean", &clean_image());
    reg.push(&dir, "clean", "finserve/payment:clean");
    let cases = [
        (
            format!("{}/finserve/payment:nope", reg.host),
            "not found (404): no tag \"nope\" in finserve/payment",
        ),
        (
            format!("{}/finserve/nothing:1", reg.host),
            "not found (404)",
        ),
        (
            format!("{}/finserve/payment@sha256:{}", reg.host, "0".repeat(64)),
            "not found (404): no manifest sha256:0000",
        ),
    ];
    for (reference, expected) in cases {
        let (code, out, err) = run(work.path(), &["audit", &reference], &[]);
        assert_eq!(code, 2, "{reference}: {out}{err}");
        let line = one_error_line(&err);
        assert!(line.contains(&reference), "names the reference: {line}");
        assert!(line.contains(expected), "{expected:?} in {line}");
    }
    // A good tag still audits (the clean image passes).
    let (code, _, err) = run(
        work.path(),
        &["audit", &format!("{}/finserve/payment:clean", reg.host)],
        &[],
    );
    assert_eq!(code, 0, "{err}");
}

/// Without credentials, with wrong ones, with the right ones from the
/// environment, docker's config.json and a credential helper.
fn check_authentication(auth: Auth) {
    let reg = Registry::start(auth);
    let work = tempfile::tempdir().unwrap();
    let dir = layout(work.path(), "leaky", &leaky_image());
    reg.push(&dir, "leaky", "private/app:1");
    let reference = format!("{}/private/app:1", reg.host);

    let (code, _, err) = run(work.path(), &["audit", &reference], &[]);
    assert_eq!(code, 2);
    let line = one_error_line(&err);
    assert!(line.contains(&reference), "{line}");
    assert!(line.contains("authentication required (401)"), "{line}");

    let wrong = [
        ("STOWAWAY_REGISTRY_USER", USER),
        ("STOWAWAY_REGISTRY_PASSWORD", "wrong-password"),
    ];
    let (code, _, err) = run(work.path(), &["audit", &reference], &wrong);
    assert_eq!(code, 2);
    let line = one_error_line(&err);
    assert!(line.contains("authentication failed (401)"), "{line}");
    assert!(!line.contains("wrong-password"), "{line}");

    let (code, _, err) = run(work.path(), &["audit", &reference], &creds_env());
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = run(
        work.path(),
        &["audit", "--no-cache", "--registry-user", USER, &reference],
        &[("STOWAWAY_REGISTRY_PASSWORD", PASSWORD)],
    );
    assert_eq!(code, 1, "{err}");

    // docker login's config.json: base64 user:password under the host.
    let config = work.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let auth64 = base64_encode(format!("{USER}:{PASSWORD}").as_bytes());
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"auths": {{"{}": {{"auth": "{auth64}"}}}}}}"#, reg.host),
    )
    .unwrap();
    let (code, _, err) = run(work.path(), &["audit", "--no-cache", &reference], &[]);
    assert_eq!(code, 1, "{err}");

    // A credential helper, as `credsStore: desktop` and friends are.
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-stowawaytest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread host\n[ \"$host\" = \"{}\" ] || exit 1\n\
             printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$host\"\n",
            reg.host
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&helper)
        .status()
        .unwrap();
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"credHelpers": {{"{}": "stowawaytest"}}}}"#, reg.host),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (code, _, err) = run(
        work.path(),
        &["audit", "--no-cache", &reference],
        &[("PATH", &path)],
    );
    assert_eq!(code, 1, "{err}");

    // The catalog needs its own scope: listing works with credentials...
    let out_dir = work.path().join("scan");
    let (code, out, err) = run(
        work.path(),
        &[
            "scan-registry",
            &reg.host,
            "--out-dir",
            out_dir.to_str().unwrap(),
        ],
        &creds_env(),
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("1 image(s) from 1 tag(s) in 1 repositories"),
        "{out}"
    );
    // ...and is refused, in one line, without.
    std::fs::remove_file(config.join("config.json")).unwrap();
    let (code, _, err) = run(
        work.path(),
        &[
            "scan-registry",
            &reg.host,
            "--out-dir",
            out_dir.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        one_error_line(&err).contains("authentication required (401)"),
        "{err}"
    );
}

fn base64_encode(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[test]
fn basic_authentication() {
    check_authentication(Auth::Basic);
}

#[test]
fn bearer_token_authentication() {
    check_authentication(Auth::Token);
}

/// The fixture registry: twenty images in eighteen repositories on two base
/// images and a shared runtime layer, each with its own key (two of them
/// deleted in a later layer), and one image under two tags.
struct Fixture {
    /// (repository, tag) -> the image's secret
    secrets: BTreeMap<(String, String), String>,
    distinct_layers: usize,
}

fn push_fixture(reg: &Registry, work: &Path) -> Fixture {
    let mut items = Vec::new();
    let mut secrets = BTreeMap::new();
    let mut layers = BTreeSet::new();
    let mut add = |repo: String, tag: &str, img: Image, also: Option<&str>| {
        let name = format!("{repo}:{tag}");
        let secret = secret_for(&name);
        let dir = layout(work, &name, &img);
        layers.extend(build_image(&img, MediaFamily::Oci).digests.layers);
        // app_image tags NAME:1, so the layout names the image `1`.
        items.push((dir.clone(), "1".to_string(), name.clone()));
        secrets.insert((repo.clone(), tag.to_string()), secret.clone());
        if let Some(t) = also {
            items.push((dir, "1".to_string(), format!("{repo}:{t}")));
            secrets.insert((repo, t.to_string()), secret);
        }
    };
    for i in 0..6 {
        let repo = format!("team-a/svc-{i}");
        let img = app_image(&format!("{repo}:1.0"), alpine_base(), i % 2 == 0, i == 3);
        add(repo.clone(), "1.0", img, (i == 0).then_some("latest"));
    }
    let img = app_image("team-a/svc-0:2.0", alpine_base(), true, false);
    add("team-a/svc-0".into(), "2.0", img, None);
    for i in 0..6 {
        let repo = format!("team-b/api-{i}");
        let img = app_image(&format!("{repo}:1.0"), debian_base(), i % 3 == 0, i == 4);
        add(repo, "1.0", img, None);
    }
    let img = app_image("team-b/api-0:2.0", debian_base(), false, false);
    add("team-b/api-0".into(), "2.0", img, None);
    for i in 0..5 {
        let repo = format!("tools/job-{i}");
        let img = app_image(&format!("{repo}:1.0"), alpine_base(), false, false);
        add(repo, "1.0", img, None);
    }
    let img = app_image("worker:1.0", debian_base(), true, false);
    add("worker".into(), "1.0", img, None);
    reg.push_many(&items);
    Fixture {
        secrets,
        distinct_layers: layers.len(),
    }
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// (repository, digest) of every audited image of a summary.
fn image_set(s: &Value) -> BTreeSet<(String, String)> {
    s["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["digest"].as_str().is_some_and(|d| !d.is_empty()))
        .map(|r| {
            (
                r["repository"].as_str().unwrap().to_string(),
                r["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn catalog_scan_cache_and_shards() {
    let reg = Registry::start(Auth::None);
    let work = tempfile::tempdir().unwrap();
    let fixture = push_fixture(&reg, work.path());
    let cache = work.path().join("cache");
    let scan = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "scan-registry",
            &reg.host,
            "--out-dir",
            out.to_str().unwrap(),
            "--page-size",
            "3",
        ];
        if !extra.contains(&"--no-cache") {
            args.extend(["--cache-dir", cache.to_str().unwrap()]);
        }
        args.extend_from_slice(extra);
        run(work.path(), &args, &[])
    };

    // Cold: every planted key is found, every distinct layer scanned once.
    let out1 = work.path().join("out1");
    let (code, text, err) = scan(&out1, &["--sarif", "--jobs", "4"]);
    assert_eq!(code, 1, "{text}{err}");
    let s1 = summary(&out1);
    assert_eq!(s1["images"], 20, "{s1:#}");
    assert_eq!(s1["tags"], 21);
    assert_eq!(s1["repositories"], 18);
    assert_eq!(
        (s1["errors"].clone(), s1["failed"].clone()),
        (0.into(), 20.into())
    );
    assert_eq!(
        s1["cache"]["layers_scanned"], fixture.distinct_layers,
        "{s1:#}"
    );
    assert!(text.contains("registry scan of"), "{text}");
    let mut found = 0;
    for r in s1["results"].as_array().unwrap() {
        let report_path = out1.join(r["report"].as_str().unwrap());
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
        assert!(out1.join(r["sarif"].as_str().unwrap()).is_file());
        let fps: BTreeSet<String> = findings(&report)
            .iter()
            .filter(|f| f["rule"] == "stripe-secret-key")
            .map(|f| f["fingerprint"].as_str().unwrap().to_string())
            .collect();
        let repo = r["repository"].as_str().unwrap();
        for tagged in r["refs"].as_array().unwrap() {
            let tag = tagged.as_str().unwrap().rsplit(':').next().unwrap();
            let secret = &fixture.secrets[&(repo.to_string(), tag.to_string())];
            assert!(fps.contains(&fingerprint(secret)), "{tagged}: {fps:?}");
            found += 1;
        }
        let raw = std::fs::read_to_string(&report_path).unwrap();
        assert!(fixture.secrets.values().all(|s| !raw.contains(s.as_str())));
    }
    assert_eq!(found, 21, "every tag's leak was found");
    let svc0 = s1["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["refs"].as_array().unwrap().len() == 2)
        .expect("the image tagged twice is audited once");
    assert_eq!(svc0["repository"], "team-a/svc-0");

    // Warm: no layer is read, every policy result comes from the cache, and
    // the reports are the same.
    let out2 = work.path().join("out2");
    let (code, text, err) = scan(&out2, &["--sarif"]);
    assert_eq!(code, 1, "{text}{err}");
    let s2 = summary(&out2);
    assert_eq!(s2["cache"]["layers_scanned"], 0, "{s2:#}");
    assert_eq!(s2["cache"]["layers_reread"], 0);
    assert_eq!(s2["cache"]["policies_cached"], 20);
    for r in s1["results"].as_array().unwrap() {
        let name = r["report"].as_str().unwrap();
        assert_eq!(
            std::fs::read_to_string(out1.join(name)).unwrap(),
            std::fs::read_to_string(out2.join(name)).unwrap(),
            "{name}"
        );
    }

    // No cache file holds a secret.
    let mut entries = 0;
    for kind in ["layers", "policy"] {
        for shard in std::fs::read_dir(cache.join(kind)).unwrap() {
            for e in std::fs::read_dir(shard.unwrap().path()).unwrap() {
                let data =
                    zstd::decode_all(&std::fs::read(e.unwrap().path()).unwrap()[..]).unwrap();
                let text = String::from_utf8_lossy(&data);
                for s in fixture.secrets.values() {
                    assert!(!text.contains(s.as_str()), "a secret in the cache");
                }
                assert!(
                    !text.contains("BEGIN CERTIFICATE"),
                    "file contents in the cache"
                );
                entries += 1;
            }
        }
    }
    assert_eq!(entries, fixture.distinct_layers + 20);

    // Shards: three workers cover every repository and image exactly once.
    let full = image_set(&s1);
    let mut union = BTreeSet::new();
    let mut repos = 0;
    for k in 0..3 {
        let out = work.path().join(format!("shard{k}"));
        let shard = format!("{k}/3");
        let (code, text, err) = scan(&out, &["--shard", &shard]);
        assert!(code == 0 || code == 1, "{text}{err}");
        let s = summary(&out);
        assert_eq!(s["shard"]["index"], k);
        repos += s["repositories"].as_u64().unwrap();
        let set = image_set(&s);
        assert!(union.is_disjoint(&set), "shard {k} overlaps");
        union.extend(set);
    }
    assert_eq!(union, full);
    assert_eq!(repos, 18);

    // A layer whose blob the registry serves wrong fails its image only.
    let victim = s1["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repository"] == "tools/job-2")
        .unwrap();
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out1.join(victim["report"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let app_layer = report["images"][0]["layers"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let hex = app_layer.trim_start_matches("sha256:");
    let data = reg_blob_path(&reg, hex);
    let len = std::fs::metadata(&data).unwrap().len() as usize;
    std::fs::write(&data, vec![0x1fu8; len]).unwrap();
    let out3 = work.path().join("out3");
    let (code, text, err) = scan(&out3, &["--no-cache"]);
    assert_eq!(code, 2, "{text}{err}");
    let s3 = summary(&out3);
    assert_eq!(
        (s3["errors"].clone(), s3["failed"].clone()),
        (1.into(), 19.into())
    );
    let failed = s3["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "error")
        .unwrap();
    assert_eq!(failed["repository"], "tools/job-2");
    let msg = failed["error"].as_str().unwrap();
    assert!(
        msg.contains(&app_layer) && msg.contains("tools/job-2@sha256:"),
        "{msg}"
    );
    assert!(
        text.contains("ERROR") && text.contains("tools/job-2"),
        "{text}"
    );
}

/// Where docker-registry keeps a blob's bytes.
fn reg_blob_path(reg: &Registry, hex: &str) -> PathBuf {
    reg.storage()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

#[test]
fn cached_layers_give_the_policy_the_same_files() {
    let reg = Registry::start(Auth::None);
    let work = tempfile::tempdir().unwrap();
    let img = app_image("policy/app:1", alpine_base(), true, false);
    let dir = layout(work.path(), "policy", &img);
    reg.push(&dir, "1", "policy/app:1");
    let reference = format!("{}/policy/app:1", reg.host);
    let cache = work.path().join("cache");
    let cache = cache.to_str().unwrap();
    // Fill the cache with layer scans (and this policy's results).
    let (code, _, err) = run(
        work.path(),
        &["audit", "--cache-dir", cache, &reference],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    // Other policy settings: the layers come from the cache without their
    // files, which are read back for the checks; the results must be those
    // of an audit without any cache.
    let flags = [
        "--expect-base",
        "alpine:3.19",
        "--expect-port",
        "9090",
        "--format",
        "json",
    ];
    let mut cached = vec!["audit", "--cache-dir", cache];
    cached.extend_from_slice(&flags);
    cached.push(&reference);
    let (code, warm, err) = run(work.path(), &cached, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("0 layer(s) scanned, 3 from the cache (2 read again"),
        "{err}"
    );
    let mut uncached = vec!["audit", "--no-cache"];
    uncached.extend_from_slice(&flags);
    uncached.push(&reference);
    let (_, cold, _) = run(work.path(), &uncached, &[]);
    let warm: Value = serde_json::from_str(&warm).unwrap();
    let cold: Value = serde_json::from_str(&cold).unwrap();
    assert_eq!(warm["images"][0]["policy"], cold["images"][0]["policy"]);
    assert_eq!(findings(&warm), findings(&cold));
    let policy = warm["images"][0]["policy"].as_array().unwrap();
    let status = |id: &str| {
        policy
            .iter()
            .find(|p| p["check"] == id)
            .map(|p| p["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status("base-image").as_deref(), Some("pass"), "{policy:#?}");
    assert_eq!(
        status("ca-certificates").as_deref(),
        Some("pass"),
        "{policy:#?}"
    );
}

#[test]
fn local_files_use_the_cache_only_when_asked() {
    let work = tempfile::tempdir().unwrap();
    let dir = layout(work.path(), "leaky", &leaky_image());
    let cache = work.path().join("cache");
    let args = |c: &str| -> Vec<String> {
        vec![
            "audit".into(),
            "--format".into(),
            "json".into(),
            "--cache-dir".into(),
            c.into(),
            dir.display().to_string(),
        ]
    };
    let a: Vec<String> = args(cache.to_str().unwrap());
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let (code1, first, err1) = run(work.path(), &a, &[]);
    let (code2, second, err2) = run(work.path(), &a, &[]);
    assert_eq!((code1, code2), (1, 1), "{err1}{err2}");
    assert_eq!(first, second);
    assert!(
        err2.contains("0 layer(s) scanned, 7 from the cache"),
        "{err2}"
    );
    // Without --cache-dir a local file neither reads nor writes a cache.
    let (code, _, err) = run(work.path(), &["audit", dir.to_str().unwrap()], &[]);
    assert_eq!(code, 1);
    assert!(!err.contains("cache"), "{err}");
    assert!(!work.path().join("xdg-cache").exists());
}
