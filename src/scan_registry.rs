//! Whole-registry scans: list the repositories (optionally under a prefix,
//! optionally one shard of them), list their tags, resolve each tag to its
//! manifest, audit each distinct manifest once, in parallel with a bound,
//! and write one report per image plus a summary.

use crate::audit::{audit_opened, Options};
use crate::cache::Stats;
use crate::registry::client::Client;
use crate::registry::reference::{Host, Reference};
use crate::registry::{catalog, fetch_manifest, Fetched, Skipped};
use crate::report::{render_json, sarif, Report, Tool, SCHEMA};
use crate::rules::RuleSet;
use crate::severity::Severity;
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub const SUMMARY_SCHEMA: &str = "stowaway/registry-summary-v1";

/// `--shard K/N`: this worker takes the repositories whose name hashes to K
/// modulo N (0 ≤ K < N), so N workers cover each repository exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub fn parse(s: &str) -> Result<Shard> {
        let parsed = s.split_once('/').and_then(|(k, n)| {
            Some((k.trim().parse::<u64>().ok()?, n.trim().parse::<u64>().ok()?))
        });
        match parsed {
            Some((index, count)) if count > 0 && index < count => Ok(Shard { index, count }),
            _ => bail!("--shard {s}: expected K/N with 0 <= K < N, e.g. 0/4"),
        }
    }

    /// The shard a repository belongs to: the first 8 bytes of the sha256 of
    /// its name, big-endian, modulo N. Stable across runs, machines and versions.
    pub fn of(repository: &str, count: u64) -> u64 {
        let h = Sha256::digest(repository.as_bytes());
        u64::from_be_bytes(h[..8].try_into().expect("8 bytes")) % count
    }

    pub fn owns(&self, repository: &str) -> bool {
        Shard::of(repository, self.count) == self.index
    }
}

/// `HOST[/PREFIX]`: a registry, and optionally the repositories under a path.
pub fn parse_target(s: &str) -> Result<(Host, Option<String>)> {
    let s = s
        .strip_prefix("docker://")
        .unwrap_or(s)
        .trim_end_matches('/');
    let (host, prefix) = match s.split_once('/') {
        Some((h, p)) => (h, Some(p.to_string())),
        None => (s, None),
    };
    Ok((Host::parse(host)?, prefix))
}

pub struct Settings {
    pub host: Host,
    pub prefix: Option<String>,
    pub shard: Option<Shard>,
    /// Repositories and images worked on at once.
    pub jobs: usize,
    pub page_size: usize,
    pub out_dir: PathBuf,
    pub sarif: bool,
}

/// One distinct manifest, or a reference that could not be resolved.
#[derive(Debug, Clone, Serialize)]
pub struct ImageResult {
    pub repository: String,
    /// The manifest (or index) digest; empty when the tag did not resolve.
    pub digest: String,
    /// Every `repository:tag` that names this manifest.
    pub refs: Vec<String>,
    /// `pass`, `fail`, `skipped` or `error`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sarif: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    pub findings: BTreeMap<Severity, usize>,
    pub failing: usize,
    pub policy_failures: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CacheCounts {
    pub layers_scanned: u64,
    pub layers_cached: u64,
    pub layers_reread: u64,
    pub policies_cached: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub schema: &'static str,
    pub registry: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    pub fail_on: Severity,
    pub repositories: usize,
    pub tags: usize,
    /// Distinct manifests audited or attempted.
    pub images: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub errors: usize,
    /// Findings at every severity, over all images.
    pub findings: BTreeMap<Severity, usize>,
    pub policy_failures: usize,
    pub cache: CacheCounts,
    pub results: Vec<ImageResult>,
}

impl Summary {
    /// 2 when something could not be audited, 1 when something fails, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.errors > 0 {
            2
        } else if self.failed > 0 {
            1
        } else {
            0
        }
    }
}

