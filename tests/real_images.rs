//! Every artifact in ../shared/real-images (written by docker, kaniko,
//! buildkit, crane, containerd) is read, or rejected with a clear error where
//! it is broken on purpose. Counts were checked against the files by hand.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn real(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/real-images")
        .join(rel);
    assert!(
        p.exists(),
        "{} is missing: the tests need ../shared beside the repo",
        p.display()
    );
    p
}

/// Decompresses an `.xz` artifact into `dir` with xz(1).
fn unxz(rel: &str, dir: &Path) -> PathBuf {
    let src = real(rel);
    let out = dir.join(src.file_stem().unwrap());
    let data = std::process::Command::new("xz")
        .arg("-dc")
        .arg(&src)
        .output()
        .expect("xz is installed (.ci/run installs xz-utils)");
    assert!(data.status.success());
    std::fs::write(&out, data.stdout).unwrap();
    out
}

/// (format, platform, layers, files in the final filesystem) per image.
fn shape(path: &Path) -> Vec<(String, String, usize, u64)> {
    let (_, r) = audit_json(path);
    r["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["format"].as_str().unwrap().to_string(),
                i["platform"].as_str().unwrap().to_string(),
                i["layers"].as_array().unwrap().len(),
                i["summary"]["files"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn s(format: &str, platform: &str, layers: usize, files: u64) -> (String, String, usize, u64) {
    (format.into(), platform.into(), layers, files)
}

#[test]
fn docker_archives_of_every_era() {
    let da = "docker-archive";
    assert_eq!(
        shape(&real("ggcr/hello-world-v25.tar")),
        [s("docker-archive-oci", "linux/arm64", 1, 1)]
    );
    assert_eq!(
        shape(&real("ggcr/test_link.tar")),
        [s(da, "linux/amd64", 1, 3), s(da, "linux/amd64", 2, 4)]
    );
    assert_eq!(
        shape(&real("ggcr/test_bundle.tar")),
        [s(da, "linux/amd64", 1, 3), s(da, "linux/amd64", 1, 3)]
    );
    assert_eq!(
        shape(&real("ggcr/whiteout_image.tar")),
        [s(da, "linux/amd64", 3, 2)]
    );
    assert_eq!(
        shape(&real("ggcr/whiteout_dir.tar")),
        [s(da, "linux/amd64", 4, 4)]
    );
    assert_eq!(
        shape(&real("dive/test-docker-image.tar")),
        [s(da, "linux/amd64", 14, 423)]
    );
    assert_eq!(
        shape(&real("dive/test-kaniko-image.tar")),
        [s(da, "linux/amd64", 14, 430)]
    );
    assert_eq!(
        shape(&real("trivy/alpine-311.tar.gz")),
        [s(da, "linux/amd64", 1, 488)]
    );
}

#[test]
fn oci_layouts_and_archives() {
    for z in ["estargz", "gzip", "uncompressed", "zstd"] {
        assert_eq!(
            shape(&real(&format!("dive/test-oci-{z}-image.tar"))),
            [s("oci-archive", "linux/arm64", 1, 1)],
            "{z}"
        );
    }
    assert_eq!(
        shape(&real("stereoscope/multiplatform_oci_dir")),
        [
            s("oci-layout", "linux/amd64", 1, 3),
            s("oci-layout", "linux/arm64", 1, 3)
        ]
    );
    assert_eq!(
        shape(&real("stereoscope/valid-oci.tar")),
        [s("oci-archive", "linux/amd64", 1, 1)]
    );
    assert_eq!(
        shape(&real("stereoscope/valid_oci_dir")),
        [s("oci-layout", "linux/amd64", 1, 1)]
    );
    assert_eq!(
        shape(&real("trivy/test.oci")),
        [s("oci-layout", "linux/amd64", 1, 1)]
    );
    // Four descriptors (OCI manifest, a descriptor-typed manifest, a nested
    // OCI index and a Docker manifest list) reach two distinct images.
    assert_eq!(
        shape(&real("ggcr/layout-test_index")),
        [
            s("oci-layout", "linux/amd64", 1, 3),
            s("oci-layout", "linux/amd64", 1, 3)
        ]
    );
}

#[test]
fn zstd_archive_says_zstd() {
    let (_, r) = audit_json(&real("dive/test-oci-zstd-image.tar"));
    assert_eq!(r["images"][0]["layers"][0]["compression"], "zstd");
}

#[test]
fn ggshield_secret_scanner_image_has_its_two_env_secrets_found() {
    let dir = tempfile::tempdir().unwrap();
    let (code, r) = audit_json(&unxz("ggshield/docker-example.tar.xz", dir.path()));
    assert_eq!(code, 1);
    let keys: Vec<&str> = r["images"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["config_field"] == "env")
        .map(|f| f["config_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["SOME_SECRET", "WHATEVER_TOKEN"]);
}

#[test]
fn rewritten_layer_is_still_audited_and_flagged() {
    // ggshield's gzip layer was recompressed from a different tar than the
    // config's diff_id names: the content is audited and the mismatch reported.
    let dir = tempfile::tempdir().unwrap();
    let (code, r) = audit_json(&unxz("ggshield/docker-tar-gz-layer.tar.xz", dir.path()));
    assert_eq!(code, 1);
    let img = &r["images"][0];
    assert_eq!(img["layers"][2]["compression"], "gzip");
    assert!(img["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "integrity.diff-id-mismatch" && f["layer"] == 2));
}

#[test]
fn broken_on_purpose_artifacts_are_rejected_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            real("ggcr/null_manifest.tar"),
            "manifest.json: expected a list of images, found null",
        ),
        (real("ggcr/no_manifest.tar"), "pre-Docker-1.10 save"),
        (
            unxz(
                "ggshield/docker-incomplete-manifest-example.tar.xz",
                dir.path(),
            ),
            "digest mismatch",
        ),
    ];
    for (path, problem) in cases {
        let (code, _, err) = stowaway(["audit".as_ref(), path.as_os_str()]);
        assert_eq!(code, 2, "{}: {err}", path.display());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(problem), "{}: {err}", path.display());
    }
}
