//! Bad input gets exit code 2 and one line naming the file and the problem:
//! never a panic, never a silent partial result.

mod common;

use common::*;
use std::path::Path;

fn small_image() -> Image {
    Image::new()
        .with_tag("t:1")
        .with_layer(Layer::new(vec![Entry::file("app/a.txt", "hello\n".repeat(200))]).gzip())
}

/// Runs an audit that must fail; checks the one-line error names `path` and
/// says `problem`.
fn must_fail(path: &Path, problem: &str) {
    let (code, out, err) = stowaway(["audit".as_ref(), path.as_os_str()]);
    assert_eq!(code, 2, "exit code for {problem}; stderr: {err}");
    assert!(out.is_empty(), "no report on failure, got {out}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(&path.display().to_string()),
        "names the file: {err}"
    );
    assert!(err.contains(problem), "says {problem:?}: {err}");
}

#[test]
fn layer_blob_digest_mismatch_in_oci_layout() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let w = write_oci_layout(&[small_image()], &layout, MediaFamily::Oci, false);
    corrupt_blob(&layout, &w.images[0].layers[0]);
    // A flipped byte inside gzip data fails decompression or the digest.
    let (code, _, err) = stowaway(["audit".as_ref(), layout.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&layout.display().to_string()), "{err}");
}

#[test]
fn uncompressed_layer_digest_mismatch_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let img = Image::new().with_layer(Layer::new(vec![Entry::file("a", "x".repeat(4000))]));
    let w = write_oci_layout(&[img], &layout, MediaFamily::Oci, false);
    corrupt_blob(&layout, &w.images[0].layers[0]);
    must_fail(&layout, "digest mismatch");
}

#[test]
fn missing_layer_blob() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let w = write_oci_layout(&[small_image()], &layout, MediaFamily::Oci, false);
    std::fs::remove_file(blob_path(&layout, &w.images[0].layers[0])).unwrap();
    must_fail(&layout, "missing layer blob");
}

#[test]
fn missing_config_blob() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let w = write_oci_layout(&[small_image()], &layout, MediaFamily::Oci, false);
    std::fs::remove_file(blob_path(&layout, &w.images[0].config)).unwrap();
    must_fail(&layout, "missing config blob");
}

#[test]
fn corrupt_config_blob() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let w = write_oci_layout(&[small_image()], &layout, MediaFamily::Oci, false);
    corrupt_blob(&layout, &w.images[0].config);
    must_fail(&layout, "digest mismatch");
}

#[test]
fn truncated_gzip_layer_in_docker_archive() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("img.tar");
    let w = write_docker_classic(&[small_image()], &tar);
    truncate_member(&tar, &w.images[0].layer_paths[0], 40);
    let (code, _, err) = stowaway(["audit".as_ref(), tar.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&tar.display().to_string()), "{err}");
}

#[test]
fn layer_missing_from_docker_archive() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("img.tar");
    let w = write_docker_classic(&[small_image()], &tar);
    remove_member(&tar, &w.images[0].layer_paths[0]);
    must_fail(&tar, "not in the archive");
}

#[test]
fn malformed_manifest_json() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("img.tar");
    write_docker_classic(&[small_image()], &tar);
    replace_member(&tar, "manifest.json", b"[{\"Config\": ");
    must_fail(&tar, "manifest.json: malformed JSON");
}

#[test]
fn malformed_index_json() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_oci_layout(&[small_image()], &layout, MediaFamily::Oci, false);
    std::fs::write(layout.join("index.json"), "{\"manifests\": [").unwrap();
    must_fail(&layout, "index.json: malformed JSON");
}

#[test]
fn config_with_fewer_diff_ids_than_layers() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("img.tar");
    let w = write_docker_classic(&[small_image()], &tar);
    let cfg = &w.images[0].config_path;
    let mut v: serde_json::Value =
        serde_json::from_slice(&read_member(&tar, cfg).unwrap()).unwrap();
    v["rootfs"]["diff_ids"] = serde_json::json!([]);
    // The config file name is its digest: rename-free tampering fails that
    // check first, so the message is a digest mismatch.
    replace_member(&tar, cfg, &serde_json::to_vec(&v).unwrap());
    must_fail(&tar, "digest mismatch");
}

