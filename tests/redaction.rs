//! No output format ever contains a planted secret: not whole, not in part.

mod common;

use common::*;

/// Every 13-byte window of every planted secret (a report may show a known
/// prefix such as `sk_live_` and four more characters: 12), and each PEM body line.
fn forbidden() -> Vec<String> {
    let mut out = Vec::new();
    for s in PLANTED.iter().chain([&AWS_KEY_ID]) {
        for w in s.as_bytes().windows(13) {
            out.push(String::from_utf8(w.to_vec()).unwrap());
        }
    }
    for line in API_KEY_PEM.lines().filter(|l| !l.starts_with("-----")) {
        out.push(line.to_string());
    }
    out
}

#[test]
fn no_format_prints_a_planted_secret() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("leaky.tar");
    write_docker_classic(&[leaky_image()], &tar);
    let bad = forbidden();
    for format in ["text", "json"] {
        let (code, out, err) = stowaway([
            "audit".as_ref(),
            tar.as_os_str(),
            "--format".as_ref(),
            format.as_ref(),
        ]);
        assert_eq!(code, 1, "{err}");
        for b in &bad {
            assert!(!out.contains(b.as_str()), "{format} output contains {b:?}");
            assert!(!err.contains(b.as_str()), "{format} stderr contains {b:?}");
        }
        // Each planted value was found: the fingerprints are in the report.
        for s in PLANTED {
            let fp = &sha256_hex(s.as_bytes())[..16];
            assert!(
                out.contains(fp),
                "{format}: no finding with the fingerprint of {}…",
                &s[..4]
            );
        }
    }
}
