//! SARIF, JUnit and Markdown renderings of the bundled demo images: SARIF
//! validates against the OASIS schema, JUnit is well-formed XML, Markdown
//! names every rule, no format leaks a planted secret, and all three count
//! the same findings as the JSON report.

mod common;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use stowaway::audit::{audit_source, Options};
use stowaway::report::junit::render_junit;
use stowaway::report::markdown::render_markdown;
use stowaway::report::sarif::render_sarif;
use stowaway::report::{PolicyResult, Report, Tool, SCHEMA};
use stowaway::rules::RuleSet;
use stowaway::severity::Severity;

const SARIF_SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/schemas/sarif-schema-2.1.0.json"
);

fn demo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// The report `stowaway audit PATH` renders, built through the library with
/// the CLI's defaults.
fn audit(path: &Path) -> Report {
    let rules = RuleSet::load(&[]).expect("built-in rules load");
    let fail_on = Severity::High;
    let opts = Options {
        fail_on,
        ..Options::default()
    };
    let images = audit_source(path, &rules, &opts).expect("the demo image audits");
    Report {
        schema: SCHEMA,
        tool: Tool {
            name: "stowaway",
            version: env!("CARGO_PKG_VERSION"),
            rules: rules.rules().len(),
            rules_hash: rules.hash().to_string(),
            fail_on,
        },
        images,
    }
}

/// The report with one policy result of every status added to each image.
fn with_every_policy_status(mut report: Report) -> Report {
    for img in &mut report.images {
        for status in ["pass", "fail", "warn", "skip"] {
            img.policy.push(PolicyResult {
                check: format!("test-{status}"),
                status: status.to_string(),
                measured: serde_json::json!(16_000_000),
                limit: serde_json::json!("15 MB"),
                message: format!("synthetic {status} <check> & \"quotes\""),
                details: vec!["/usr/local/go/bin/go 8 KB".to_string()],
            });
        }
    }
    report
}

fn findings(report: &Report) -> usize {
    report.images.iter().map(|i| i.findings.len()).sum()
}

/// Runs python3 with `script` and `args`; fails with what to install when
/// python3 or a module is missing.
fn python(script: &str, args: &[&Path]) -> std::process::Output {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 is needed to check SARIF and JUnit output ({e}): install python3 and `pip install jsonschema`")
        });
    if out.status.code() == Some(3) {
        panic!("{}", String::from_utf8_lossy(&out.stderr));
    }
    out
}

const VALIDATE_SARIF: &str = r#"
import json, sys
try:
    import jsonschema
except ImportError:
    sys.stderr.write("python3 cannot import jsonschema: pip install jsonschema\n")
    sys.exit(3)
schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
cls = jsonschema.validators.validator_for(schema)
errors = list(cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(doc))
for e in errors[:20]:
    print("/".join(map(str, e.absolute_path)), e.message)
sys.exit(1 if errors else 0)
"#;

/// Validates SARIF text against the OASIS 2.1.0 schema (via Python's
/// jsonschema) and against what GitHub code scanning needs.
fn validate_sarif(sarif: &str) -> Value {
    assert!(
        Path::new(SARIF_SCHEMA).is_file(),
        "the SARIF schema is missing at {SARIF_SCHEMA}: it ships in shared/schemas beside the clone"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.sarif");
    std::fs::write(&file, sarif).unwrap();
    let out = python(VALIDATE_SARIF, &[Path::new(SARIF_SCHEMA), &file]);
    assert!(
        out.status.success(),
        "SARIF does not validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log: Value = serde_json::from_str(sarif).unwrap();
    check_github_needs(&log);
    log
}

/// GitHub's additional needs: a driver name, and per result a rule id that
/// is in the rules, a message, a relative location with a start line and a
/// partial fingerprint.
fn check_github_needs(log: &Value) {
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "stowaway");
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    for r in results(log) {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], r["ruleId"], "{r}");
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
        let physical = &r["locations"][0]["physicalLocation"];
        let uri = physical["artifactLocation"]["uri"].as_str().unwrap();
        assert!(!uri.is_empty() && !uri.starts_with('/'), "{uri}");
        assert!(physical["region"]["startLine"].as_u64().unwrap() >= 1);
        assert_eq!(
            r["partialFingerprints"]["stowaway/v1"]
                .as_str()
                .unwrap()
                .len(),
            32
        );
        assert!(r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].is_string());
    }
}

