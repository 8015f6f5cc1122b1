//! `--dockerfile`: lint the Dockerfile the image was built from and tie the
//! image's history back to its lines ("introduced by line 14: COPY . .").

use crate::audit::DockerfileInput;
use crate::dockerfile::{lint, map_history};
use crate::image::spec::ImageConfig;
use crate::redact::mask;
use crate::report::{Finding, Where};
use crate::rules::RuleSet;
use crate::severity::Severity;

/// An instruction as shown in reports: one line, at most 80 characters,
/// anything the content rules match masked.
fn shown(rules: &RuleSet, text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut matches = Vec::new();
    rules.scan(one_line.as_bytes(), None, &mut matches);
    let ranges: Vec<_> = matches.iter().map(|m| m.secret.clone()).collect();
    let masked = mask(one_line.as_bytes(), &ranges, &[]);
    match masked.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &masked[..i]),
        None => masked,
    }
}

/// Adds the lints as findings, the Dockerfile line to every finding whose
/// history entry maps to an instruction, and notes where image and
/// Dockerfile disagree. Returns, per history entry, the line and
/// instruction that wrote it.
pub fn apply(
    d: &DockerfileInput,
    config: &ImageConfig,
    rules: &RuleSet,
    findings: &mut Vec<Finding>,
    notes: &mut Vec<String>,
) -> Vec<Option<(usize, String)>> {
    let history: Vec<String> = config
        .history
        .iter()
        .map(|h| h.created_by.clone().unwrap_or_default())
        .collect();
    let (mapped, missing) = map_history(&d.parsed, &history);
    let lines: Vec<Option<(usize, String)>> = mapped
        .iter()
        .map(|m| m.map(|i| (i.line, shown(rules, &i.original))))
        .collect();
    for f in findings.iter_mut() {
        if let Some((line, instr)) = f
            .history_index
            .and_then(|h| lines.get(h).cloned().flatten())
        {
            f.dockerfile_line = Some(line);
            f.instruction = Some(instr);
            f.message = format!("{}; introduced by {}:{line}", f.message, d.path);
        }
    }
    if mapped.iter().all(Option::is_none) {
        notes.push(format!(
            "no history entry of this image matches {}'s final stage: it was not built from it",
            d.path
        ));
    } else {
        for i in missing {
            notes.push(format!(
                "{}:{}: `{}` has no history entry in this image: the image does not match the Dockerfile",
                d.path,
                i.line,
                shown(rules, &i.original)
            ));
        }
    }
    for l in lint(&d.parsed, &d.lint) {
        let severity: Severity = l.severity.parse().unwrap_or(Severity::Info);
        let instruction = d
            .parsed
            .stages
            .iter()
            .flat_map(|s| s.instructions.iter())
            .find(|i| i.line <= l.line && l.line <= i.end_line)
            .map(|i| shown(rules, &i.original));
        findings.push(Finding {
            path: Some(d.path.clone()),
            dockerfile_line: Some(l.line),
            instruction,
            line: Some(l.line as u64),
            ..Finding::new(
                l.rule,
                "dockerfile",
                severity,
                l.rule.trim_start_matches("dockerfile.").replace('-', " "),
                Where::Dockerfile,
                shown_message(rules, &l.message),
                l.remediation,
            )
        });
    }
    lines
}

/// A lint message with anything secret-shaped masked (lints quote lines).
fn shown_message(rules: &RuleSet, text: &str) -> String {
    let mut matches = Vec::new();
    rules.scan(text.as_bytes(), None, &mut matches);
    let ranges: Vec<_> = matches.iter().map(|m| m.secret.clone()).collect();
    mask(text.as_bytes(), &ranges, &[])
}
