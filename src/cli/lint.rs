//! `stowaway lint Dockerfile`: judge a Dockerfile against the scenario's
//! rules without an image.

use super::LintArgs;
use crate::dockerfile::{lint, parse, LintOptions};
use crate::severity::Severity;
use anyhow::{Context, Result};
use std::process::ExitCode;

pub fn run(args: &LintArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.dockerfile)
        .with_context(|| format!("{}: cannot read the Dockerfile", args.dockerfile.display()))?;
    let parsed = parse(&text);
    let lints = lint(
        &parsed,
        &LintOptions {
            expect_port: args.expect_port,
            expect_base: args.expect_base.clone(),
            secret_ids: args.secret_id.clone(),
        },
    );
    let failing = lints
        .iter()
        .filter(|l| l.severity.parse::<Severity>().unwrap_or(Severity::Info) >= args.fail_on)
        .count();
    if args.json {
        let mut s = serde_json::to_string_pretty(&serde_json::json!({
            "schema": "stowaway/lint-v1",
            "dockerfile": args.dockerfile.display().to_string(),
            "stages": parsed.stages.len(),
            "findings": lints,
        }))
        .expect("lints serialize");
        s.push('\n');
        print!("{s}");
    } else {
        let shown = args.dockerfile.display();
        for l in &lints {
            println!(
                "{shown}:{}: {} {}: {}",
                l.line,
                l.severity.to_uppercase(),
                l.rule,
                l.message
            );
            println!("    fix: {}", l.remediation);
        }
        println!(
            "{shown}: {} stage(s), {} finding(s), {failing} at or above {}",
            parsed.stages.len(),
            lints.len(),
            args.fail_on
        );
    }
    Ok(if failing > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
