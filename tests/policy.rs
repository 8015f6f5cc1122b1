//! Final-image policy verdicts, one fixture image per verdict.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;

struct Verdicts {
    code: i32,
    checks: BTreeMap<String, Value>,
}

impl Verdicts {
    fn status(&self, check: &str) -> &str {
        self.checks[check]["status"].as_str().unwrap()
    }
    fn message(&self, check: &str) -> &str {
        self.checks[check]["message"].as_str().unwrap()
    }
    fn details(&self, check: &str) -> String {
        self.checks[check]["details"].to_string()
    }
}

fn audit(img: Image, args: &[&str]) -> Verdicts {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("img.tar");
    write_docker_classic(&[img], &tar);
    let mut all = vec!["audit", tar.to_str().unwrap(), "--format", "json"];
    all.extend_from_slice(args);
    let (code, out, err) = stowaway(all);
    assert!(code == 0 || code == 1, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let checks = report["images"][0]["policy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["check"].as_str().unwrap().to_string(), p.clone()))
        .collect();
    Verdicts { code, checks }
}

fn scratch_with(entries: Vec<Entry>) -> Image {
    Image::new()
        .with_layer(Layer::new(entries))
        .with_exposed_port("8080/tcp")
        .with_user("65534")
        .with_entrypoint(&["/server"])
}

fn ca() -> Entry {
    Entry::file("etc/ssl/certs/ca-certificates.crt", CA_BUNDLE)
}

#[test]
fn good_scratch_image_passes_everything() {
    let v = audit(
        clean_image(),
        &["--expect-port", "8080", "--expect-base", "scratch"],
    );
    assert_eq!(v.code, 0);
    for (check, status) in [
        ("size-budget", "pass"),
        ("only-allowed-files", "pass"),
        ("ca-certificates", "pass"),
        ("entrypoint-runnable", "pass"),
        ("go-binary", "skip"),
        ("exposed-ports", "pass"),
        ("user", "pass"),
        ("base-image", "pass"),
    ] {
        assert_eq!(v.status(check), status, "{check}: {}", v.message(check));
    }
    assert!(v
        .message("entrypoint-runnable")
        .contains("static ELF amd64"));
    assert!(v.message("ca-certificates").contains("12 CA certificates"));
}

#[test]
fn alpine_base_files_do_not_count_but_added_ones_do() {
    let apk_db = "P:busybox\nF:bin\nR:busybox\nR:sh\nF:etc\nR:motd\n\n";
    let base = Layer::new(vec![
        Entry::file("etc/alpine-release", "3.19.1\n"),
        Entry::file("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n"),
        Entry::exec("bin/busybox", STATIC_ELF),
        Entry::symlink("bin/sh", "/bin/busybox"),
        Entry::file("etc/motd", "welcome\n"),
        Entry::file("etc/ssl/cert.pem", CA_BUNDLE),
        Entry::file("lib/apk/db/installed", apk_db),
    ]);
    let app = Layer::new(vec![
        Entry::exec("root/app", STATIC_ELF),
        Entry::file("root/notes.txt", "left behind\n"),
    ]);
    let img = Image::new()
        .with_layer(base)
        .with_layer(app)
        .with_working_dir("/root/")
        .with_cmd(&["./app"])
        .with_exposed_port("8080/tcp");
    let v = audit(
        img,
        &["--expect-base", "alpine:3.19", "--expect-port", "8080"],
    );
    assert_eq!(
        v.status("base-image"),
        "pass",
        "{}",
        v.message("base-image")
    );
    assert_eq!(
        v.status("entrypoint-runnable"),
        "pass",
        "{}",
        v.message("entrypoint-runnable")
    );
    assert_eq!(v.status("ca-certificates"), "pass");
    assert_eq!(v.status("only-allowed-files"), "fail");
    assert!(
        v.message("only-allowed-files").contains("1 of"),
        "{}",
        v.message("only-allowed-files")
    );
    assert!(v.details("only-allowed-files").contains("/root/notes.txt"));
    assert_eq!(v.status("user"), "warn");
    let v = audit(
        Image::new().with_layer(Layer::new(vec![Entry::file(
            "etc/alpine-release",
            "3.18.4\n",
        )])),
        &["--expect-base", "alpine:3.19"],
    );
    assert_eq!(v.status("base-image"), "fail");
    assert!(v.message("base-image").contains("alpine 3.18.4"));
}

#[test]
fn oversize_image_says_where_the_bytes_are() {
    let big = vec![7u8; 300_000];
    let img = scratch_with(vec![
        ca(),
        Entry::exec("server", STATIC_ELF),
        Entry::file("data/blob.bin", big.clone()),
    ])
    .with_layer(Layer::new(vec![Entry::file(
        "tmp/build.log",
        vec![1u8; 50_000],
    )]))
    .with_layer(Layer::new(vec![Entry::whiteout("tmp/build.log")]));
    let v = audit(img, &["--max-size", "200KB"]);
    assert_eq!(v.code, 1);
    assert_eq!(v.status("size-budget"), "fail");
    let m = v.message("size-budget");
    assert!(m.contains("exceeds the 200 KB budget"), "{m}");
    assert!(m.contains("50.0 KB wasted"), "{m}");
    let d = v.details("size-budget");
    assert!(d.contains("file /data/blob.bin: 300.0 KB"), "{d}");
    assert!(d.contains("layer 0"), "{d}");
    // Binary units and the compressed basis are honoured.
    let v = audit(
        clean_image(),
        &["--max-size", "1KiB", "--size-basis", "compressed"],
    );
    assert_eq!(v.status("size-budget"), "fail");
    assert_eq!(v.checks["size-budget"]["limit"]["bytes"], 1024);
    assert_eq!(v.checks["size-budget"]["measured"]["basis"], "compressed");
}

#[test]
fn ca_bundle_missing_corrupt_or_holding_a_key() {
    let v = audit(scratch_with(vec![Entry::exec("server", STATIC_ELF)]), &[]);
    assert_eq!(v.status("ca-certificates"), "fail");
    assert!(v.message("ca-certificates").contains("no CA bundle"));

    let corrupt =
        "-----BEGIN CERTIFICATE-----\nMIIBnotreallyacertificate\n-----END CERTIFICATE-----\n";
    let v = audit(
        scratch_with(vec![
            Entry::exec("server", STATIC_ELF),
            Entry::file("etc/ssl/cert.pem", corrupt),
        ]),
        &[],
    );
    assert_eq!(v.status("ca-certificates"), "fail");
    assert!(
        v.message("ca-certificates").contains("corrupt"),
        "{}",
        v.message("ca-certificates")
    );

    let with_key = format!("{CA_BUNDLE}{API_KEY_PEM}");
    let v = audit(
        scratch_with(vec![
            Entry::exec("server", STATIC_ELF),
            Entry::file("etc/ssl/certs/ca-certificates.crt", with_key),
        ]),
        &[],
    );
    assert_eq!(v.status("ca-certificates"), "fail");
    assert!(v.message("ca-certificates").contains("private key"));

    let v = audit(
        scratch_with(vec![
            Entry::exec("server", STATIC_ELF),
            Entry::file("certs/custom.pem", TEST_CA_PEM),
        ])
        .with_env("SSL_CERT_FILE=/certs/custom.pem"),
        &[],
    );
    assert_eq!(
        v.status("ca-certificates"),
        "warn",
        "{}",
        v.message("ca-certificates")
    );
    assert!(v
        .message("ca-certificates")
        .starts_with("/certs/custom.pem"));
}

#[test]
fn dynamic_binary_without_its_interpreter() {
    let v = audit(
        scratch_with(vec![ca(), Entry::exec("server", DYNAMIC_ELF)]),
        &[],
    );
    assert_eq!(v.status("entrypoint-runnable"), "fail");
    let m = v.message("entrypoint-runnable");
    assert!(m.contains("interpreter /lib64/ld-linux-x86-64.so.2"), "{m}");
    assert!(m.contains("libc.so.6"), "{m}");
    // With the loader and libc present (behind a symlink, as Debian has it) it runs.
    let v = audit(
        scratch_with(vec![
            ca(),
            Entry::exec("server", DYNAMIC_ELF),
            Entry::exec("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", STATIC_ELF),
            Entry::symlink(
                "lib64/ld-linux-x86-64.so.2",
                "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            ),
            Entry::file("lib/x86_64-linux-gnu/libc.so.6", STATIC_ELF),
        ]),
        &[],
    );
    assert_eq!(
        v.status("entrypoint-runnable"),
        "pass",
        "{}",
        v.message("entrypoint-runnable")
    );
}

#[test]
fn entrypoint_problems() {
    // Shell-form CMD on scratch.
    let img = scratch_with(vec![ca(), Entry::exec("server", STATIC_ELF)]);
    let mut shell_form = img.clone();
    shell_form.entrypoint = None;
    shell_form.cmd = Some(vec![
        "/bin/sh".into(),
        "-c".into(),
        "/server --port 8080".into(),
    ]);
    let v = audit(shell_form, &[]);
    assert_eq!(v.status("entrypoint-runnable"), "fail");
    assert!(v.message("entrypoint-runnable").contains("needs /bin/sh"));
    // Not executable, missing, wrong architecture, nothing to run.
    let v = audit(
        scratch_with(vec![ca(), Entry::file("server", STATIC_ELF)]),
        &[],
    );
    assert!(
        v.message("entrypoint-runnable").contains("not executable"),
        "{}",
        v.message("entrypoint-runnable")
    );
    let v = audit(scratch_with(vec![ca()]), &[]);
    assert!(v
        .message("entrypoint-runnable")
        .contains("/server is not in the image"));
    let arm = scratch_with(vec![ca(), Entry::exec("server", STATIC_ELF)])
        .with_platform("linux", "arm64", None);
    let v = audit(arm, &[]);
    assert!(
        v.message("entrypoint-runnable")
            .contains("the image is arm64"),
        "{}",
        v.message("entrypoint-runnable")
    );
    let mut none = img.clone();
    none.entrypoint = None;
    let v = audit(none, &[]);
    assert!(v
        .message("entrypoint-runnable")
        .contains("no ENTRYPOINT or CMD"));
    // PATH lookup and a symlinked entrypoint.
    let mut via_path = scratch_with(vec![
        ca(),
        Entry::exec("opt/app/bin/server-1.4", STATIC_ELF),
        Entry::symlink("usr/local/bin/server", "../../../opt/app/bin/server-1.4"),
    ]);
    via_path.entrypoint = Some(vec!["server".into()]);
    let v = audit(via_path, &[]);
    assert_eq!(
        v.status("entrypoint-runnable"),
        "pass",
        "{}",
        v.message("entrypoint-runnable")
    );
    assert!(v
        .message("entrypoint-runnable")
        .starts_with("/opt/app/bin/server-1.4"));
}

#[test]
fn toolchain_left_in_the_final_image() {
    let v = audit(leaky_image(), &[]);
    assert_eq!(v.status("only-allowed-files"), "fail");
    let d = v.details("only-allowed-files");
    for group in [
        "toolchain: 2 files",
        "sources: 2 files",
        "credentials: 2 files",
        "caches: 2 files",
        "shell: 1 file",
    ] {
        assert!(d.contains(group), "{group} in {d}");
    }
}

#[test]
fn ports_user_skip_and_no_policy() {
    let v = audit(clean_image(), &["--expect-port", "9090"]);
    assert_eq!(v.status("exposed-ports"), "fail");
    assert_eq!(v.code, 1);
    let v = audit(
        clean_image(),
        &["--expect-port", "9090", "--skip-check", "exposed-ports"],
    );
    assert_eq!(v.status("exposed-ports"), "skip");
    assert_eq!(v.code, 0);
    let v = audit(clean_image(), &["--no-policy"]);
    assert!(v.checks.is_empty());
    let (code, _, err) = stowaway(["audit", "x.tar", "--skip-check", "sise-budget"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown check \"sise-budget\""), "{err}");
}

#[test]
fn policy_file_next_to_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("img.tar");
    write_docker_classic(&[clean_image()], &tar);
    std::fs::write(
        dir.path().join("stowaway.toml"),
        "[policy]\nexpect_port = [9090]\n",
    )
    .unwrap();
    let (code, out, _) = stowaway(["audit".as_ref(), tar.as_os_str()]);
    assert_eq!(code, 1);
    assert!(out.contains("FAIL  exposed-ports"), "{out}");
    std::fs::write(
        dir.path().join("stowaway.toml"),
        "[policy]\nexpect_prot = 9090\n",
    )
    .unwrap();
    let (code, _, err) = stowaway(["audit".as_ref(), tar.as_os_str()]);
    assert_eq!(code, 2);
    assert!(err.contains("expect_prot"), "{err}");
    assert!(err.contains("stowaway.toml"), "{err}");
}
