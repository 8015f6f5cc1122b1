//! JUnit XML for CI test reports (`--format junit`): one `<testsuite>` per
//! image, one `<testcase>` per finding and per policy check. Findings at or
//! above `--fail-on` and failed checks are failures; skipped checks are
//! skipped; everything else passes, with what was found in `<system-out>`.

use super::model::{Finding, ImageReport, PolicyResult, Report, Where};
use crate::severity::Severity;
use std::fmt::Write;

/// How a test case ended.
enum Outcome {
    /// Passed; the text (if any) goes to `<system-out>`.
    Pass(Option<String>),
    Failure {
        message: String,
        kind: String,
        body: String,
    },
    Skipped(String),
}

/// One `<testcase>`.
struct Case {
    classname: String,
    name: String,
    outcome: Outcome,
}

/// Test counts of a suite (or of all suites).
#[derive(Default, Clone, Copy)]
struct Counts {
    tests: usize,
    failures: usize,
    skipped: usize,
}

impl Counts {
    fn of(cases: &[Case]) -> Counts {
        let mut c = Counts {
            tests: cases.len(),
            ..Counts::default()
        };
        for case in cases {
            match case.outcome {
                Outcome::Failure { .. } => c.failures += 1,
                Outcome::Skipped(_) => c.skipped += 1,
                Outcome::Pass(_) => {}
            }
        }
        c
    }

    fn add(self, o: Counts) -> Counts {
        Counts {
            tests: self.tests + o.tests,
            failures: self.failures + o.failures,
            skipped: self.skipped + o.skipped,
        }
    }

    /// The count attributes shared by `<testsuites>` and `<testsuite>`.
    fn attributes(self) -> String {
        format!(
            r#"tests="{}" failures="{}" errors="0" skipped="{}""#,
            self.tests, self.failures, self.skipped
        )
    }
}

/// Renders the report as JUnit XML.
pub fn render_junit(report: &Report) -> String {
    let suites: Vec<(&ImageReport, Vec<Case>)> = report
        .images
        .iter()
        .map(|img| (img, cases(img, report.tool.fail_on)))
        .collect();
    let total = suites
        .iter()
        .fold(Counts::default(), |t, (_, c)| t.add(Counts::of(c)));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        r#"<testsuites name="stowaway" {}>"#,
        total.attributes()
    );
    for (img, cases) in &suites {
        suite(&mut out, img, cases);
    }
    out.push_str("</testsuites>\n");
    out
}

/// The test cases of one image: findings, then policy checks; a passing
/// "no secrets found" case when there are no findings.
fn cases(img: &ImageReport, fail_on: Severity) -> Vec<Case> {
    let mut cases: Vec<Case> = img
        .findings
        .iter()
        .map(|f| finding_case(f, fail_on))
        .collect();
    if cases.is_empty() {
        cases.push(Case {
            classname: "stowaway.secret".into(),
            name: "no secrets found".into(),
            outcome: Outcome::Pass(None),
        });
    }
    // Suppressed findings are skipped cases, with the reason.
    cases.extend(img.suppressed.iter().map(|f| Case {
        classname: format!("stowaway.{}", f.kind),
        name: format!("{} {}", f.rule, place(f)),
        outcome: Outcome::Skipped(f.suppressed.clone().unwrap_or_default()),
    }));
    cases.extend(img.policy.iter().map(policy_case));
    cases
}

/// A finding: a failure at or above `fail_on`, else a pass that says what
/// was found.
fn finding_case(f: &Finding, fail_on: Severity) -> Case {
    let outcome = if f.severity >= fail_on {
        Outcome::Failure {
            message: f.message.clone(),
            kind: f.severity.to_string(),
            body: finding_details(f),
        }
    } else {
        Outcome::Pass(Some(format!(
            "{} ({}, below --fail-on {fail_on})\n{}",
            f.message,
            f.severity,
            finding_details(f)
        )))
    };
    Case {
        classname: format!("stowaway.{}", f.kind),
        name: format!("{} {}", f.rule, place(f)),
        outcome,
    }
}