/// An error as one line, controls escaped.
fn one_line(e: &anyhow::Error) -> String {
    let msg = format!("{e:#}");
    crate::redact::escape_controls(&msg.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn result(repository: &str, digest: &str, refs: Vec<String>) -> ImageResult {
    ImageResult {
        repository: repository.to_string(),
        digest: digest.to_string(),
        refs,
        status: "error",
        report: None,
        sarif: None,
        platforms: vec![],
        findings: BTreeMap::new(),
        failing: 0,
        policy_failures: 0,
        error: None,
    }
}

struct Target {
    repository: String,
    tags: Vec<String>,
    manifest: Fetched,
}

/// Runs the scan; per-image problems are in the summary, only a registry
/// that cannot be listed at all is an error.
pub fn run(settings: &Settings, rules: &RuleSet, opts: &Options, tool: &Tool) -> Result<Summary> {
    let host = &settings.host;
    let client = Arc::new(Client::new(host, &opts.registry).with_context(|| host.to_string())?);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(settings.jobs.max(1))
        .build()
        .context("cannot start the worker threads")?;
    let mut repos = catalog::repositories(&client, settings.page_size)?;
    if let Some(p) = &settings.prefix {
        repos.retain(|r| r == p || r.starts_with(&format!("{p}/")));
    }
    if let Some(s) = &settings.shard {
        repos.retain(|r| s.owns(r));
    }
    std::fs::create_dir_all(&settings.out_dir).with_context(|| {
        format!(
            "{}: cannot create the report directory",
            settings.out_dir.display()
        )
    })?;

    // Tags, resolved to manifests (fetched once, digests verified).
    type Resolved = Result<Vec<(String, Result<Fetched>)>>;
    let listed: Vec<(String, Resolved)> = pool.install(|| {
        repos
            .par_iter()
            .map(|repo| {
                let tags = catalog::tags(&client, repo, settings.page_size).map(|tags| {
                    tags.into_iter()
                        .map(|t| {
                            let m = fetch_manifest(&client, repo, &t)
                                .with_context(|| format!("{host}/{repo}:{t}"));
                            (t, m)
                        })
                        .collect()
                });
                (repo.clone(), tags)
            })
            .collect()
    });
    let mut results = Vec::new();
    let mut targets: BTreeMap<String, Target> = BTreeMap::new();
    let mut tag_count = 0;
    for (repo, tags) in listed {
        let tags = match tags {
            Ok(t) => t,
            Err(e) => {
                let mut r = result(&repo, "", vec![]);
                r.error = Some(one_line(&e));
                results.push(r);
                continue;
            }
        };
        for (tag, manifest) in tags {
            tag_count += 1;
            match manifest {
                Ok(m) => {
                    let t = targets.entry(m.digest.clone()).or_insert_with(|| Target {
                        repository: repo.clone(),
                        tags: vec![],
                        manifest: m,
                    });
                    t.tags.push(format!("{host}/{repo}:{tag}"));
                }
                Err(e) => {
                    let mut r = result(&repo, "", vec![format!("{host}/{repo}:{tag}")]);
                    r.error = Some(one_line(&e));
                    results.push(r);
                }
            }
        }
    }
    let total = targets.len();
    let done = AtomicUsize::new(0);
    let audited: Vec<ImageResult> = pool.install(|| {
        targets
            .into_par_iter()
            .map(|(digest, t)| {
                let r = audit_target(settings, &client, t, &digest, rules, opts, tool);
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                eprintln!("stowaway: [{n}/{total}] {}", progress_line(&r));
                r
            })
            .collect()
    });
    results.extend(audited);
    results.sort_by(|a, b| {
        (&a.repository, &a.refs, &a.digest).cmp(&(&b.repository, &b.refs, &b.digest))
    });
    let count = |s: &str| results.iter().filter(|r| r.status == s).count();
    let mut findings = BTreeMap::new();
    for r in &results {
        for (sev, n) in &r.findings {
            *findings.entry(*sev).or_insert(0) += n;
        }
    }
    Ok(Summary {
        schema: SUMMARY_SCHEMA,
        registry: host.to_string(),
        prefix: settings.prefix.clone(),
        shard: settings.shard,
        fail_on: opts.fail_on,
        repositories: repos.len(),
        tags: tag_count,
        images: results.iter().filter(|r| !r.digest.is_empty()).count(),
        passed: count("pass"),
        failed: count("fail"),
        skipped: count("skipped"),
        errors: count("error"),
        findings,
        policy_failures: results.iter().map(|r| r.policy_failures).sum(),
        cache: CacheCounts {
            layers_scanned: Stats::get(&opts.stats.layers_scanned),
            layers_cached: Stats::get(&opts.stats.layers_cached),
            layers_reread: Stats::get(&opts.stats.layers_reread),
            policies_cached: Stats::get(&opts.stats.policies_cached),
        },
        results,
    })
}

fn progress_line(r: &ImageResult) -> String {
    let short = r.digest.get(..19).unwrap_or(&r.digest);
    let what = format!("{}@{short}", r.repository);
    match r.status {
        "error" => format!("{what}: error: {}", r.error.as_deref().unwrap_or("")),
        "skipped" => format!("{what}: skipped: {}", r.error.as_deref().unwrap_or("")),
        s => format!("{what}: {s}{}", severity_counts(&r.findings)),
    }
}

/// `: 2 critical, 1 high`, or nothing.
pub fn severity_counts(by: &BTreeMap<Severity, usize>) -> String {
    let parts: Vec<String> = Severity::ALL
        .iter()
        .filter_map(|s| by.get(s).filter(|n| **n > 0).map(|n| format!("{n} {s}")))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join(", "))
    }
}

