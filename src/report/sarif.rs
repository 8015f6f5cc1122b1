//! SARIF 2.1.0 for GitHub code scanning (`--format sarif`): one run, one
//! result per finding and per failed or warning policy check, each with a
//! followable location and a fingerprint that survives rebuilds and retags.

use super::model::{Finding, ImageReport, PolicyResult, Report, Where};
use crate::policy::CHECKS;
use crate::severity::Severity;
use crate::suppress::{digest_parts, repository};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const INFORMATION_URI: &str = "https://github.com/stowaway/stowaway";
/// The artifact config findings and policy results point at: the image config.
const CONFIG_URI: &str = "image-config.json";
/// The key of our entry in `partialFingerprints`; bump it if the scheme changes.
const FINGERPRINT_KEY: &str = "stowaway/v1";
/// Finding fields copied into each result's property bag (JSON report names).
const FINDING_PROPERTIES: &[&str] = &[
    "kind",
    "severity",
    "where",
    "layer",
    "layer_digest",
    "state",
    "created_by",
    "config_field",
    "config_key",
    "history_index",
    "offset",
    "occurrences",
    "files",
    "bytes",
    "sample_paths",
    "fingerprint",
];

/// Renders the report as a SARIF 2.1.0 log (pretty JSON, trailing newline).
pub fn render_sarif(report: &Report) -> String {
    let log = json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [run(report)],
    });
    let mut s = serde_json::to_string_pretty(&log).expect("SARIF serializes");
    s.push('\n');
    s
}

/// The single run: tool, results for every image, and what was audited.
fn run(report: &Report) -> Value {
    let mut rules = Rules::default();
    let mut results = Vec::new();
    for img in &report.images {
        // Suppressed findings stay in the log, marked as suppressed.
        for f in img.findings.iter().chain(&img.suppressed) {
            let index = rules.index_of(&f.rule, || finding_rule(f));
            results.push(finding_result(img, f, index));
        }
        for p in img.policy.iter().filter(|p| reported(p)) {
            let id = policy_rule_id(p);
            let index = rules.index_of(&id, || policy_rule(p));
            results.push(policy_result(img, p, &id, index));
        }
    }
    json!({
        "tool": {"driver": {
            "name": report.tool.name,
            "version": report.tool.version,
            "semanticVersion": report.tool.version,
            "informationUri": INFORMATION_URI,
            "rules": rules.descriptors,
        }},
        "invocations": [invocation(report)],
        "results": results,
        "properties": {
            "fail_on": report.tool.fail_on,
            "rules_hash": report.tool.rules_hash,
            "images": report.images.iter().map(image_properties).collect::<Vec<_>>(),
        },
    })
}

/// The rules used by the results, in order of first use.
#[derive(Default)]
struct Rules {
    descriptors: Vec<Value>,
    index: HashMap<String, usize>,
}

impl Rules {
    /// The index of rule `id`, adding its descriptor (built by `make`) if new.
    fn index_of(&mut self, id: &str, make: impl FnOnce() -> Value) -> usize {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        self.descriptors.push(make());
        self.index
            .insert(id.to_string(), self.descriptors.len() - 1);
        self.descriptors.len() - 1
    }
}

/// The invocation: always successful (a failed audit renders no report), with
/// the images' notes as notifications.
fn invocation(report: &Report) -> Value {
    let notes: Vec<Value> = report
        .images
        .iter()
        .flat_map(|img| {
            img.notes.iter().map(move |n| {
                json!({"level": "note", "message": {"text": format!("{}: {n}", img.display_name())}})
            })
        })
        .collect();
    json!({"executionSuccessful": true, "toolExecutionNotifications": notes})
}

/// What was audited, for `run.properties.images`.
fn image_properties(img: &ImageReport) -> Value {
    json!({
        "name": img.display_name(),
        "source": img.source,
        "format": img.format,
        "tags": img.tags,
        "platform": img.platform,
        "manifest_digest": img.manifest_digest,
        "config_digest": img.config_digest,
        "findings": img.summary.findings,
        "failing": img.summary.failing,
        "policy_failures": img.summary.policy_failures,
        "verdict": img.summary.verdict,
    })
}