#[test]
fn trailing_garbage_after_a_gzip_layer() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("img.tar");
    let w = write_docker_classic(&[small_image()], &tar);
    let member = &w.images[0].layer_paths[0];
    let mut blob = read_member(&tar, member).unwrap();
    blob.extend_from_slice(b"GARBAGE!");
    replace_member(&tar, member, &blob);
    let (code, _, err) = stowaway(["audit".as_ref(), tar.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&tar.display().to_string()), "{err}");
}

#[test]
fn not_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("random.tar");
    std::fs::write(
        &tar,
        layer_tar(&Layer::new(vec![Entry::file("hello", "x")])),
    )
    .unwrap();
    must_fail(&tar, "not a container image");
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, [0x42u8; 3000]).unwrap();
    let (code, _, err) = stowaway(["audit".as_ref(), junk.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("junk.bin"), "{err}");
}

#[test]
fn xz_and_bzip2_archives_are_named_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    for (name, head) in [
        ("x.tar.xz", &b"\xfd7zXZ\x00\x00\x04"[..]),
        ("x.tar.bz2", b"BZh91AY&SY"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, [head, &[0u8; 600][..]].concat()).unwrap();
        must_fail(&path, "decompress it first");
    }
    // The same sniffing reads layer blobs: an xz layer is named, not
    // taken for a broken tar.
    let layout = dir.path().join("layout");
    let w = write_oci_layout(&[small_image()], &layout, MediaFamily::Oci, false);
    let blob = blob_path(&layout, &w.images[0].layers[0]);
    let mut xz = std::fs::read(&blob).unwrap();
    xz[..8].copy_from_slice(b"\xfd7zXZ\x00\x00\x04");
    std::fs::write(&blob, xz).unwrap();
    must_fail(&layout, "compressed with xz");
}

#[test]
fn missing_source_file() {
    let dir = tempfile::tempdir().unwrap();
    must_fail(&dir.path().join("nope.tar"), "cannot open");
}

#[test]
fn bad_arguments_exit_2() {
    let (code, _, err) = stowaway(["audit", "x.tar", "--fail-on", "severe"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown severity"), "{err}");
    let (code, _, _) = stowaway(["audit", "x.tar", "--platform", "amd64"]);
    assert_eq!(code, 2);
}

#[test]
fn hostile_entry_names_are_confined_to_the_image_root() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("img.tar");
    let img = Image::new().with_layer(Layer::new(vec![
        Entry::file("../../root/.ssh/id_rsa", "not really a key"),
        Entry::file("/abs/.aws/credentials", "[default]\n"),
    ]));
    write_docker_classic(&[img], &tar);
    let (_, report) = audit_json(&tar);
    let paths: Vec<&str> = report["images"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"/root/.ssh/id_rsa"), "{paths:?}");
    assert!(paths.contains(&"/abs/.aws/credentials"), "{paths:?}");
}

#[test]
fn resource_limits_stop_the_audit_with_the_flag_named() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("img.tar");
    write_docker_classic(&[small_image()], &tar);
    for (flag, value, says) in [
        ("--max-layer-size", "1KB", "--max-layer-size"),
        ("--max-image-size", "1KiB", "--max-image-size"),
        ("--max-entries", "1", "--max-entries"),
        ("--max-path-length", "5", "--max-path-length"),
    ] {
        let (code, out, err) = stowaway([
            "audit".as_ref(),
            tar.as_os_str(),
            flag.as_ref(),
            value.as_ref(),
        ]);
        assert_eq!(code, 2, "{flag}: {err}");
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(says) && err.contains(&tar.display().to_string()),
            "{flag}: {err}"
        );
    }
    // The defaults leave a normal image alone.
    let (code, _, err) = stowaway(["audit".as_ref(), tar.as_os_str(), "--no-policy".as_ref()]);
    assert_eq!(code, 0, "{err}");
}
