//! The bundled demo images in testdata/ are made by the fixture builder; this
//! test keeps them byte-identical to it (`UPDATE_DEMO=1` rewrites them) and
//! snapshots what a person and a machine see when auditing them.

mod common;

use common::*;
use std::path::Path;

fn check_demo(name: &str, img: Image) {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join(name);
    write_docker_classic(&[img], &fresh);
    let bytes = std::fs::read(&fresh).unwrap();
    if std::env::var_os("UPDATE_DEMO").is_some() {
        std::fs::write(&committed, &bytes).unwrap();
    }
    let old = std::fs::read(&committed).expect("testdata demo image exists");
    assert!(
        old == bytes,
        "{name} is stale: run UPDATE_DEMO=1 cargo test --test demo"
    );
}

#[test]
fn demo_images_are_up_to_date() {
    check_demo("demo-leaky.tar", leaky_image());
    check_demo("demo-clean.tar", clean_image());
}

fn run_in_repo(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stowaway"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn demo_leaky_text_report() {
    let (code, out, err) = run_in_repo(&["audit", "testdata/demo-leaky.tar"]);
    assert_eq!(code, 1, "{err}");
    insta::assert_snapshot!(out);
}

#[test]
fn demo_leaky_json_report() {
    let (code, out, err) = run_in_repo(&["audit", "testdata/demo-leaky.tar", "--format", "json"]);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    insta::assert_json_snapshot!(v, {
        ".tool.version" => "[version]",
        ".tool.rules" => "[count]",
        ".tool.rules_hash" => "[hash]",
    });
}

#[test]
fn demo_clean_passes() {
    let (code, out, err) = run_in_repo(&["audit", "testdata/demo-clean.tar"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out);
}

#[test]
fn output_file_and_fail_on() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let (code, stdout, _) = run_in_repo(&[
        "audit",
        "testdata/demo-leaky.tar",
        "--format",
        "json",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(v["schema"], "stowaway/report-v1");
    // The worst finding is critical: --fail-on critical still fails; a clean
    // image passes at any threshold.
    assert_eq!(
        run_in_repo(&["audit", "testdata/demo-leaky.tar", "--fail-on", "critical"]).0,
        1
    );
    assert_eq!(
        run_in_repo(&["audit", "testdata/demo-clean.tar", "--fail-on", "info"]).0,
        0
    );
}
