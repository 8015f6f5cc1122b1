//! `stowaway rules list|check`.

use super::RulesAction;
use crate::rules::{check_examples, RuleSet};
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(action: RulesAction, rules: &[PathBuf]) -> Result<ExitCode> {
    let set = RuleSet::load(rules)?;
    match action {
        RulesAction::List => {
            for r in set.rules() {
                let d = &r.def;
                println!(
                    "{:<40} {:<12} {:<9} {}",
                    d.id,
                    d.kind.as_str(),
                    d.severity.as_str(),
                    d.name
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesAction::Check => {
            let failures = check_examples(&set);
            for f in &failures {
                println!("FAIL {f}");
            }
            let examples: usize = set
                .rules()
                .iter()
                .map(|r| r.def.examples.len() + r.def.negative_examples.len())
                .sum();
            println!(
                "{} rules, {examples} examples: {} failed",
                set.rules().len(),
                failures.len()
            );
            Ok(if failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
