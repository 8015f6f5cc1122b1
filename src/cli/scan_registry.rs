//! `stowaway scan-registry`: audit every image of a registry (or of a shard
//! of it), print the summary, map it to the exit code.

use super::ScanRegistryArgs;
use crate::scan_registry::{parse_target, render_text, Settings, Shard};
use anyhow::{Context, Result};
use std::process::ExitCode;

pub fn run(args: &ScanRegistryArgs) -> Result<ExitCode> {
    let (host, prefix) = parse_target(&args.registry)?;
    let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
    let (rules, mut opts) = super::audit::build_options(&args.scan, None, None, true)?;
    opts.progress = false;
    let settings = Settings {
        host,
        prefix,
        shard,
        jobs: args.jobs,
        page_size: args.page_size.max(1),
        out_dir: args.out_dir.clone(),
        sarif: args.sarif,
    };
    let tool = super::audit::tool(&rules, args.scan.fail_on);
    let summary = crate::scan_registry::run(&settings, &rules, &opts, &tool)?;
    super::audit::finish_cache(&opts);
    let path = args.out_dir.join("summary.json");
    let mut json = serde_json::to_string_pretty(&summary).expect("summary serializes");
    json.push('\n');
    std::fs::write(&path, json)
        .with_context(|| format!("{}: cannot write the summary", path.display()))?;
    print!("{}", render_text(&summary));
    Ok(ExitCode::from(summary.exit_code()))
}