/// SARIF level: critical/high are errors, medium warnings, the rest notes.
fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's `security-severity` score, which it sorts and labels alerts by.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// A reporting descriptor, from the fields every rule kind shares.
fn descriptor(
    id: &str,
    title: &str,
    full: &str,
    help: &str,
    kind: &str,
    severity: Severity,
) -> Value {
    json!({
        "id": id,
        "name": title,
        "shortDescription": {"text": title},
        "fullDescription": {"text": full},
        "help": {"text": help, "markdown": help},
        "defaultConfiguration": {"level": level(severity)},
        "properties": {
            "tags": ["security", kind],
            "security-severity": security_severity(severity),
        },
    })
}

/// The descriptor of a finding's rule, described by its first finding.
fn finding_rule(f: &Finding) -> Value {
    let full = if f.message.is_empty() {
        &f.title
    } else {
        &f.message
    };
    descriptor(&f.rule, &f.title, full, &f.remediation, f.kind, f.severity)
}

/// One result for a finding.
fn finding_result(img: &ImageReport, f: &Finding, rule_index: usize) -> Value {
    let mut result = json!({
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {"text": finding_message(img, f)},
        "locations": [finding_location(img, f)],
        "partialFingerprints": {FINGERPRINT_KEY: f.id},
        "properties": finding_properties(img, f),
    });
    if let Some(reason) = &f.suppressed {
        result["suppressions"] = json!([{"kind": "external", "justification": reason}]);
    }
    result
}

/// The finding's message, excerpt and fingerprint: only redacted fields.
fn finding_message(img: &ImageReport, f: &Finding) -> String {
    let mut text = format!("{}: {}", img.display_name(), f.message);
    if let Some(r) = &f.redacted {
        text.push_str(&format!(". Excerpt: {r}"));
    }
    if let Some(fp) = &f.fingerprint {
        text.push_str(&format!(" (fingerprint {fp})"));
    }
    text
}

/// Where a finding is: the file in the image (or the image config), plus a
/// logical location naming the image and layer.
fn finding_location(img: &ImageReport, f: &Finding) -> Value {
    let name = img.display_name();
    if f.location == Where::Dockerfile {
        let path = f.path.as_deref().unwrap_or("Dockerfile");
        let logical = json!({"name": path, "fullyQualifiedName": format!("{name}/dockerfile"), "kind": "resource"});
        return location(&repo_uri(path), f.line, logical);
    }
    let (uri, logical) = match (f.location, &f.path) {
        (Where::Layer, Some(path)) => (
            artifact_uri(path),
            json!({
                "name": path,
                "fullyQualifiedName": format!(
                    "{name}/layer/{}/{}",
                    f.layer.map_or("?".to_string(), |l| l.to_string()),
                    path.trim_start_matches('/')
                ),
                "kind": "resource",
            }),
        ),
        _ => {
            let field = f.config_field.unwrap_or("config");
            let place = match &f.config_key {
                Some(key) => format!("{field}/{key}"),
                None => field.to_string(),
            };
            (
                CONFIG_URI.to_string(),
                json!({
                    "name": place,
                    "fullyQualifiedName": format!("{name}/config/{place}"),
                    "kind": "resource",
                }),
            )
        }
    };
    // Mapped to the Dockerfile line that introduced it: point there, where
    // a person can fix it; the image path stays as the logical location.
    if let (Some(df), Some(line)) = (&img.dockerfile, f.dockerfile_line) {
        return location(&repo_uri(df), Some(line as u64), logical);
    }
    location(&uri, f.line, logical)
}

/// A path in the repository as given on the command line, as a relative URI.
fn repo_uri(path: &str) -> String {
    artifact_uri(path.trim_start_matches("./"))
}

/// A location. GitHub requires `region.startLine`: whole-file findings, and
/// those known only by byte offset, point at line 1.
fn location(uri: &str, line: Option<u64>, logical: Value) -> Value {
    json!({
        "physicalLocation": {
            "artifactLocation": {"uri": uri},
            "region": {"startLine": line.unwrap_or(1).max(1)},
        },
        "logicalLocations": [logical],
    })
}

