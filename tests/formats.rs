//! The same images written in every format the issue lists must give the same
//! findings: docker save (classic, Docker 25+, gzip-wrapped), OCI layouts and
//! archives with OCI or Docker media types, layers plain, gzip and zstd.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One line per finding, with everything that must not depend on the format.
fn lines(report: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for img in report["images"].as_array().unwrap() {
        // OCI layouts name images by tag only (`org.opencontainers.image.ref.name`).
        let tag = img["tags"].get(0).and_then(Value::as_str).unwrap_or("-");
        let tag = tag.rsplit(':').next().unwrap();
        for f in img["findings"].as_array().unwrap() {
            let place = match f["where"].as_str().unwrap() {
                "layer" => format!(
                    "L{} {} {}",
                    f["layer"],
                    f["path"].as_str().unwrap(),
                    f["state"].as_str().unwrap()
                ),
                _ => format!(
                    "config {} {}",
                    f["config_field"].as_str().unwrap(),
                    f["config_key"]
                        .as_str()
                        .map(String::from)
                        .or_else(|| f["history_index"].as_u64().map(|h| format!("#{h}")))
                        .unwrap_or_default()
                ),
            };
            out.push(format!(
                "{tag} {} {} {place} fp={}",
                f["severity"].as_str().unwrap(),
                f["rule"].as_str().unwrap(),
                f["fingerprint"].as_str().unwrap_or("-")
            ));
        }
        for p in img["policy"].as_array().unwrap() {
            if p["status"] != "pass" && p["status"] != "skip" {
                out.push(format!(
                    "{tag} policy {} {}",
                    p["check"].as_str().unwrap(),
                    p["status"].as_str().unwrap()
                ));
            }
        }
    }
    out.sort();
    out
}

/// Writes `images` in every format; returns (format name, path).
fn every_format(images: &[Image], dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    let classic = dir.join("classic.tar");
    write_docker_classic(images, &classic);
    out.push(("docker-classic", classic.clone()));
    out.push(("docker-classic.tar.gz", gzip_file(&classic)));
    let d25 = dir.join("docker25.tar");
    write_docker25(images, &d25, false);
    out.push(("docker25", d25));
    let layout = dir.join("oci-layout");
    write_oci_layout(images, &layout, MediaFamily::Oci, false);
    out.push(("oci-layout", layout));
    let layout_docker = dir.join("oci-layout-docker-types");
    write_oci_layout(images, &layout_docker, MediaFamily::Docker, false);
    out.push(("oci-layout-docker-types", layout_docker));
    let archive = dir.join("oci-archive.tar");
    write_oci_archive(images, &archive, MediaFamily::Oci, false);
    out.push(("oci-archive", archive));
    out
}

fn audit_lines(path: &Path) -> (i32, Vec<String>) {
    let (code, report) = audit_json(path);
    (code, lines(&report))
}

const LEAKY_FINDINGS: &[&str] = &[
    "leaky critical aws-secret-access-key L5 /root/.aws/credentials present fp=e6c98f67ae436bcd",
    "leaky critical pem-private-key L2 /app/key.pem deleted fp=7936aa4aae062503",
    "leaky critical pem-private-key L4 /run/secrets/api_key present fp=7936aa4aae062503",
    "leaky critical secret-path.buildkit-secret L4 /run/secrets/api_key present fp=74ed7edd58779091",
    "leaky critical stripe-secret-key L6 /app/server present fp=538839cb208c7126",
    "leaky critical stripe-secret-key config env STRIPE_API_KEY fp=17295b94639513a3",
    "leaky high aws-access-key-id L5 /root/.aws/credentials present fp=01540e494e7c48f4",
    "leaky high config.secret-variable config history API_KEY fp=cc2d597efd8fb97f",
    "leaky high secret-path.aws-credentials L5 /root/.aws/credentials present fp=e1cb8223b505c6c0",
    "leaky low residue.go-build-cache L1 /root/.cache/go-build/00/00a1-d present fp=-",
    "leaky low residue.go-module-cache L1 /go/pkg/mod/cache/download/x.zip present fp=-",
    "leaky low residue.go-sources L6 /app/main.go present fp=-",
    "leaky medium residue.go-toolchain L1 /usr/local/go/bin/go present fp=-",
    "leaky policy ca-certificates warn",
    "leaky policy only-allowed-files fail",
    "leaky policy user warn",
];