/// Audits one distinct manifest and writes its reports.
fn audit_target(
    settings: &Settings,
    client: &Arc<Client>,
    t: Target,
    digest: &str,
    rules: &RuleSet,
    opts: &Options,
    tool: &Tool,
) -> ImageResult {
    let mut out = result(&t.repository, digest, t.tags.clone());
    let reference = Reference {
        host: settings.host.clone(),
        repository: t.repository.clone(),
        tag: None,
        digest: Some(digest.to_string()),
    };
    let shown = reference.to_string();
    let audited = (|| -> Result<Vec<crate::report::ImageReport>> {
        let mut source =
            crate::registry::open(client.clone(), &reference, Some(t.manifest), &opts.platform)?;
        for img in &mut source.images {
            img.tags = t.tags.clone();
        }
        audit_opened(&shown, &source, rules, opts)
    })();
    let images = match audited {
        Ok(i) => i,
        Err(e) => {
            if e.downcast_ref::<Skipped>().is_some() {
                out.status = "skipped";
            }
            out.error = Some(one_line(&e));
            return out;
        }
    };
    for img in &images {
        for (sev, n) in &img.summary.by_severity {
            *out.findings.entry(*sev).or_insert(0) += n;
        }
        out.failing += img.summary.failing;
        out.policy_failures += img.summary.policy_failures;
        out.platforms.push(img.platform.clone());
    }
    let report = Report {
        schema: SCHEMA,
        tool: tool.clone(),
        images,
    };
    let hex = digest.trim_start_matches("sha256:");
    let base = format!(
        "{}_{}",
        t.repository.replace('/', "_"),
        &hex[..hex.len().min(16)]
    );
    let write = |ext: &str, text: String| -> Result<String> {
        let name = format!("{base}.{ext}");
        let path = settings.out_dir.join(&name);
        std::fs::write(&path, text)
            .with_context(|| format!("{}: cannot write the report", path.display()))?;
        Ok(name)
    };
    let written = write("json", render_json(&report)).and_then(|json| {
        let sarif = settings
            .sarif
            .then(|| write("sarif", sarif::render_sarif(&report)))
            .transpose()?;
        Ok((json, sarif))
    });
    match written {
        Ok((json, sarif)) => {
            out.report = Some(json);
            out.sarif = sarif;
            out.status = if report.failing() { "fail" } else { "pass" };
        }
        Err(e) => out.error = Some(one_line(&e)),
    }
    out
}

/// The summary for people.
pub fn render_text(s: &Summary) -> String {
    let mut out = String::new();
    let scope = match (&s.prefix, &s.shard) {
        (Some(p), Some(sh)) => format!("{}/{p} (shard {}/{})", s.registry, sh.index, sh.count),
        (Some(p), None) => format!("{}/{p}", s.registry),
        (None, Some(sh)) => format!("{} (shard {}/{})", s.registry, sh.index, sh.count),
        (None, None) => s.registry.clone(),
    };
    out.push_str(&format!(
        "registry scan of {scope}: {} image(s) from {} tag(s) in {} repositories\n",
        s.images, s.tags, s.repositories
    ));
    out.push_str(&format!(
        "  {} passed, {} failed (at or above {} or a policy failure), {} skipped, {} error(s)\n",
        s.passed, s.failed, s.fail_on, s.skipped, s.errors
    ));
    let counts = severity_counts(&s.findings);
    out.push_str(&format!(
        "  findings{}\n  policy failures: {}\n",
        if counts.is_empty() {
            ": none".to_string()
        } else {
            counts
        },
        s.policy_failures
    ));
    out.push_str(&format!(
        "  cache: {} layer(s) scanned, {} from the cache ({} read again for policy files), \
         policy results of {} image(s) from the cache\n",
        s.cache.layers_scanned,
        s.cache.layers_cached,
        s.cache.layers_reread,
        s.cache.policies_cached
    ));
    for r in s.results.iter().filter(|r| r.status != "pass") {
        // Errors name the reference themselves.
        let line = match r.status {
            "fail" => format!(
                "{}: {}{}",
                r.refs.join(", "),
                severity_counts(&r.findings).trim_start_matches(": "),
                if r.policy_failures > 0 {
                    format!(", {} policy failure(s)", r.policy_failures)
                } else {
                    String::new()
                }
            ),
            _ => r.error.clone().unwrap_or_default(),
        };
        out.push_str(&format!("{:<7} {line}\n", r.status.to_uppercase()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_and_are_stable() {
        assert!(Shard::parse("3/3").is_err());
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("x").is_err());
        let shards: Vec<Shard> = (0..3)
            .map(|k| Shard::parse(&format!("{k}/3")).unwrap())
            .collect();
        for i in 0..200 {
            let repo = format!("team-{}/svc-{i}", i % 7);
            assert_eq!(shards.iter().filter(|s| s.owns(&repo)).count(), 1, "{repo}");
        }
        // Pinned: the assignment must never change between versions.
        assert_eq!(Shard::of("team/app", 4), Shard::of("team/app", 4));
        let h = Sha256::digest(b"team/app");
        assert_eq!(
            Shard::of("team/app", 1000),
            u64::from_be_bytes(h[..8].try_into().unwrap()) % 1000
        );
    }

    #[test]
    fn targets() {
        let (h, p) = parse_target("reg.example.com:5000/team/").unwrap();
        assert_eq!(
            (h.0.as_str(), p.as_deref()),
            ("reg.example.com:5000", Some("team"))
        );
        let (h, p) = parse_target("docker://127.0.0.1:5000").unwrap();
        assert_eq!((h.0.as_str(), p), ("127.0.0.1:5000", None));
        assert!(parse_target("https://x").is_err());
    }
}