/// Where a finding is: its path in the image, or its config field and key.
fn place(f: &Finding) -> String {
    match (f.location, &f.path) {
        (Where::Layer, Some(path)) => path.clone(),
        _ => {
            let field = f.config_field.unwrap_or("config");
            match (&f.config_key, f.history_index) {
                (Some(key), _) => format!("{field}:{key}"),
                (None, Some(h)) => format!("{field}#{h}"),
                (None, None) => field.to_string(),
            }
        }
    }
}

/// The lines a person needs to find and fix a finding (redacted fields only).
fn finding_details(f: &Finding) -> String {
    let mut s = String::new();
    if let Some(l) = f.layer {
        let _ = write!(s, "layer {l}");
        if let Some(state) = f.state {
            let _ = write!(s, " ({})", state.as_str());
        }
        if let Some(by) = &f.created_by {
            let _ = write!(s, ": {by}");
        }
        s.push('\n');
    }
    if let Some(line) = f.line {
        let _ = writeln!(s, "line {line}");
    }
    if let Some(r) = &f.redacted {
        let _ = writeln!(s, "excerpt: {r}");
    }
    if let Some(fp) = &f.fingerprint {
        let _ = writeln!(s, "fingerprint: {fp}");
    }
    let _ = writeln!(s, "rule: {}", f.rule);
    let _ = write!(s, "fix: {}", f.remediation);
    s
}

/// A policy check: fail is a failure, skip is skipped, pass and warn pass.
fn policy_case(p: &PolicyResult) -> Case {
    let mut text = p.message.clone();
    for d in &p.details {
        let _ = write!(text, "\n  {d}");
    }
    let outcome = match p.status.as_str() {
        "fail" => Outcome::Failure {
            message: p.message.clone(),
            kind: "policy".into(),
            body: text,
        },
        "skip" => Outcome::Skipped(p.message.clone()),
        status => Outcome::Pass(Some(format!("{status}: {text}"))),
    };
    Case {
        classname: "stowaway.policy".into(),
        name: p.check.clone(),
        outcome,
    }
}

/// One `<testsuite>` with its properties and cases.
fn suite(out: &mut String, img: &ImageReport, cases: &[Case]) {
    let _ = writeln!(
        out,
        r#"  <testsuite name="{}" {}>"#,
        esc(&img.display_name()),
        Counts::of(cases).attributes()
    );
    out.push_str("    <properties>\n");
    for (name, value) in [
        ("source", img.source.as_str()),
        ("platform", &img.platform),
        ("config_digest", &img.config_digest),
        ("verdict", img.summary.verdict),
    ] {
        let _ = writeln!(
            out,
            r#"      <property name="{name}" value="{}"/>"#,
            esc(value)
        );
    }
    out.push_str("    </properties>\n");
    for case in cases {
        testcase(out, case);
    }
    out.push_str("  </testsuite>\n");
}

/// One `<testcase>`.
fn testcase(out: &mut String, case: &Case) {
    let _ = write!(
        out,
        r#"    <testcase classname="{}" name="{}""#,
        esc(&case.classname),
        esc(&case.name)
    );
    match &case.outcome {
        Outcome::Pass(None) => out.push_str("/>\n"),
        Outcome::Pass(Some(text)) => {
            let _ = writeln!(out, ">\n      <system-out>{}</system-out>", esc(text));
            out.push_str("    </testcase>\n");
        }
        Outcome::Failure {
            message,
            kind,
            body,
        } => {
            let _ = writeln!(
                out,
                ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>",
                esc(message),
                esc(kind),
                esc(body)
            );
            out.push_str("    </testcase>\n");
        }
        Outcome::Skipped(message) => {
            let _ = writeln!(out, ">\n      <skipped message=\"{}\"/>", esc(message));
            out.push_str("    </testcase>\n");
        }
    }
}

/// Escapes text for XML content and attributes: the five special characters
/// become entities and characters XML 1.0 does not allow are dropped.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if allowed_in_xml(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// XML 1.0 `Char`: tab, LF, CR, and everything from U+0020 but U+FFFE/U+FFFF
/// (surrogates cannot occur in a Rust `char`).
fn allowed_in_xml(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_specials_and_drops_forbidden_characters() {
        assert_eq!(
            esc("a&b<c>d\"e'f\u{0}\u{1b}g\u{FFFF}\th\n"),
            "a&amp;b&lt;c&gt;d&quot;e&apos;fg\th\n"
        );
        assert_eq!(esc("é😀"), "é😀");
    }
}
