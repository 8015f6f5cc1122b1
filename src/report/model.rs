//! The report: one model rendered to text and JSON. Field names follow the
//! contract in DESIGN.md (`stowaway/report-v1`).

use crate::merge::State;
use crate::severity::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA: &str = "stowaway/report-v1";

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub tool: Tool,
    pub images: Vec<ImageReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
    pub rules: usize,
    pub rules_hash: String,
    pub fail_on: Severity,
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerInfo {
    pub index: usize,
    pub digest: String,
    pub diff_id: String,
    pub media_type: Option<String>,
    /// Compression found by magic bytes (trusted over `media_type`).
    pub compression: &'static str,
    pub compressed_size: u64,
    pub size: u64,
    pub files: usize,
    pub created_by: Option<String>,
    pub history_index: Option<usize>,
    /// The Dockerfile line that wrote the layer (with `--dockerfile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile_line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Where {
    Layer,
    Config,
    /// A lint of the Dockerfile given with `--dockerfile`.
    Dockerfile,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable across rebuilds: image repository, rule, place and the secret's
    /// fingerprint (what baselines and SARIF `partialFingerprints` use).
    pub id: String,
    pub rule: String,
    pub kind: &'static str,
    pub severity: Severity,
    pub title: String,
    #[serde(rename = "where")]
    pub location: Where,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_field: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_index: Option<usize>,
    /// The Dockerfile line whose instruction wrote the layer or history entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile_line: Option<usize>,
    /// That instruction, shortened, secrets masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    pub occurrences: u32,
    /// Residue: files and bytes of this kind in this layer and state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sample_paths: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redacted: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    pub message: String,
    pub remediation: String,
    /// Why it does not count (baseline, ignore entry); only on suppressed findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<String>,
}

impl Finding {
    /// A finding placed nowhere yet (no layer, path or config field, one
    /// occurrence): callers fill in where it is with struct update syntax.
    pub fn new(
        rule: impl Into<String>,
        kind: &'static str,
        severity: Severity,
        title: impl Into<String>,
        location: Where,
        message: String,
        remediation: impl Into<String>,
    ) -> Finding {
        Finding {
            id: String::new(),
            rule: rule.into(),
            kind,
            severity,
            title: title.into(),
            location,
            layer: None,
            layer_digest: None,
            created_by: None,
            path: None,
            config_field: None,
            config_key: None,
            history_index: None,
            dockerfile_line: None,
            instruction: None,
            state: None,
            offset: None,
            line: None,
            occurrences: 1,
            files: None,
            bytes: None,
            sample_paths: vec![],
            redacted: None,
            fingerprint: None,
            message,
            remediation: remediation.into(),
            suppressed: None,
        }
    }
}

/// Evidence of a known-secret search: where it looked and what it found.
#[derive(Debug, Clone, Serialize)]
pub struct KnownSecretResult {
    pub sha256: String,
    pub found: usize,
    pub searched: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyResult {
    pub check: String,
    /// `pass`, `fail`, `warn` or `skip`.
    pub status: String,
    pub measured: serde_json::Value,
    pub limit: serde_json::Value,
    pub message: String,
    /// Where the problem is: offenders, largest files, per-layer sizes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub findings: usize,
    pub by_severity: BTreeMap<Severity, usize>,
    pub max_severity: Option<Severity>,
    /// Findings at or above `--fail-on`.
    pub failing: usize,
    /// Policy checks that failed.
    pub policy_failures: usize,
    /// Findings suppressed by a baseline or an ignore entry.
    pub suppressed: usize,
    pub layers: usize,
    pub files: usize,
    pub size: u64,
    pub compressed_size: u64,
    pub verdict: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    pub source: String,
    pub format: &'static str,
    pub tags: Vec<String>,
    pub platform: String,
    pub manifest_digest: Option<String>,
    pub config_digest: String,
    pub layers: Vec<LayerInfo>,
    pub findings: Vec<Finding>,
    /// Findings a baseline or an ignore entry suppressed, with the reason.
    pub suppressed: Vec<Finding>,
    /// The Dockerfile given with `--dockerfile`, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// One line per BuildKit attestation (`none` when the image has none).
    pub attestations: Vec<String>,
    /// The outcome of each `--known-secret-sha256` search, found or not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub known_secrets: Vec<KnownSecretResult>,
    pub policy: Vec<PolicyResult>,
    pub notes: Vec<String>,
    pub summary: Summary,
}

impl ImageReport {
    /// A short name for people: the first tag, else the short config digest.
    pub fn display_name(&self) -> String {
        match self.tags.first() {
            Some(t) => t.clone(),
            None => {
                let d = self.config_digest.trim_start_matches("sha256:");
                format!(
                    "{} (untagged, config {})",
                    self.source,
                    &d[..d.len().min(12)]
                )
            }
        }
    }
}

impl Report {
    /// Whether anything is at or above the threshold (exit code 1).
    pub fn failing(&self) -> bool {
        self.images
            .iter()
            .any(|i| i.summary.failing + i.summary.policy_failures > 0)
    }
}
