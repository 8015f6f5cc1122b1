//! `stowaway audit`: run the audit, render every requested format, map the
//! result to the exit code.

use super::{AuditArgs, CacheArgs, RegistryArgs, ScanArgs};
use crate::audit::{audit_source, DockerfileInput, Options};
use crate::cache::{Cache, Stats};
use crate::dockerfile::LintOptions;
use crate::image::PlatformFilter;
use crate::knownkey::KnownKeys;
use crate::limits::Limits;
use crate::policy::parse_size;
use crate::policy::PolicyOptions;
use crate::registry::auth::Credentials;
use crate::registry::reference::{Host, Reference};
use crate::registry::ClientOptions;
use crate::report::{Report, Tool, SCHEMA};
use crate::rules::RuleSet;
use crate::suppress::{Baseline, Ignores};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::ExitCode;

/// The rules and options a scan runs with. `first_source` is where a
/// `stowaway.toml` is looked for first; `cache_by_default` opens the default
/// cache directory when no --cache-dir is given (registry sources).
pub(super) fn build_options(
    args: &ScanArgs,
    first_source: Option<&Path>,
    dockerfile: Option<&Path>,
    cache_by_default: bool,
) -> Result<(RuleSet, Options)> {
    let only = if args.bench_floor {
        Some(vec![])
    } else {
        (!args.only_rule.is_empty()).then(|| args.only_rule.clone())
    };
    let rules = RuleSet::load_only(&args.rules, only.as_deref())?;
    let platform = match &args.platform {
        Some(p) => PlatformFilter::parse(p)?,
        None => PlatformFilter::default(),
    };
    let mut policy = PolicyOptions::load(&args.policy.flags(), first_source)?;
    policy.enabled &= !args.bench_floor;
    let ignores = Ignores::new(std::mem::take(&mut policy.ignore)).with_context(|| {
        format!(
            "{}: invalid [[ignore]] entry",
            policy
                .source
                .as_deref()
                .unwrap_or(std::path::Path::new("stowaway.toml"))
                .display()
        )
    })?;
    let baseline = match &args.baseline {
        Some(p) => Baseline::load(p)?,
        None => Default::default(),
    };
    let mut hexes = args.known_secret.clone();
    if let Some(f) = &args.known_secrets_file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("{}: cannot read the known secrets file", f.display()))?;
        hexes.extend(KnownKeys::parse_file(&text));
    }
    let known = KnownKeys::new(&hexes)?;
    let dockerfile = match dockerfile {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{}: cannot read the Dockerfile", path.display()))?;
            Some(DockerfileInput {
                path: path.display().to_string(),
                parsed: crate::dockerfile::parse(&text),
                lint: LintOptions {
                    expect_port: policy.expect_ports.first().copied(),
                    expect_base: policy.expect_base.clone(),
                    secret_ids: args.secret_id.clone(),
                },
            })
        }
        None => None,
    };
    let mut limits = Limits::default();
    if let Some(s) = &args.max_layer_size {
        limits.layer_bytes = parse_size(s).context("--max-layer-size")?.bytes;
    }
    if let Some(s) = &args.max_image_size {
        limits.image_bytes = parse_size(s).context("--max-image-size")?.bytes;
    }
    if let Some(n) = args.max_entries {
        limits.entries = n;
    }
    if let Some(n) = args.max_path_length {
        limits.path_length = n;
    }
    let opts = Options {
        limits,
        secret_ids: args.secret_id.clone(),
        dockerfile,
        known,
        platform,
        fail_on: args.fail_on,
        progress: !args.no_progress,
        policy,
        baseline,
        ignores,
        registry: registry_options(&args.registry)?,
        cache: open_cache(&args.cache, cache_by_default)?,
        stats: Default::default(),
    };
    Ok((rules, opts))
}