#[test]
fn leaky_image_gives_the_same_findings_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    for (name, path) in every_format(&[leaky_image()], dir.path()) {
        let (code, got) = audit_lines(&path);
        assert_eq!(code, 1, "{name}: exit code");
        assert_eq!(got, LEAKY_FINDINGS, "{name}: findings");
    }
}

#[test]
fn clean_image_reports_nothing_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    for (name, path) in every_format(&[clean_image()], dir.path()) {
        let (code, got) = audit_lines(&path);
        assert_eq!(code, 0, "{name}: exit code");
        assert!(got.is_empty(), "{name}: {got:#?}");
    }
}

#[test]
fn docker25_save_of_an_untagged_image_with_null_index_is_read_from_manifest_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d25-null.tar");
    write_docker25(&[leaky_image()], &path, true);
    let (code, report) = audit_json(&path);
    assert_eq!(code, 1);
    assert_eq!(report["images"][0]["format"], "docker-archive-oci");
    assert_eq!(lines(&report), LEAKY_FINDINGS);
}

#[test]
fn multi_image_archive_attributes_findings_to_each_image() {
    let dir = tempfile::tempdir().unwrap();
    for (name, path) in every_format(&[clean_image(), leaky_image()], dir.path()) {
        let (code, report) = audit_json(&path);
        assert_eq!(code, 1, "{name}");
        let images = report["images"].as_array().unwrap();
        assert_eq!(images.len(), 2, "{name}");
        let by_tag = |t: &str| {
            images
                .iter()
                .find(|i| i["tags"][0].as_str().unwrap().ends_with(t))
                .unwrap_or_else(|| panic!("{name}: no image tagged {t}"))
        };
        assert_eq!(
            by_tag("clean")["findings"].as_array().unwrap().len(),
            0,
            "{name}"
        );
        assert_eq!(lines(&report), LEAKY_FINDINGS, "{name}");
    }
}

#[test]
fn multi_platform_index_audits_every_platform_unless_one_is_picked() {
    let dir = tempfile::tempdir().unwrap();
    let amd = leaky_image();
    let arm = clean_image().with_platform("linux", "arm64", Some("v8"));
    for family in [MediaFamily::Oci, MediaFamily::Docker] {
        let layout = dir.path().join(format!("multi-{family:?}"));
        write_oci_layout(&[amd.clone(), arm.clone()], &layout, family, true);
        let (code, report) = audit_json(&layout);
        assert_eq!(code, 1);
        let platforms: Vec<&str> = report["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["platform"].as_str().unwrap())
            .collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);

        let (code, out, err) = stowaway([
            "audit".as_ref(),
            layout.as_os_str(),
            "--platform".as_ref(),
            "linux/arm64".as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
            // The fixture's binary is amd64 in both variants.
            "--skip-check".as_ref(),
            "entrypoint-runnable".as_ref(),
        ]);
        assert_eq!(code, 0, "{err}");
        let report: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["images"].as_array().unwrap().len(), 1);
        assert_eq!(report["images"][0]["platform"], "linux/arm64/v8");

        let (code, _, err) = stowaway([
            "audit".as_ref(),
            layout.as_os_str(),
            "--platform".as_ref(),
            "linux/s390x".as_ref(),
        ]);
        assert_eq!(code, 2);
        assert!(
            err.contains("no image for the requested --platform"),
            "{err}"
        );
    }
}

#[test]
fn entry_name_styles_and_missing_end_blocks_do_not_change_findings() {
    // `./` names, no parent directory entries, PAX long names and no
    // end-of-archive blocks (umoci) in every layer.
    let mut img = leaky_image();
    for l in &mut img.layers {
        l.dot_slash = true;
        l.parent_dirs = false;
        l.end_blocks = false;
        l.pax = true;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("styled.tar");
    write_docker_classic(&[img], &path);
    assert_eq!(audit_lines(&path).1, LEAKY_FINDINGS);
}
