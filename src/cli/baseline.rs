//! `stowaway baseline`: write the current findings' stable ids to a file.

use super::AuditArgs;
use crate::suppress::Baseline;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(args: &AuditArgs) -> Result<ExitCode> {
    let report = super::audit::build_report(args)?;
    let baseline = Baseline::from_images(&report.images);
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("stowaway-baseline.json"));
    let mut text = serde_json::to_string_pretty(&baseline).expect("baseline serializes");
    text.push('\n');
    std::fs::write(&path, text)
        .with_context(|| format!("{}: cannot write the baseline", path.display()))?;
    eprintln!(
        "stowaway: {} finding(s) of {} image(s) recorded in {}",
        baseline.findings.len(),
        report.images.len(),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}
