//! The audit pipeline: open the source, scan every distinct layer once (in
//! parallel), merge per image, scan the config, assemble the report.

use crate::cache::{Cache, Stats};
use crate::config_scan::scan_config;
use crate::image::container::Container;
use crate::image::{self, Image, PlatformFilter, Source};
use crate::knownkey::KnownKeys;
use crate::layer::{extract_files, scan_layer, EntryKind, LayerScan, Spec, MAX_CAPTURE};
use crate::merge::{FinalTree, State};
use crate::policy::{self, Fetch, FinalFs, PolicyOptions};
use crate::progress::Progress;
use crate::registry::client::{Client, ClientOptions};
use crate::registry::reference::Reference;
use crate::report::{
    Finding, ImageReport, KnownSecretResult, LayerInfo, PolicyResult, Summary, Where,
};
use crate::rules::{RuleDef, RuleSet};
use crate::severity::Severity;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

pub struct Options {
    pub platform: PlatformFilter,
    pub fail_on: Severity,
    pub progress: bool,
    pub policy: PolicyOptions,
    /// Stable ids of findings to suppress (`--baseline`).
    pub baseline: HashSet<String>,
    pub ignores: crate::suppress::Ignores,
    /// Secrets to search for by their sha256 (`--known-secret-sha256`).
    pub known: KnownKeys,
    pub limits: crate::limits::Limits,
    /// BuildKit secret ids that must be used only as secret mounts.
    pub secret_ids: Vec<String>,
    /// The Dockerfile the image was built from (`--dockerfile`).
    pub dockerfile: Option<DockerfileInput>,
    /// How registry references are pulled.
    pub registry: ClientOptions,
    /// Layer scans and policy results of earlier runs.
    pub cache: Option<Cache>,
    /// Layers scanned and taken from the cache in this run.
    pub stats: Stats,
}

/// A Dockerfile to lint and to map the image's history to.
pub struct DockerfileInput {
    pub path: String,
    pub parsed: crate::dockerfile::Dockerfile,
    pub lint: crate::dockerfile::LintOptions,
}

impl Default for Options {
    /// What the CLI does with no flags and no settings file.
    fn default() -> Self {
        Options {
            platform: PlatformFilter::default(),
            fail_on: Severity::High,
            progress: false,
            policy: PolicyOptions::default(),
            baseline: HashSet::new(),
            ignores: crate::suppress::Ignores::default(),
            known: KnownKeys::default(),
            dockerfile: None,
            secret_ids: vec![],
            limits: crate::limits::Limits::default(),
            registry: ClientOptions::default(),
            cache: None,
            stats: Stats::default(),
        }
    }
}

/// Audits one source (which may hold several images): an image file or
/// directory, or a registry reference (`registry.example.com/team/app:1.4`).
pub fn audit_source(path: &Path, rules: &RuleSet, opts: &Options) -> Result<Vec<ImageReport>> {
    if let Some(reference) = Reference::detect(path)? {
        let shown = reference.to_string();
        let client = Client::new(&reference.host, &opts.registry).with_context(|| shown.clone())?;
        let source = crate::registry::open(Arc::new(client), &reference, None, &opts.platform)?;
        return audit_opened(&shown, &source, rules, opts);
    }
    let shown = path.display().to_string();
    let source = image::open(path, &opts.platform)?;
    audit_opened(&shown, &source, rules, opts)
}