fn results(log: &Value) -> &Vec<Value> {
    log["runs"][0]["results"].as_array().unwrap()
}

/// SARIF results for findings (not policy checks).
fn finding_results(log: &Value) -> Vec<&Value> {
    results(log)
        .iter()
        .filter(|r| !r["ruleId"].as_str().unwrap().starts_with("policy."))
        .collect()
}

const CHECK_JUNIT: &str = r#"
import json, sys
from xml.dom import minidom
doc = minidom.parse(sys.argv[1])
root = doc.documentElement
assert root.tagName == "testsuites", root.tagName
def kids(node, tag):
    return [c for c in node.childNodes if c.nodeType == c.ELEMENT_NODE and c.tagName == tag]
for suite in kids(root, "testsuite"):
    cases = kids(suite, "testcase")
    assert cases, "empty suite " + suite.getAttribute("name")
    assert int(suite.getAttribute("tests")) == len(cases)
    for attr, tag in (("failures", "failure"), ("skipped", "skipped")):
        assert int(suite.getAttribute(attr)) == sum(len(kids(c, tag)) for c in cases), attr
cases = doc.getElementsByTagName("testcase")
print(json.dumps({
    "suites": len(kids(root, "testsuite")),
    "failures": int(root.getAttribute("failures")),
    "skipped": int(root.getAttribute("skipped")),
    "findings": sum(1 for c in cases if c.getAttribute("classname") != "stowaway.policy"
                    and c.getAttribute("name") != "no secrets found"),
}))
"#;

/// Parses JUnit XML with Python's minidom (a real XML parser), checks the
/// counts in the attributes, and returns suites, failures, skipped and
/// finding cases.
fn check_junit(xml: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, xml).unwrap();
    let out = python(CHECK_JUNIT, &[&file]);
    assert!(
        out.status.success(),
        "JUnit is not well-formed or its counts are wrong:\n{}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Rows of the Markdown findings tables.
fn markdown_finding_rows(md: &str) -> usize {
    md.split("#### Findings\n\n")
        .skip(1)
        .map(|section| section.lines().take_while(|l| l.starts_with('|')).count() - 2)
        .sum()
}

/// Rule ids in the JSON report of the real binary.
fn json_rule_ids(path: &Path) -> BTreeSet<String> {
    let (_, report) = common::audit_json(path);
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["findings"].as_array().unwrap().clone())
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn sarif_validates_against_the_schema() {
    for name in ["demo-leaky.tar", "demo-clean.tar"] {
        let report = audit(&demo(name));
        validate_sarif(&render_sarif(&report));
        validate_sarif(&render_sarif(&with_every_policy_status(report)));
    }
}

#[test]
fn sarif_has_one_result_per_finding_with_the_json_reports_rule_ids() {
    let path = demo("demo-leaky.tar");
    let report = audit(&path);
    let log = validate_sarif(&render_sarif(&report));
    let results = finding_results(&log);
    assert_eq!(results.len(), findings(&report));
    let sarif_ids: BTreeSet<String> = results
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sarif_ids, json_rule_ids(&path));
    let rule_ids: Vec<&str> = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let distinct: BTreeSet<&str> = rule_ids.iter().copied().collect();
    assert_eq!(rule_ids.len(), distinct.len(), "one descriptor per rule");
}

#[test]
fn sarif_results_for_policy_checks_are_failures_and_warnings_only() {
    let report = with_every_policy_status(audit(&demo("demo-clean.tar")));
    let log = validate_sarif(&render_sarif(&report));
    let ids: BTreeSet<&str> = results(&log)
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .filter(|id| id.starts_with("policy.test-"))
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from(["policy.test-fail", "policy.test-warn"])
    );
}

#[test]
fn sarif_fingerprints_survive_a_move_of_the_image_file() {
    let original = demo("demo-leaky.tar");
    let dir = tempfile::tempdir().unwrap();
    let moved = dir.path().join("elsewhere-renamed.tar");
    std::fs::copy(&original, &moved).unwrap();
    let fingerprints = |path: &Path| -> Vec<String> {
        let log = validate_sarif(&render_sarif(&audit(path)));
        results(&log)
            .iter()
            .map(|r| r["partialFingerprints"]["stowaway/v1"].to_string())
            .collect()
    };
    let a = fingerprints(&original);
    assert_eq!(a, fingerprints(&moved));
    let distinct: BTreeSet<&String> = a.iter().collect();
    assert_eq!(
        distinct.len(),
        a.len(),
        "each result has its own fingerprint"
    );
}