/// The finding's JSON report fields that place it, plus the image it is in.
fn finding_properties(img: &ImageReport, f: &Finding) -> Value {
    let all = serde_json::to_value(f).expect("finding serializes");
    let mut props: Map<String, Value> = FINDING_PROPERTIES
        .iter()
        .filter_map(|k| all.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    props.insert("image".into(), json!(img.display_name()));
    props.insert("source".into(), json!(img.source));
    Value::Object(props)
}

/// Whether a policy result becomes a SARIF result: failures and warnings.
fn reported(p: &PolicyResult) -> bool {
    p.status == "fail" || p.status == "warn"
}

fn policy_rule_id(p: &PolicyResult) -> String {
    format!("policy.{}", p.check)
}

/// Failures rank as high, warnings as medium.
fn policy_severity(p: &PolicyResult) -> Severity {
    if p.status == "fail" {
        Severity::High
    } else {
        Severity::Medium
    }
}

/// The descriptor of a policy check, described by the policy's check list.
fn policy_rule(p: &PolicyResult) -> Value {
    let about = CHECKS
        .iter()
        .find(|(id, _)| *id == p.check)
        .map_or(p.check.as_str(), |(_, about)| about);
    let title = format!("Policy: {about}");
    let help = format!(
        "The final image must pass the `{}` check ({about}). Fix the build, or configure or skip the check in stowaway.toml.",
        p.check
    );
    descriptor(
        &policy_rule_id(p),
        &title,
        &p.message,
        &help,
        "policy",
        policy_severity(p),
    )
}

/// One result for a failed or warning policy check.
fn policy_result(img: &ImageReport, p: &PolicyResult, id: &str, rule_index: usize) -> Value {
    let name = img.display_name();
    let logical = json!({
        "name": p.check,
        "fullyQualifiedName": format!("{name}/policy/{}", p.check),
        "kind": "module",
    });
    json!({
        "ruleId": id,
        "ruleIndex": rule_index,
        "level": level(policy_severity(p)),
        "message": {"text": policy_message(&name, p)},
        "locations": [location(CONFIG_URI, None, logical)],
        "partialFingerprints": {FINGERPRINT_KEY: digest_parts(&[image_repository(img), id])},
        "properties": {
            "status": p.status,
            "measured": p.measured,
            "limit": p.limit,
            "details": p.details,
            "image": name,
            "source": img.source,
        },
    })
}

/// The check's message and its first details (offenders, largest files).
fn policy_message(image: &str, p: &PolicyResult) -> String {
    const SHOWN: usize = 5;
    let mut text = format!("{image}: {}", p.message);
    if !p.details.is_empty() {
        let shown: Vec<&str> = p.details.iter().take(SHOWN).map(String::as_str).collect();
        text.push_str(&format!(": {}", shown.join("; ")));
        if p.details.len() > SHOWN {
            text.push_str(&format!("; and {} more", p.details.len() - SHOWN));
        }
    }
    text
}

/// The repository of the image's first tag, or "" for an untagged image.
fn image_repository(img: &ImageReport) -> &str {
    img.tags.first().map_or("", |t| repository(t))
}

/// A relative URI for a path in the image: no leading slash, and every byte
/// outside the unreserved set and `/` percent-encoded.
fn artifact_uri(path: &str) -> String {
    let mut uri = String::new();
    for b in path.trim_start_matches('/').bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_relative_and_encoded() {
        assert_eq!(artifact_uri("/app/key.pem"), "app/key.pem");
        assert_eq!(artifact_uri("/a b/c:d%"), "a%20b/c%3Ad%25");
        assert_eq!(artifact_uri("/é"), "%C3%A9");
    }

    #[test]
    fn levels_follow_severity() {
        assert_eq!(level(Severity::Critical), "error");
        assert_eq!(level(Severity::High), "error");
        assert_eq!(level(Severity::Medium), "warning");
        assert_eq!(level(Severity::Low), "note");
        assert_eq!(level(Severity::Info), "note");
    }
}