/// Audits the images of an opened source. With a cache, layers scanned
/// before are not read again, and an image whose policy results are cached
/// reads no layer at all.
pub fn audit_opened(
    shown: &str,
    source: &Source,
    rules: &RuleSet,
    opts: &Options,
) -> Result<Vec<ImageReport>> {
    let Source { container, images } = source;
    // Each distinct blob is scanned once, whatever number of images share it.
    let mut members: Vec<String> = Vec::new();
    let mut first_ref = HashMap::new();
    for img in images {
        for l in &img.layers {
            if !first_ref.contains_key(&l.member) {
                first_ref.insert(l.member.clone(), l.clone());
                members.push(l.member.clone());
            }
        }
    }
    let cache = opts
        .cache
        .as_ref()
        .filter(|c| c.local_files || matches!(container, Container::Registry(_)));
    let layer_key = |m: &str| -> Option<(&Cache, String)> {
        let digest = first_ref[m].digest.as_deref()?;
        cache.map(|c| (c, crate::cache::layer_key(digest, rules, opts)))
    };
    let policy_key = |img: &Image| -> Option<(&Cache, String)> {
        let digest = img
            .manifest_digest
            .as_deref()
            .filter(|_| opts.policy.enabled)?;
        cache.map(|c| (c, crate::cache::policy_key(digest, rules, opts)))
    };
    let cached_policy: Vec<Option<Vec<PolicyResult>>> = images
        .iter()
        .map(|img| policy_key(img).and_then(|(c, k)| c.policy(&k)))
        .collect();
    let mut by_member: HashMap<String, LayerScan> = HashMap::new();
    for m in &members {
        if let Some(scan) = layer_key(m).and_then(|(c, k)| c.layer(&k)) {
            Stats::add(&opts.stats.layers_cached);
            by_member.insert(m.clone(), scan);
        }
    }
    let from_cache: HashSet<String> = by_member.keys().cloned().collect();
    let misses: Vec<String> = members
        .iter()
        .filter(|m| !from_cache.contains(*m))
        .cloned()
        .collect();
    let total: u64 = misses.iter().map(|m| first_ref[m].compressed_size).sum();
    let progress = Progress::new(opts.progress, total, shown);
    let wanted: Vec<_> = images
        .iter()
        .map(|i| policy::wanted_paths(&i.config))
        .collect();
    let capture = |p: &str| wanted.iter().any(|w| w(p));
    let image_bytes = AtomicU64::new(0);
    let spec = Spec {
        rules,
        known: &opts.known,
        capture: &capture,
        limits: &opts.limits,
        image_bytes: &image_bytes,
    };
    let scans = container.visit(&misses, |member, r| {
        let layer = &first_ref[member];
        let key = layer_key(member);
        // Another image of this run may be scanning the same layer: wait for
        // it and take its result from the cache.
        let claim = key.as_ref().map(|(c, k)| c.claim(k));
        let _held = claim.as_ref().map(|c| c.hold());
        if let Some(scan) = key.as_ref().and_then(|(c, k)| c.layer(k)) {
            Stats::add(&opts.stats.layers_cached);
            return Ok((scan, true));
        }
        let scan = scan_layer(&spec, layer, r, &|n| progress.inc(n))
            .with_context(|| format!("{shown}: layer {member}"))?;
        Stats::add(&opts.stats.layers_scanned);
        if let Some((c, k)) = &key {
            c.put_layer(k, &scan);
        }
        Ok((scan, false))
    })?;
    progress.finish();
    let mut reread: HashSet<String> = from_cache;
    for (m, (scan, cached)) in misses.into_iter().zip(scans) {
        if cached {
            reread.insert(m.clone());
        }
        by_member.insert(m, scan);
    }
    // A cached scan has no file contents: read the files the policy checks
    // want back out of those layers, for the images whose policy runs.
    let mut need: Vec<String> = Vec::new();
    let mut paths: HashMap<String, HashSet<String>> = HashMap::new();
    for (img, p) in images.iter().zip(&cached_policy) {
        if !opts.policy.enabled || p.is_some() {
            continue;
        }
        for l in &img.layers {
            if !reread.remove(&l.member) {
                continue;
            }
            let want: HashSet<String> = by_member[&l.member]
                .entries
                .iter()
                .filter(|e| e.kind == EntryKind::File && e.size <= MAX_CAPTURE && capture(&e.path))
                .map(|e| e.path.clone())
                .collect();
            if !want.is_empty() {
                need.push(l.member.clone());
                paths.insert(l.member.clone(), want);
            }
        }
    }
    let files = container.visit(&need, |member, r| {
        Stats::add(&opts.stats.layers_reread);
        extract_files(r, &paths[member]).with_context(|| format!("{shown}: layer {member}"))
    })?;
    for (m, f) in need.iter().zip(files) {
        by_member.get_mut(m).expect("scanned").captured = f;
    }
    images
        .iter()
        .zip(cached_policy)
        .map(|(img, cached)| {
            let layers: Vec<&LayerScan> = img
                .layers
                .iter()
                .map(|l| &by_member[l.member.as_str()])
                .collect();
            // The policy checks' second pass: files the first pass did not keep.
            let fetch = |i: usize, paths: &HashSet<String>| {
                let member = img.layers[i].member.clone();
                container
                    .visit(std::slice::from_ref(&member), |_, r| {
                        extract_files(r, paths)
                    })
                    .map(|mut v| v.pop().unwrap_or_default())
                    .with_context(|| format!("{shown}: layer {member}"))
            };
            let computed = cached.is_none();
            if !computed {
                Stats::add(&opts.stats.policies_cached);
            }
            let report = image_report(shown, img, &layers, &fetch, rules, opts, cached)?;
            if let (true, Some((c, k))) = (computed, policy_key(img)) {
                c.put_policy(&k, &report.policy);
            }
            Ok(report)
        })
        .collect()
}

