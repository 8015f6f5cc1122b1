//! Stable finding ids, baselines and ignore entries. A suppressed finding is
//! moved to the image's `suppressed` list with the reason: counted in the
//! summary, shown in every format, never silently dropped.

use crate::policy::globs;
use crate::report::{Finding, ImageReport, Where};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::Path;

/// The first 32 hex digits of the SHA-256 of the NUL-separated parts.
pub fn digest_parts(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..32].to_string()
}

/// A reference without its `:tag` or `@digest` (a registry port stays).
pub fn repository(reference: &str) -> &str {
    let name = reference.split('@').next().unwrap_or(reference);
    match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => &name[..i],
        _ => name,
    }
}

/// Where a finding is, independent of layer digests: the path, or the config
/// field and key.
pub fn place(f: &Finding) -> String {
    match f.location {
        Where::Layer => f.path.clone().unwrap_or_default(),
        Where::Dockerfile => format!(
            "{}:{}",
            f.path.as_deref().unwrap_or_default(),
            f.line.unwrap_or(0)
        ),
        Where::Config => format!(
            "{}/{}",
            f.config_field.unwrap_or_default(),
            f.config_key.as_deref().unwrap_or_default()
        ),
    }
}

/// A finding's stable id: image repository (tag and digest dropped), rule,
/// place and the secret's fingerprint. A rebuilt or retagged image keeps
/// its ids, so baselines and SARIF alerts survive rebuilds.
pub fn stable_id(repo: &str, f: &Finding) -> String {
    digest_parts(&[
        repo,
        &f.rule,
        &place(f),
        f.fingerprint.as_deref().unwrap_or_default(),
    ])
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineEntry {
    pub id: String,
    pub rule: String,
    pub image: String,
    pub place: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub schema: String,
    pub findings: Vec<BaselineEntry>,
}

pub const BASELINE_SCHEMA: &str = "stowaway/baseline-v1";

impl Baseline {
    pub fn from_images(images: &[ImageReport]) -> Baseline {
        let mut findings: Vec<BaselineEntry> = images
            .iter()
            .flat_map(|img| {
                img.findings.iter().map(|f| BaselineEntry {
                    id: f.id.clone(),
                    rule: f.rule.clone(),
                    image: img.display_name(),
                    place: place(f),
                })
            })
            .collect();
        findings.sort_by(|a, b| a.id.cmp(&b.id));
        findings.dedup_by(|a, b| a.id == b.id);
        Baseline {
            schema: BASELINE_SCHEMA.into(),
            findings,
        }
    }

    pub fn load(path: &Path) -> Result<HashSet<String>> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read the baseline", path.display()))?;
        let b: Baseline = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a stowaway baseline", path.display()))?;
        if b.schema != BASELINE_SCHEMA {
            bail!(
                "{}: baseline schema {:?}, expected {BASELINE_SCHEMA}",
                path.display(),
                b.schema
            );
        }
        Ok(b.findings.into_iter().map(|e| e.id).collect())
    }
}

/// One `[[ignore]]` entry of `stowaway.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreEntry {
    pub rule: String,
    /// Glob on the path in the image (`**` spans directories); any path when absent.
    #[serde(default)]
    pub path: Option<String>,
    /// Only this secret (its fingerprint).
    #[serde(default)]
    pub fingerprint: Option<String>,
    pub reason: String,
    /// `YYYY-MM-DD`: from that day on the entry no longer suppresses.
    #[serde(default)]
    pub expires: Option<String>,
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn parse_date(s: &str) -> Result<i64> {
    let parts: Vec<&str> = s.split('-').collect();
    let nums: Vec<i64> = parts.iter().filter_map(|p| p.parse().ok()).collect();
    match nums.as_slice() {
        [y, m, d] if parts.len() == 3 && (1..=12).contains(m) && (1..=31).contains(d) => {
            Ok(days_from_civil(*y, *m, *d))
        }
        _ => bail!("expires {s:?}: expected a date YYYY-MM-DD"),
    }
}

pub fn today() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    secs.div_euclid(86_400)
}

/// Ignore entries, checked and compiled.
#[derive(Default)]
pub struct Ignores {
    entries: Vec<(IgnoreEntry, Option<regex::Regex>, Option<i64>)>,
}

impl Ignores {
    pub fn new(entries: Vec<IgnoreEntry>) -> Result<Ignores> {
        let entries = entries
            .into_iter()
            .map(|e| {
                let expiry = e.expires.as_deref().map(parse_date).transpose()?;
                let g = e.path.as_deref().map(|p| globs([p]));
                Ok((e, g, expiry))
            })
            .collect::<Result<_>>()?;
        Ok(Ignores { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The reason an entry suppresses `f` today, if one does; expired
    /// entries that would have matched are reported in `notes`.
    fn reason(&self, f: &Finding, today: i64, notes: &mut Vec<String>) -> Option<String> {
        for (e, g, expiry) in &self.entries {
            let matches = e.rule == f.rule
                && g.as_ref()
                    .is_none_or(|g| f.path.as_deref().is_some_and(|p| g.is_match(p)))
                && e.fingerprint
                    .as_ref()
                    .is_none_or(|fp| f.fingerprint.as_ref() == Some(fp));
            if !matches {
                continue;
            }
            if expiry.is_some_and(|x| today >= x) {
                let note = format!(
                    "ignore entry for {} ({}) expired on {}: it no longer suppresses",
                    e.rule,
                    e.reason,
                    e.expires.as_deref().unwrap_or("")
                );
                if !notes.contains(&note) {
                    notes.push(note);
                }
                continue;
            }
            return Some(format!("ignored: {}", e.reason));
        }
        None
    }
}

/// Moves baseline and ignored findings of `img` to its `suppressed` list.
pub fn apply(img: &mut ImageReport, baseline: &HashSet<String>, ignores: &Ignores, today: i64) {
    let mut kept = Vec::new();
    for mut f in std::mem::take(&mut img.findings) {
        let reason = if baseline.contains(&f.id) {
            Some("in the baseline".to_string())
        } else {
            ignores.reason(&f, today, &mut img.notes)
        };
        match reason {
            Some(r) => {
                f.suppressed = Some(r);
                img.suppressed.push(f);
            }
            None => kept.push(f),
        }
    }
    img.findings = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11017);
        assert_eq!(parse_date("2026-11-23").unwrap(), 20780);
        assert!(parse_date("2026-13-01").is_err());
        assert!(parse_date("tomorrow").is_err());
    }

    #[test]
    fn digests_are_short_hex_and_separate_their_parts() {
        let a = digest_parts(&["ab", "c"]);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, digest_parts(&["a", "bc"]));
    }

    #[test]
    fn repositories_drop_tags_and_digests() {
        assert_eq!(repository("finserve/payment:leaky"), "finserve/payment");
        assert_eq!(repository("localhost:5000/app:1.4"), "localhost:5000/app");
        assert_eq!(repository("localhost:5000/app"), "localhost:5000/app");
        assert_eq!(repository("app@sha256:abcd"), "app");
    }
}