/// Credentials from the flags and the environment, insecure hosts, timeouts.
fn registry_options(args: &RegistryArgs) -> Result<ClientOptions> {
    let user = args
        .registry_user
        .clone()
        .or_else(|| std::env::var("STOWAWAY_REGISTRY_USER").ok())
        .filter(|u| !u.is_empty());
    let credentials = match user {
        Some(username) => {
            let password = if args.registry_password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("--registry-password-stdin: cannot read standard input")?;
                line.trim_end_matches(['\r', '\n']).to_string()
            } else {
                std::env::var("STOWAWAY_REGISTRY_PASSWORD").map_err(|_| {
                    anyhow::anyhow!(
                        "--registry-user {username}: no password: set STOWAWAY_REGISTRY_PASSWORD \
                         or give --registry-password-stdin"
                    )
                })?
            };
            Some(Credentials { username, password })
        }
        None if args.registry_password_stdin => {
            bail!("--registry-password-stdin: give --registry-user too")
        }
        None => None,
    };
    let insecure = args
        .insecure_registry
        .iter()
        .map(|h| Host::parse(h.trim_start_matches("http://")).context("--insecure-registry"))
        .collect::<Result<_>>()?;
    Ok(ClientOptions {
        credentials,
        insecure,
        timeout: std::time::Duration::from_secs(args.registry_timeout.max(1)),
        retries: args.registry_retries,
        ..ClientOptions::default()
    })
}

/// The cache the flags ask for: none with --no-cache; --cache-dir for every
/// source; else the default directory, for registry sources only.
fn open_cache(args: &CacheArgs, by_default: bool) -> Result<Option<Cache>> {
    if args.no_cache {
        return Ok(None);
    }
    let max = parse_size(&args.cache_max_size)
        .context("--cache-max-size")?
        .bytes;
    if let Some(dir) = &args.cache_dir {
        return Cache::open(dir, max, true).map(Some);
    }
    let Some(dir) = by_default.then(crate::cache::default_dir).flatten() else {
        return Ok(None);
    };
    match Cache::open(&dir, max, false) {
        Ok(c) => Ok(Some(c)),
        Err(e) => {
            eprintln!("stowaway: warning: {e:#}; going on without a cache");
            Ok(None)
        }
    }
}

/// Evicts old cache entries and says on stderr what the cache did.
pub(super) fn finish_cache(opts: &Options) {
    let Some(cache) = &opts.cache else { return };
    let s = &opts.stats;
    let usage = cache.evict();
    let kept = match &usage {
        Ok(u) => format!(
            "; it holds {} entries, {}",
            u.entries,
            crate::policy::human(u.bytes)
        ),
        Err(_) => String::new(),
    };
    eprintln!(
        "stowaway: cache {}: {} layer(s) scanned, {} from the cache ({} read again for policy files), \
         policy results of {} image(s) from the cache{kept}",
        cache.dir().display(),
        Stats::get(&s.layers_scanned),
        Stats::get(&s.layers_cached),
        Stats::get(&s.layers_reread),
        Stats::get(&s.policies_cached),
    );
}

/// Runs the audit the arguments describe.
pub(super) fn build_report(args: &AuditArgs) -> Result<Report> {
    let mut references = Vec::new();
    for src in &args.sources {
        references.push(Reference::detect(src)?.is_some());
    }
    let first_file = args
        .sources
        .iter()
        .zip(&references)
        .find(|(_, r)| !**r)
        .map(|(s, _)| s.as_path());
    let (rules, opts) = build_options(
        &args.scan,
        first_file,
        args.dockerfile.as_deref(),
        references.iter().any(|r| *r),
    )?;
    let mut images = Vec::new();
    for src in &args.sources {
        images.extend(audit_source(src, &rules, &opts)?);
    }
    finish_cache(&opts);
    let report = Report {
        schema: SCHEMA,
        tool: tool(&rules, args.scan.fail_on),
        images,
    };
    Ok(report)
}

pub(super) fn tool(rules: &RuleSet, fail_on: crate::severity::Severity) -> Tool {
    Tool {
        name: "stowaway",
        version: env!("CARGO_PKG_VERSION"),
        rules: rules.rules().len(),
        rules_hash: rules.hash().to_string(),
        fail_on,
    }
}

pub fn run(args: &AuditArgs) -> Result<ExitCode> {
    let report = build_report(args)?;
    let to_stdout = args.format.iter().filter(|f| f.file.is_none()).count();
    if to_stdout > 1 {
        bail!("--format: only one format can go to stdout or --output; give the others as FORMAT=FILE");
    }
    for spec in &args.format {
        let rendered = spec.format.render(&report);
        match spec.file.as_ref().or(args.output.as_ref()) {
            Some(path) => std::fs::write(path, rendered)
                .with_context(|| format!("{}: cannot write the report", path.display()))?,
            None => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                if let Err(e) = out.write_all(rendered.as_bytes()) {
                    if e.kind() != std::io::ErrorKind::BrokenPipe {
                        bail!("stdout: {e}");
                    }
                }
            }
        }
    }
    Ok(if report.failing() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