/// A finding of `rule`, placed nowhere yet.
fn rule_finding(rule: &RuleDef, location: Where, message: String) -> Finding {
    Finding::new(
        rule.id.clone(),
        rule.kind.as_str(),
        rule.severity,
        rule.name.clone(),
        location,
        message,
        rule.remediation.clone(),
    )
}

/// A layer whose uncompressed content is not what the config's `diff_ids`
/// says. Its blob digest (where the manifest gives one) was already verified,
/// so this is a docker-archive layer rewritten after the build: the audit
/// goes on, so whatever was slipped in is still shown, and says so loudly.
fn integrity_finding(i: usize, l: &crate::image::LayerRef, s: &LayerScan) -> Finding {
    Finding {
        layer: Some(i),
        layer_digest: Some(s.digest.clone()),
        path: Some(l.member.clone()),
        ..Finding::new(
            "integrity.diff-id-mismatch",
            "integrity",
            Severity::Critical,
            "Layer content does not match the image config",
            Where::Layer,
            format!(
                "layer {i} ({}): the config's diff_id is {}, the content hashes to {}: \
                 the image was modified after it was built or is corrupt (docker load refuses it)",
                l.member, l.diff_id, s.diff_id
            ),
            "Rebuild the image from source and do not trust this tarball.",
        )
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn state_phrase(state: State) -> &'static str {
    match state {
        State::Present => "in the final image",
        State::Deleted => "deleted by a later layer but still in the image tarball",
        State::Overwritten => "overwritten by a later layer but still in the image tarball",
    }
}

/// Assembles one image's report; `policy` is given when the cache had it.
fn image_report(
    shown: &str,
    img: &Image,
    layers: &[&LayerScan],
    fetch: &Fetch,
    rules: &RuleSet,
    opts: &Options,
    policy: Option<Vec<PolicyResult>>,
) -> Result<ImageReport> {
    let tree = FinalTree::build(layers);
    // The policy checks and the rest of the report both read the tree and
    // not each other: both cores.
    let (policy, report) = rayon::join(
        || {
            policy.unwrap_or_else(|| {
                policy::evaluate(&policy::Context {
                    fs: &FinalFs::new(&tree, layers, fetch),
                    config: &img.config,
                    layer_refs: &img.layers,
                    layers,
                    rules,
                    opts: &opts.policy,
                })
            })
        },
        || findings_report(shown, img, layers, &tree, rules, opts),
    );
    let mut report = report?;
    report.policy = policy;
    crate::suppress::apply(
        &mut report,
        &opts.baseline,
        &opts.ignores,
        crate::suppress::today(),
    );
    report.summary = summarize(&report, tree.len(), opts.fail_on);
    Ok(report)
}

/// The report of an image but for its policy checks: findings in layers
/// and config, known secrets, layers, notes.
fn findings_report(
    shown: &str,
    img: &Image,
    layers: &[&LayerScan],
    tree: &FinalTree,
    rules: &RuleSet,
    opts: &Options,
) -> Result<ImageReport> {
    let config_scan = scan_config(rules, &img.config);
    let history_for_layer = img.config.layer_history();
    let created_by = |i: usize| -> (Option<String>, Option<usize>) {
        match history_for_layer.get(i).cloned().flatten() {
            Some((hi, _)) => (config_scan.history.get(hi).cloned(), Some(hi)),
            None => (None, None),
        }
    };
    let mut findings = Vec::new();
    for (li, (l, s)) in img.layers.iter().zip(layers).enumerate() {
        if !l.diff_id.eq_ignore_ascii_case(&s.diff_id) {
            if l.digest.is_none() {
                findings.push(integrity_finding(li, l, s));
            } else {
                bail!(
                    "{shown}: layer {li} ({}): diff_id mismatch: config says {}, content is {}",
                    l.member,
                    l.diff_id,
                    s.diff_id
                );
            }
        }
    }
    for (li, scan) in layers.iter().enumerate() {
        let (created, hist) = created_by(li);
        let layer_digest = img.layers[li].digest.clone().unwrap_or(scan.digest.clone());
        for hit in &scan.hits {
            let rule = &rules.rule(hit.rule).def;
            let mut state = tree.state(li, hit.entry, &hit.path);
            let via = (state != State::Present)
                .then(|| tree.hard_link_to(li, &hit.path))
                .flatten();
            if via.is_some() {
                state = State::Present;
            }
            findings.push(Finding {
                layer: Some(li),
                layer_digest: Some(layer_digest.clone()),
                created_by: created.clone(),
                path: Some(hit.path.clone()),
                history_index: hist,
                state: Some(state),
                offset: hit.offset,
                line: hit.line,
                occurrences: hit.occurrences,
                redacted: Some(hit.redacted.clone()),
                fingerprint: Some(hit.fingerprint.clone()),
                ..rule_finding(
                    rule,
                    Where::Layer,
                    format!(
                        "{}: {} in layer {li}, {}{}",
                        rule.name,
                        hit.path,
                        state_phrase(state),
                        via.map(|v| format!(" (through the hard link {v})"))
                            .unwrap_or_default()
                    ),
                )
            });
        }
        for k in &scan.known {
            let state = tree.state(li, k.entry, &k.path);
            findings.push(known_finding(
                &opts.known,
                k.key,
                k.form,
                Some((li, layer_digest.clone())),
                Some((k.path.clone(), state)),
                created.clone(),
                hist,
                k.offset,
            ));
        }
        // Residue: one finding per rule and state, with counts and bytes.
        let mut residue: BTreeMap<(usize, State), (u64, u64, Vec<String>)> = BTreeMap::new();
        for (ei, e) in scan.entries.iter().enumerate() {
            if let (Some(r), EntryKind::File) = (e.residue, e.kind) {
                let slot = residue.entry((r, tree.state(li, ei, &e.path))).or_default();
                slot.0 += 1;
                slot.1 += e.size;
                if slot.2.len() < 3 {
                    slot.2.push(e.path.clone());
                }
            }
        }
        for ((r, state), (count, bytes, samples)) in residue {
            let rule = &rules.rule(r).def;
            findings.push(Finding {
                layer: Some(li),
                layer_digest: Some(layer_digest.clone()),
                created_by: created.clone(),
                path: samples.first().cloned(),
                history_index: hist,
                state: Some(state),
                files: Some(count),
                bytes: Some(bytes),
                sample_paths: samples,
                ..rule_finding(
                    rule,
                    Where::Layer,
                    format!(
                        "{}: {count} files, {} in layer {li}, {}",
                        rule.name,
                        human_bytes(bytes),
                        state_phrase(state)
                    ),
                )
            });
        }
    }
    for hit in &config_scan.hits {
        let rule = &rules.rule(hit.rule).def;
        let place = match (hit.field, &hit.key, hit.history_index) {
            ("env", Some(k), _) => format!("ENV {k}"),
            ("label", Some(k), _) => format!("LABEL {k}"),
            ("history", Some(k), Some(i)) => format!("{k} in build history entry {i}"),
            ("history", None, Some(i)) => format!("build history entry {i}"),
            (f, _, _) => f.to_uppercase(),
        };
        findings.push(Finding {
            created_by: hit
                .history_index
                .and_then(|i| config_scan.history.get(i).cloned()),
            config_field: Some(hit.field),
            config_key: hit.key.clone(),
            history_index: hit.history_index,
            occurrences: hit.occurrences,
            redacted: Some(hit.redacted.clone()),
            fingerprint: Some(hit.fingerprint.clone()),
            ..rule_finding(
                rule,
                Where::Config,
                format!("{} in the image config: {place}", rule.name),
            )
        });
    }
    findings.extend(known_in_config(&opts.known, &img.config));
    let (attestations, attested) = crate::attest::scan(rules, &img.attestations, &opts.secret_ids);
    findings.extend(attested);
    let known_secrets = opts
        .known
        .hexes
        .iter()
        .map(|h| {
            let short = &h[..16];
            let found = findings
                .iter()
                .filter(|f| f.rule == KNOWN_RULE && f.fingerprint.as_deref() == Some(short))
                .count();
            KnownSecretResult {
                sha256: h.clone(),
                found,
                searched: format!(
                    "{} layer(s) ({} files, deleted ones included) and the image config, as file, PEM, DER, base64 and hex",
                    layers.len(),
                    layers.iter().map(|l| l.entries.len()).sum::<usize>()
                ),
                message: if found == 0 {
                    format!("known secret {short}…: searched, found nowhere")
                } else {
                    format!("known secret {short}…: FOUND in {found} place(s)")
                },
            }
        })
        .collect();
    let mut notes = Vec::new();
    let lines = match &opts.dockerfile {
        Some(d) => crate::dockerfile_check::apply(d, &img.config, rules, &mut findings, &mut notes),
        None => vec![],
    };
    let line_of = |hist: Option<usize>| hist.and_then(|h| lines.get(h).cloned().flatten());
    let repo = img
        .tags
        .first()
        .map_or("", |t| crate::suppress::repository(t));
    for f in &mut findings {
        f.id = crate::suppress::stable_id(repo, f);
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.layer.cmp(&b.layer))
            .then(a.path.cmp(&b.path))
            .then(a.rule.cmp(&b.rule))
            .then(a.offset.cmp(&b.offset))
    });
    let layer_infos: Vec<LayerInfo> = img
        .layers
        .iter()
        .zip(layers)
        .enumerate()
        .map(|(i, (l, s))| {
            let (created, hist) = created_by(i);
            LayerInfo {
                index: i,
                digest: l.digest.clone().unwrap_or(s.digest.clone()),
                diff_id: s.diff_id.clone(),
                media_type: l.media_type.clone(),
                compression: s.compression,
                compressed_size: l.compressed_size,
                size: s.size,
                files: s.entries.len(),
                created_by: created,
                history_index: hist,
                dockerfile_line: line_of(hist).map(|(l, _)| l),
                instruction: line_of(hist).map(|(_, i)| i),
            }
        })
        .collect();
    for l in &layer_infos {
        if let Some(claimed) = l
            .media_type
            .as_deref()
            .and_then(crate::image::blob::Compression::from_media_type)
        {
            if claimed.name() != l.compression {
                notes.push(format!(
                    "layer {}: media type {} says {}, the bytes are {}: read as {}",
                    l.index,
                    l.media_type.as_deref().unwrap_or(""),
                    claimed.name(),
                    l.compression,
                    l.compression
                ));
            }
        }
    }
    Ok(ImageReport {
        source: shown.to_string(),
        format: img.format.name(),
        tags: img.tags.clone(),
        platform: img.config.platform().display(),
        manifest_digest: img.manifest_digest.clone(),
        config_digest: img.config_digest.clone(),
        layers: layer_infos,
        findings,
        suppressed: vec![],
        known_secrets,
        dockerfile: opts.dockerfile.as_ref().map(|d| d.path.clone()),
        attestations,
        policy: vec![],
        notes,
        summary: Summary::default(),
    })
}

