//! BuildKit attestations in an OCI layout: the provenance is scanned for
//! secrets, and a secret id passed as a build arg is caught. The statement
//! follows what BuildKit writes for `--provenance=mode=max` (SLSA v0.2).

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;

fn put_blob(layout: &Path, data: &[u8]) -> String {
    let hex = sha256_hex(data);
    std::fs::write(layout.join("blobs/sha256").join(&hex), data).unwrap();
    format!("sha256:{hex}")
}

fn provenance(build_args: Value) -> Value {
    json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": "pkg:docker/finserve/payment@latest?platform=linux%2Famd64", "digest": {"sha256": "0".repeat(64)}}],
        "predicate": {
            "builder": {"id": ""},
            "buildType": "https://mobyproject.org/buildkit@v1",
            "materials": [{"uri": "pkg:docker/alpine@3.19?platform=linux%2Famd64", "digest": {"sha256": "1".repeat(64)}}],
            "invocation": {
                "configSource": {"entryPoint": "Dockerfile"},
                "parameters": {
                    "frontend": "dockerfile.v0",
                    "args": build_args,
                    "secrets": [{"id": "api_key", "optional": false}],
                    "locals": [{"name": "context"}, {"name": "dockerfile"}]
                },
                "environment": {"platform": "linux/amd64"}
            },
            "buildConfig": {"llbDefinition": [{"id": "step0", "op": {"Op": {"source": {"identifier": "docker-image://docker.io/library/alpine:3.19"}}}}]},
            "metadata": {
                "buildInvocationID": "x4kq9r2w",
                "completeness": {"parameters": true, "environment": true, "materials": false},
                "reproducible": false
            }
        }
    })
}

/// Writes the clean image as an OCI layout whose index.json points at an
/// image index holding the image manifest and its attestation manifest.
fn layout_with_attestation(dir: &Path, statement: Option<Value>) -> std::path::PathBuf {
    let layout = dir.join("layout");
    write_oci_layout(&[clean_image()], &layout, MediaFamily::Oci, false);
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut image_desc = index["manifests"][0].clone();
    image_desc["platform"] = json!({"architecture": "amd64", "os": "linux"});
    let mut manifests = vec![image_desc.clone()];
    if let Some(statement) = statement {
        let data = serde_json::to_vec(&statement).unwrap();
        let stmt = put_blob(&layout, &data);
        let config = serde_json::to_vec(&json!({"architecture": "unknown", "os": "unknown", "config": {}, "rootfs": {"type": "layers", "diff_ids": [stmt]}})).unwrap();
        let config_digest = put_blob(&layout, &config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": stmt, "size": data.len(),
                        "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}]
        }))
        .unwrap();
        let m = put_blob(&layout, &manifest);
        manifests.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": m, "size": manifest.len(),
            "annotations": {"vnd.docker.reference.digest": image_desc["digest"], "vnd.docker.reference.type": "attestation-manifest"},
            "platform": {"architecture": "unknown", "os": "unknown"}
        }));
    }
    let nested = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests})).unwrap();
    let n = put_blob(&layout, &nested);
    let top = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": n, "size": nested.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "clean"}}]});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    layout
}

fn audit(layout: &Path) -> (i32, Value) {
    let (code, out, err) = stowaway([
        "audit".as_ref(),
        layout.as_os_str(),
        "--secret-id".as_ref(),
        "api_key".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert!(code < 2, "{err}");
    (code, serde_json::from_str(&out).unwrap())
}

#[test]
fn build_arg_secret_in_provenance_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let layout = layout_with_attestation(
        dir.path(),
        Some(provenance(
            json!({"build-arg:STRIPE_KEY": STRIPE_KEY, "build-arg:API_KEY": BUILD_ARG_KEY, "build-arg:GOFLAGS": "-mod=mod"}),
        )),
    );
    let (code, r) = audit(&layout);
    assert_eq!(code, 1);
    let img = &r["images"][0];
    let rules: Vec<(&str, &str)> = img["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap(),
                f["config_key"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        rules.contains(&("stripe-secret-key", "https://slsa.dev/provenance/v0.2")),
        "{rules:?}"
    );
    assert!(
        rules.contains(&("provenance.build-arg-secret", "API_KEY")),
        "{rules:?}"
    );
    assert!(
        rules.contains(&("provenance.secret-as-build-arg", "api_key")),
        "{rules:?}"
    );
    let summary = img["attestations"][0].as_str().unwrap();
    assert!(summary.contains("mode=max"), "{summary}");
    assert!(summary.contains("secret mount(s): api_key"), "{summary}");
    let text = r.to_string();
    for s in [STRIPE_KEY, BUILD_ARG_KEY] {
        assert!(!text.contains(s));
    }
}

#[test]
fn clean_provenance_and_no_attestation() {
    let dir = tempfile::tempdir().unwrap();
    let layout = layout_with_attestation(
        dir.path(),
        Some(provenance(json!({"build-arg:GOFLAGS": "-mod=mod"}))),
    );
    let (code, r) = audit(&layout);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        r["images"].as_array().unwrap().len(),
        1,
        "the attestation is not an image"
    );
    let dir2 = tempfile::tempdir().unwrap();
    let layout = layout_with_attestation(dir2.path(), None);
    let (_, r) = audit(&layout);
    assert_eq!(r["images"][0]["attestations"], json!(["none"]));
}