#[test]
fn junit_is_well_formed_with_a_failure_per_failing_finding_and_check() {
    for name in ["demo-leaky.tar", "demo-clean.tar"] {
        let report = with_every_policy_status(audit(&demo(name)));
        let counts = check_junit(&render_junit(&report));
        let failing: usize = report
            .images
            .iter()
            .map(|i| i.summary.failing + i.policy.iter().filter(|p| p.status == "fail").count())
            .sum();
        let skipped: usize = report
            .images
            .iter()
            .map(|i| i.policy.iter().filter(|p| p.status == "skip").count())
            .sum();
        assert_eq!(counts["suites"], report.images.len(), "{name}");
        assert_eq!(counts["failures"], failing, "{name}");
        assert_eq!(counts["skipped"], skipped, "{name}");
    }
}

#[test]
fn junit_suite_without_findings_says_no_secrets_found() {
    let mut report = audit(&demo("demo-clean.tar"));
    for img in &mut report.images {
        img.findings.clear();
        img.policy.clear();
    }
    let xml = render_junit(&report);
    check_junit(&xml);
    assert!(xml.contains(r#"name="no secrets found"/>"#), "{xml}");
}

#[test]
fn hostile_paths_stay_escaped_in_every_format() {
    let mut report = audit(&demo("demo-leaky.tar"));
    let img = &mut report.images[0];
    let mut f = img
        .findings
        .iter()
        .find(|f| f.path.is_some())
        .unwrap()
        .clone();
    f.path = Some("/app/<x>&\"y\"|'z'`\u{1}\n.pem".into());
    img.findings.push(f);
    check_junit(&render_junit(&report));
    validate_sarif(&render_sarif(&report));
    let md = render_markdown(&report);
    assert_eq!(markdown_finding_rows(&md), findings(&report));
    let row = md.lines().find(|l| l.contains("<x>")).unwrap();
    let cells = row.replace("\\|", "").matches('|').count();
    assert_eq!(cells, 5, "a pipe in a path must not add a column: {row}");
}

#[test]
fn markdown_names_every_rule() {
    let report = audit(&demo("demo-leaky.tar"));
    let md = render_markdown(&report);
    for f in &report.images[0].findings {
        assert!(md.contains(&format!("`{}`", f.rule)), "{} missing", f.rule);
    }
    assert!(md.contains("❌ fail"));
    assert!(render_markdown(&audit(&demo("demo-clean.tar"))).contains("### "));
}

#[test]
fn no_format_shows_a_planted_secret() {
    let report = audit(&demo("demo-leaky.tar"));
    let key_lines: Vec<&str> = common::API_KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for (format, out) in [
        ("sarif", render_sarif(&report)),
        ("junit", render_junit(&report)),
        ("markdown", render_markdown(&report)),
    ] {
        for secret in common::PLANTED.iter().chain(&key_lines) {
            assert!(!out.contains(secret), "{format} shows {secret}");
        }
    }
}

#[test]
fn all_formats_agree_on_the_number_of_findings() {
    for name in ["demo-leaky.tar", "demo-clean.tar"] {
        let report = with_every_policy_status(audit(&demo(name)));
        let n = findings(&report);
        let (_, json) = common::audit_json(&demo(name));
        assert_eq!(json["images"][0]["findings"].as_array().unwrap().len(), n);
        let log = validate_sarif(&render_sarif(&report));
        assert_eq!(finding_results(&log).len(), n, "sarif {name}");
        assert_eq!(
            check_junit(&render_junit(&report))["findings"],
            n,
            "junit {name}"
        );
        assert_eq!(
            markdown_finding_rows(&render_markdown(&report)),
            n,
            "markdown {name}"
        );
    }
}

#[test]
fn markdown_for_the_leaky_demo() {
    let md = render_markdown(&audit(&demo("demo-leaky.tar")));
    let repo = regex::escape(env!("CARGO_MANIFEST_DIR"));
    let version = regex::escape(env!("CARGO_PKG_VERSION"));
    insta::with_settings!({filters => vec![
        (repo.as_str(), "[repo]"),
        (version.as_str(), "[version]"),
    ]}, {
        insta::assert_snapshot!(md);
    });
}
