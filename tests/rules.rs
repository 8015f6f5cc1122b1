//! Every rule's examples and negative examples go through the real matcher,
//! and user rule files are validated with clear errors.

mod common;

use common::*;
use stowaway::rules::{check_examples, RuleSet};

#[test]
fn every_builtin_rule_matches_its_examples_and_not_its_negatives() {
    let rules = RuleSet::load(&[]).unwrap();
    assert!(rules.rules().len() >= 30, "{} rules", rules.rules().len());
    let failures: Vec<String> = check_examples(&rules)
        .iter()
        .map(|f| f.to_string())
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn rules_check_command_passes() {
    let (code, out, _) = stowaway(["rules", "check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(": 0 failed"), "{out}");
}

const USER_RULE: &str = r#"
[[rule]]
id = "acme-internal-token"
name = "ACME internal token"
kind = "secret"
severity = "critical"
description = "ACME's internal service token."
remediation = "Use the vault."
keywords = ["acme_tok_"]
pattern = '''acme_tok_[a-z0-9]{16}'''
examples = ["token: acme_tok_0123456789abcdef"]
negative_examples = ["acme_tok_short"]
"#;

#[test]
fn user_rules_are_added_and_used() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("acme.toml");
    std::fs::write(&rules, USER_RULE).unwrap();
    let tar = dir.path().join("img.tar");
    let img = Image::new().with_layer(Layer::new(vec![Entry::file(
        "etc/acme.conf",
        "token = acme_tok_0123456789abcdef\n",
    )]));
    write_docker_classic(&[img], &tar);
    let (code, out, err) = stowaway([
        "audit".as_ref(),
        tar.as_os_str(),
        "--rules".as_ref(),
        rules.as_os_str(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("acme-internal-token"), "{out}");
    assert!(out.contains("/etc/acme.conf:1"), "{out}");
}

#[test]
fn broken_user_rules_are_exit_2_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            USER_RULE.replace("[a-z0-9]{16}", "[a-z0-9"),
            "invalid pattern regex",
        ),
        (
            USER_RULE.replace("keywords = [\"acme_tok_\"]", ""),
            "needs non-empty `keywords`",
        ),
        (
            USER_RULE.replace("severity = \"critical\"", "severity = \"dire\""),
            "invalid rule file",
        ),
        (
            USER_RULE.replace("pattern =", "patern ="),
            "invalid rule file",
        ),
        (
            USER_RULE.replace("acme-internal-token", "pem-private-key"),
            "is already defined",
        ),
    ];
    for (i, (text, problem)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("r{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let (code, _, err) = stowaway([
            "rules".as_ref(),
            "check".as_ref(),
            "--rules".as_ref(),
            path.as_os_str(),
        ]);
        assert_eq!(code, 2, "{problem}: {err}");
        assert!(err.contains(problem), "{problem}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
