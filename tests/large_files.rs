//! Large files are scanned in 1 MiB chunks with a 64 KiB overlap, never
//! read whole: a secret that straddles a chunk boundary is found once, with
//! its true offset, and one lying wholly in the overlap is not counted twice.

mod common;

use common::*;
use serde_json::Value;

const MIB: usize = 1 << 20;
const OVERLAP: usize = 64 << 10;

/// `len` bytes of filler (binary-ish, no keyword), with each `(offset,
/// text)` written in between newlines.
fn big_file(len: usize, planted: &[(usize, &str)]) -> Vec<u8> {
    let mut data: Vec<u8> = (0..len).map(|i| b"\x01\x02qzvj"[i % 6]).collect();
    for (at, text) in planted {
        data[*at..*at + text.len()].copy_from_slice(text.as_bytes());
        data[*at - 1] = b'\n';
        data[*at + text.len()] = b'\n';
    }
    data
}

fn audit_file(data: Vec<u8>) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("big.tar");
    let img = Image::new().with_layer(Layer::new(vec![Entry::file("data/blob.bin", data)]).gzip());
    write_docker_classic(&[img], &tar);
    let (code, out, err) = stowaway([
        "audit".as_ref(),
        tar.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
        "--no-policy".as_ref(),
    ]);
    assert!(code <= 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["images"][0]["findings"].as_array().unwrap().clone()
}

fn stripe_hits(findings: &[Value]) -> Vec<(u64, u64)> {
    findings
        .iter()
        .filter(|f| f["rule"] == "stripe-secret-key")
        .map(|f| {
            (
                f["offset"].as_u64().unwrap(),
                f["occurrences"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_key_straddling_a_chunk_boundary_is_found_once() {
    // Starts 10 bytes before the first boundary: half in each chunk.
    let at = MIB - 10;
    let findings = audit_file(big_file(3 * MIB, &[(at, STRIPE_KEY)]));
    assert_eq!(
        stripe_hits(&findings),
        vec![(at as u64, 1)],
        "{findings:#?}"
    );
}

#[test]
fn a_key_inside_the_overlap_is_not_counted_twice() {
    // Wholly inside the 64 KiB carried from chunk 2 into chunk 3.
    let at = 2 * MIB - OVERLAP + 100;
    let findings = audit_file(big_file(3 * MIB + 5, &[(at, STRIPE_KEY)]));
    assert_eq!(
        stripe_hits(&findings),
        vec![(at as u64, 1)],
        "{findings:#?}"
    );
}

#[test]
fn a_pem_key_across_a_boundary_deep_in_a_large_file_is_found() {
    let at = 5 * MIB - API_KEY_PEM.len() / 2;
    let findings = audit_file(big_file(6 * MIB, &[(at, API_KEY_PEM)]));
    let pem: Vec<&Value> = findings
        .iter()
        .filter(|f| f["rule"] == "pem-private-key")
        .collect();
    assert_eq!(pem.len(), 1, "{findings:#?}");
    assert_eq!(pem[0]["offset"], at as u64);
    assert_eq!(pem[0]["occurrences"], 1);
}
