//! A real Go service built with Debian's golang-go (CI installs it): the
//! static, stripped, trimmed build passes `go-binary`; one linked with
//! `-ldflags -X main.apiKey=...` fails it and the key is found in the binary.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn go_build(out: &Path, flags: &[&str]) -> Vec<u8> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/goservice");
    let mut args = vec!["build"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["-o", out.to_str().unwrap(), "./cmd/server"]);
    let status = Command::new("go")
        .args(&args)
        .current_dir(&src)
        .env("CGO_ENABLED", "0")
        .env("GOFLAGS", "-mod=mod")
        .env("GOCACHE", std::env::temp_dir().join("stowaway-go-cache"))
        .status()
        .expect("`go` is on PATH: install Debian's golang-go (.ci/run does)");
    assert!(status.success(), "go build failed");
    std::fs::read(out).unwrap()
}

fn audit_binary(binary: Vec<u8>, dir: &Path) -> (i32, Value) {
    let img = Image::new()
        .with_layer(Layer::new(vec![
            Entry::file("etc/ssl/certs/ca-certificates.crt", CA_BUNDLE),
            Entry::exec("server", binary),
        ]))
        .with_exposed_port("8080/tcp")
        .with_user("65534")
        .with_entrypoint(&["/server"]);
    let tar: PathBuf = dir.join("img.tar");
    write_docker_classic(&[img], &tar);
    audit_json(&tar)
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["images"][0]["policy"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["check"] == id)
        .unwrap()
}

#[test]
fn static_stripped_trimmed_go_service_passes() {
    let dir = tempfile::tempdir().unwrap();
    let bin = go_build(
        &dir.path().join("server"),
        &["-trimpath", "-ldflags", "-s -w"],
    );
    let (code, r) = audit_binary(bin, dir.path());
    let go = check(&r, "go-binary");
    assert_eq!(go["measured"]["static"], true, "{go}");
    assert_eq!(go["measured"]["stripped"], true, "{go}");
    assert_eq!(go["measured"]["trimpath"], true, "{go}");
    assert_eq!(go["measured"]["cgo_enabled"], false, "{go}");
    assert!(go["measured"]["go_version"]
        .as_str()
        .unwrap()
        .starts_with("go1."));
    assert!(
        go["message"]
            .as_str()
            .unwrap()
            .contains("finserve/payment/cmd/server"),
        "{go}"
    );
    // Go leaves -ldflags out of -trimpath builds, and says so.
    assert_eq!(go["status"], "warn", "{go}");
    assert_eq!(check(&r, "entrypoint-runnable")["status"], "pass");
    assert_eq!(code, 0, "{r}");
}

#[test]
fn ldflags_x_secret_fails_and_is_found_in_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let flag = format!("-X main.apiKey={STRIPE_KEY}");
    let bin = go_build(&dir.path().join("server"), &["-ldflags", &flag]);
    let (code, r) = audit_binary(bin, dir.path());
    assert_eq!(code, 1);
    let go = check(&r, "go-binary");
    assert_eq!(go["status"], "fail", "{go}");
    let msg = go["message"].as_str().unwrap();
    assert!(msg.contains("-X main.apiKey=sk_live_"), "{msg}");
    assert!(
        !msg.contains(STRIPE_KEY),
        "the message must not print the key: {msg}"
    );
    assert_eq!(go["measured"]["stripped"], false);
    // The content rules find the key in the binary too.
    let found = r["images"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "stripe-secret-key" && f["path"] == "/server");
    assert!(found, "{r}");
    // A non-shaped value under a secret-looking name is caught by the config rule.
    let bin = go_build(
        &dir.path().join("server2"),
        &["-ldflags", "-X main.apiKey=Zx81kPq0rT5vW2yBn7Qe"],
    );
    let (_, r) = audit_binary(bin, dir.path());
    assert_eq!(check(&r, "go-binary")["status"], "fail");
}
