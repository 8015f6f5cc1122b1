//! BuildKit attestations (in-toto statements in OCI layouts and archives):
//! SLSA provenance and SBOMs are scanned for secrets (build-arg values land
//! in provenance), and provenance shows whether each secret id was used only
//! as a secret mount, never as a build arg.

use crate::image::Attestation;
use crate::redact::{fingerprint, redact};
use crate::report::{Finding, Where};
use crate::rules::{RuleSet, Scratch};
use crate::severity::Severity;
use serde_json::Value;

/// The build request recorded in provenance: (build args, secret ids, mode).
fn request(statement: &Value) -> (Vec<(String, String)>, Vec<String>, &'static str) {
    let p = &statement["predicate"];
    // SLSA v0.2 (BuildKit's default) and v1.
    let params = if p["invocation"]["parameters"].is_object() {
        &p["invocation"]["parameters"]
    } else {
        &p["buildDefinition"]["externalParameters"]["request"]
    };
    let args = params["args"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let name = k.strip_prefix("build-arg:")?;
                    Some((name.to_string(), v.as_str().unwrap_or_default().to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    let secrets = params["secrets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let max = p["buildConfig"].is_object()
        || p["buildDefinition"]["internalParameters"]["buildConfig"].is_object();
    (args, secrets, if max { "max" } else { "min" })
}

/// `f` placed on attestation `a`, under `key` (predicate type or arg name).
fn on_attestation(a: &Attestation, key: String, f: Finding) -> Finding {
    Finding {
        layer_digest: Some(a.digest.clone()),
        config_field: Some("attestation"),
        config_key: Some(key),
        ..f
    }
}

/// A finding of the attestation checks (kind `config`, in the config).
fn attestation_finding(
    rule: &str,
    title: &str,
    severity: Severity,
    message: String,
    remediation: &str,
) -> Finding {
    Finding::new(
        rule,
        "config",
        severity,
        title,
        Where::Config,
        message,
        remediation,
    )
}

/// Scans the image's attestations; returns one summary line per statement
/// ("none" when there is none) and the findings.
pub fn scan(
    rules: &RuleSet,
    atts: &[Attestation],
    secret_ids: &[String],
) -> (Vec<String>, Vec<Finding>) {
    if atts.is_empty() {
        return (vec!["none".into()], vec![]);
    }
    let mut summary = Vec::new();
    let mut out: Vec<Finding> = Vec::new();
    let mut scratch = Scratch::default();
    for a in atts {
        let mut matches = Vec::new();
        rules.scan_with(&mut scratch, &a.data, None, &mut matches);
        for m in matches {
            let r = &rules.rule(m.rule).def;
            let local = m.secret.start - m.span.start..m.secret.end - m.span.start;
            let fp = fingerprint(&a.data[m.secret.clone()]);
            if out.iter().any(|f| f.fingerprint.as_deref() == Some(&fp)) {
                continue;
            }
            let found = attestation_finding(
                &r.id,
                &r.name,
                r.severity,
                format!("{} in the {} attestation", r.name, a.predicate_type),
                &r.remediation,
            );
            out.push(on_attestation(
                a,
                a.predicate_type.clone(),
                Finding {
                    redacted: Some(redact(&a.data[m.span.clone()], local, &r.keywords)),
                    fingerprint: Some(fp),
                    ..found
                },
            ));
        }
        let Ok(statement) = serde_json::from_slice::<Value>(&a.data) else {
            summary.push(format!("{} ({}): not JSON", a.predicate_type, a.digest));
            continue;
        };
        if !a.predicate_type.contains("provenance") {
            summary.push(a.predicate_type.clone());
            continue;
        }
        let (args, secrets, mode) = request(&statement);
        summary.push(format!(
            "{} (mode={mode}): {} build arg(s), secret mount(s): {}",
            a.predicate_type,
            args.len(),
            if secrets.is_empty() {
                "none".to_string()
            } else {
                secrets.join(", ")
            }
        ));
        for (name, value) in &args {
            if let Some(rule) = rules.config_rule(name, value) {
                let fp = fingerprint(value.as_bytes());
                // A content match of the same value that is no more severe
                // gives way to this, more specific, finding.
                if out
                    .iter()
                    .any(|f| f.fingerprint.as_deref() == Some(&fp) && f.severity > Severity::High)
                {
                    continue;
                }
                out.retain(|f| f.fingerprint.as_deref() != Some(&fp));
                let kv = format!("{name}={value}");
                let found = attestation_finding(
                    "provenance.build-arg-secret",
                    "Secret build arg recorded in provenance",
                    Severity::High,
                    format!("build arg {name} looks like a secret and its value is in the provenance attestation"),
                    "Pass secrets with --secret and RUN --mount=type=secret, never --build-arg; rebuild and rotate it.",
                );
                let keywords = &rules.rule(rule).def.keywords;
                out.push(on_attestation(
                    a,
                    name.clone(),
                    Finding {
                        redacted: Some(redact(kv.as_bytes(), name.len() + 1..kv.len(), keywords)),
                        fingerprint: Some(fp),
                        ..found
                    },
                ));
            }
        }
        let mut ids: Vec<&String> = secrets.iter().chain(secret_ids).collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            if args.iter().any(|(n, _)| n.eq_ignore_ascii_case(id)) {
                let found = attestation_finding(
                    "provenance.secret-as-build-arg",
                    "Secret id passed as a build arg",
                    Severity::Critical,
                    format!("secret id {id} appears among the build args in provenance: its value is in the image's attestation and history"),
                    "Use only `docker build --secret id=…` with RUN --mount=type=secret; rotate the secret.",
                );
                out.push(on_attestation(a, id.clone(), found));
            }
        }
        if mode == "max" {
            for id in secret_ids.iter().filter(|id| !secrets.contains(id)) {
                summary.push(format!(
                    "secret id {id} is not among the provenance's secret mounts"
                ));
            }
        }
    }
    (summary, out)
}