/// Counts for the summary, after suppression.
fn summarize(img: &ImageReport, files: usize, fail_on: Severity) -> Summary {
    let mut by_severity = BTreeMap::new();
    for f in &img.findings {
        *by_severity.entry(f.severity).or_insert(0) += 1;
    }
    let failing = img
        .findings
        .iter()
        .filter(|f| f.severity >= fail_on)
        .count();
    let policy_failures = img.policy.iter().filter(|p| p.status == "fail").count();
    Summary {
        findings: img.findings.len(),
        max_severity: img.findings.iter().map(|f| f.severity).max(),
        by_severity,
        failing,
        policy_failures,
        suppressed: img.suppressed.len(),
        layers: img.layers.len(),
        files,
        size: img.layers.iter().map(|l| l.size).sum(),
        compressed_size: img.layers.iter().map(|l| l.compressed_size).sum(),
        verdict: if failing + policy_failures > 0 {
            "fail"
        } else {
            "pass"
        },
    }
}

pub const KNOWN_RULE: &str = "known-secret";

/// A finding for a known secret found at a place.
#[allow(clippy::too_many_arguments)]
fn known_finding(
    known: &KnownKeys,
    key: usize,
    form: &'static str,
    layer: Option<(usize, String)>,
    file: Option<(String, State)>,
    created_by: Option<String>,
    history_index: Option<usize>,
    offset: Option<u64>,
) -> Finding {
    let short = known.hexes[key][..16].to_string();
    let place = match (&file, &layer) {
        (Some((p, state)), Some((l, _))) => format!("{p} (layer {l}), {}", state_phrase(*state)),
        _ => "the image config".to_string(),
    };
    Finding {
        layer: layer.as_ref().map(|(l, _)| *l),
        layer_digest: layer.as_ref().map(|(_, d)| d.clone()),
        created_by,
        path: file.as_ref().map(|(p, _)| p.clone()),
        history_index,
        state: file.map(|(_, s)| s),
        offset,
        redacted: Some(format!("({form} form of the known secret)")),
        fingerprint: Some(short.clone()),
        ..Finding::new(
            KNOWN_RULE,
            "secret",
            Severity::Critical,
            "Known secret",
            if layer.is_some() { Where::Layer } else { Where::Config },
            format!("known secret {short}… found as {form} in {place}"),
            "This is the real key: rotate it now, then rebuild without it (RUN --mount=type=secret).",
        )
    }
}

