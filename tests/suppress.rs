//! Baselines and ignore entries: suppressed findings are counted and listed
//! with their reason, never dropped; expired ignores stop suppressing.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

fn leaky_app(extra: Vec<Entry>) -> Image {
    let mut entries = vec![Entry::file(
        "app/config.env",
        format!("STRIPE_KEY={STRIPE_KEY}\n"),
    )];
    entries.extend(extra);
    clean_image()
        .with_layer(Layer::new(entries).with_created_by("COPY config.env /app/ # buildkit"))
}

fn audit(tar: &Path, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec![
        "audit",
        tar.to_str().unwrap(),
        "--no-policy",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = stowaway(args);
    assert!(code < 2, "{err}");
    (code, serde_json::from_str(&out).unwrap(), err)
}

#[test]
fn baseline_suppresses_known_findings_and_a_new_key_fails_again() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("app.tar");
    write_docker_classic(&[leaky_app(vec![])], &tar);
    let baseline = dir.path().join("baseline.json");
    let (code, _, err) = stowaway([
        "baseline",
        tar.to_str().unwrap(),
        "--no-policy",
        "--output",
        baseline.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("recorded in"), "{err}");
    let b: Value = serde_json::from_slice(&std::fs::read(&baseline).unwrap()).unwrap();
    assert_eq!(b["schema"], "stowaway/baseline-v1");
    assert!(!b.to_string().contains(STRIPE_KEY));

    let (code, r, _) = audit(&tar, &["--baseline", baseline.to_str().unwrap()]);
    assert_eq!(code, 0, "{r}");
    let img = &r["images"][0];
    assert_eq!(img["findings"].as_array().unwrap().len(), 0);
    assert_eq!(img["summary"]["suppressed"], 1);
    assert_eq!(img["suppressed"][0]["suppressed"], "in the baseline");

    // Rebuilt with a new key: the old one stays suppressed, the new one fails.
    write_docker_classic(
        &[leaky_app(vec![Entry::file(
            "app/aws",
            format!("aws_secret_access_key = {AWS_SECRET}\n"),
        )])],
        &tar,
    );
    let (code, r, _) = audit(&tar, &["--baseline", baseline.to_str().unwrap()]);
    assert_eq!(code, 1);
    let rules: Vec<&str> = r["images"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["aws-secret-access-key"]);
    assert_eq!(r["images"][0]["summary"]["suppressed"], 1);

    // Text, SARIF and JUnit say so too.
    let (_, text, _) = stowaway([
        "audit",
        tar.to_str().unwrap(),
        "--no-policy",
        "--baseline",
        baseline.to_str().unwrap(),
    ]);
    assert!(text.contains("suppressed (1)"), "{text}");
    let (_, sarif, _) = stowaway([
        "audit",
        tar.to_str().unwrap(),
        "--no-policy",
        "--baseline",
        baseline.to_str().unwrap(),
        "--format",
        "sarif",
    ]);
    assert!(sarif.contains("\"suppressions\""), "{sarif}");
}

#[test]
fn ignore_entries_with_reason_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("app.tar");
    write_docker_classic(&[leaky_app(vec![])], &tar);
    let settings = dir.path().join("stowaway.toml");
    std::fs::write(
        &settings,
        r#"
[[ignore]]
rule = "stripe-secret-key"
path = "/app/*.env"
reason = "revoked test key, ticket SEC-42"
expires = "2999-01-01"
"#,
    )
    .unwrap();
    let (code, r, _) = audit(&tar, &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        r["images"][0]["suppressed"][0]["suppressed"],
        "ignored: revoked test key, ticket SEC-42"
    );

    std::fs::write(
        &settings,
        r#"
[[ignore]]
rule = "stripe-secret-key"
reason = "revoked test key"
expires = "2020-01-01"
"#,
    )
    .unwrap();
    let (code, r, _) = audit(&tar, &[]);
    assert_eq!(code, 1);
    let notes = r["images"][0]["notes"].to_string();
    assert!(notes.contains("expired on 2020-01-01"), "{notes}");

    // A path that does not match, and a malformed date.
    std::fs::write(
        &settings,
        "[[ignore]]\nrule = \"stripe-secret-key\"\npath = \"/other/**\"\nreason = \"x\"\n",
    )
    .unwrap();
    assert_eq!(audit(&tar, &[]).0, 1);
    std::fs::write(
        &settings,
        "[[ignore]]\nrule = \"stripe-secret-key\"\nreason = \"x\"\nexpires = \"soon\"\n",
    )
    .unwrap();
    let (code, _, err) = stowaway(["audit", tar.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("YYYY-MM-DD"), "{err}");
    std::fs::write(&settings, "[[ignore]]\nrule = \"stripe-secret-key\"\n").unwrap();
    let (code, _, err) = stowaway(["audit", tar.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("reason"), "{err}");
}
