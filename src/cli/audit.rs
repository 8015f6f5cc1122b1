//! `stowaway audit`: run the audit, render every requested format, map the
//! result to the exit code.

use super::AuditArgs;
use crate::audit::{audit_source, DockerfileInput, Options};
use crate::dockerfile::LintOptions;
use crate::image::PlatformFilter;
use crate::knownkey::KnownKeys;
use crate::limits::Limits;
use crate::policy::parse_size;
use crate::policy::PolicyOptions;
use crate::report::{Report, Tool, SCHEMA};
use crate::rules::RuleSet;
use crate::suppress::{Baseline, Ignores};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

/// Runs the audit the arguments describe.
pub(super) fn build_report(args: &AuditArgs) -> Result<Report> {
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
    let mut policy = PolicyOptions::load(
        &args.policy.flags(),
        args.sources.first().map(PathBuf::as_path),
    )?;
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
    let dockerfile = match &args.dockerfile {
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
    };
    let mut images = Vec::new();
    for src in &args.sources {
        images.extend(audit_source(src, &rules, &opts)?);
    }
    let report = Report {
        schema: SCHEMA,
        tool: Tool {
            name: "stowaway",
            version: env!("CARGO_PKG_VERSION"),
            rules: rules.rules().len(),
            rules_hash: rules.hash().to_string(),
            fail_on: args.fail_on,
        },
        images,
    };
    Ok(report)
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