/// Known secrets in ENV, labels, history, entrypoint and cmd.
fn known_in_config(known: &KnownKeys, cfg: &crate::image::spec::ImageConfig) -> Vec<Finding> {
    if known.is_empty() {
        return vec![];
    }
    let c = &cfg.config;
    let mut texts: Vec<(&'static str, Option<String>, Option<usize>, String)> = Vec::new();
    texts.extend(c.env.iter().map(|e| {
        (
            "env",
            e.split_once('=').map(|(k, _)| k.to_string()),
            None,
            e.clone(),
        )
    }));
    texts.extend(
        c.labels
            .iter()
            .map(|(k, v)| ("label", Some(k.clone()), None, v.clone())),
    );
    texts.push(("entrypoint", None, None, c.entrypoint.join(" ")));
    texts.push(("cmd", None, None, c.cmd.join(" ")));
    // History lines are searched raw (the masked copies are for display).
    texts.extend(cfg.history.iter().enumerate().map(|(i, h)| {
        (
            "history",
            None,
            Some(i),
            h.created_by.clone().unwrap_or_default(),
        )
    }));
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (field, key, hist, text) in texts {
        let mut found = Vec::new();
        known.search(text.as_bytes(), &mut found);
        for f in found {
            if seen.insert((f.key, field, key.clone())) {
                let mut finding = known_finding(known, f.key, f.form, None, None, None, hist, None);
                finding.config_field = Some(field);
                finding.config_key = key.clone();
                out.push(finding);
            }
        }
    }
    out
}
