//! Markdown for a GitHub job summary or pull-request comment
//! (`--format markdown`): per image a verdict, counts by severity, the
//! findings, the policy checks and how to fix them. Tables stop at
//! [`MAX_ROWS`] rows, and the whole text stays under GitHub's comment limit.

use super::model::{Finding, ImageReport, PolicyResult, Report, Where};
use crate::severity::Severity;
use std::fmt::Write;

/// Rows shown per table before "… and N more".
const MAX_ROWS: usize = 200;
/// GitHub's limit on a comment body, in characters.
const GITHUB_LIMIT: usize = 65_535;
/// Tables stop adding rows once the text reaches this many bytes, leaving
/// room under [`GITHUB_LIMIT`] for the rest of the report.
const TABLE_BUDGET: usize = 55_000;
/// Longest cell text (in characters) before it is cut with "…".
const MAX_CELL: usize = 200;
/// Policy details shown per check.
const MAX_DETAILS: usize = 5;

/// Renders the report as GitHub-flavoured Markdown.
pub fn render_markdown(report: &Report) -> String {
    let mut out = String::from("## stowaway image audit\n\n");
    overview(&mut out, report);
    for img in &report.images {
        image(&mut out, img, report.tool.fail_on);
    }
    let _ = writeln!(
        out,
        "\n<sub>stowaway {} · fail-on {} · secrets are redacted; fingerprints are truncated SHA-256.</sub>",
        report.tool.version, report.tool.fail_on
    );
    fit(out)
}

/// The one-line verdict for the whole report.
fn overview(out: &mut String, report: &Report) {
    let failed = report
        .images
        .iter()
        .filter(|i| i.summary.verdict != "pass")
        .count();
    let total = report.images.len();
    let _ = if failed == 0 {
        writeln!(out, "✅ **{total} of {total} image(s) pass**")
    } else {
        writeln!(out, "❌ **{failed} of {total} image(s) fail**")
    };
}

/// One image: heading, verdict, counts, findings, policy, how to fix.
fn image(out: &mut String, img: &ImageReport, fail_on: Severity) {
    let s = &img.summary;
    let badge = if s.verdict == "pass" {
        "✅ pass"
    } else {
        "❌ fail"
    };
    let _ = writeln!(out, "\n### {}\n", text(&img.display_name()));
    let _ = writeln!(
        out,
        "**{badge}** — {} finding(s), {} at or above `{fail_on}`; {} policy check(s) failed.  ",
        s.findings, s.failing, s.policy_failures
    );
    let _ = writeln!(
        out,
        "{} · {} · {} · {} layer(s) · {} bytes uncompressed\n",
        code(&img.source),
        img.format,
        img.platform,
        s.layers,
        s.size
    );
    for n in &img.notes {
        let _ = writeln!(out, "> {}\n", text(n));
    }
    severity_table(out, img);
    if !img.findings.is_empty() {
        out.push_str("\n#### Findings\n\n");
        let rows: Vec<Vec<String>> = img.findings.iter().map(finding_row).collect();
        table(out, &["Severity", "Rule", "Where", "Match"], &rows);
    }
    if !img.known_secrets.is_empty() {
        out.push_str("\n#### Known secrets\n\n");
        for k in &img.known_secrets {
            let mark = if k.found == 0 { "✅" } else { "❌" };
            let _ = writeln!(
                out,
                "- {mark} {} (searched {})",
                text(&k.message),
                text(&k.searched)
            );
        }
    }
    if !img.suppressed.is_empty() {
        let _ = writeln!(out, "\n#### Suppressed ({})\n", img.suppressed.len());
        let rows: Vec<Vec<String>> = img
            .suppressed
            .iter()
            .map(|f| {
                let mut row = finding_row(f);
                row[3] = text(f.suppressed.as_deref().unwrap_or(""));
                row
            })
            .collect();
        table(out, &["Severity", "Rule", "Where", "Why"], &rows);
    }
    if !img.policy.is_empty() {
        out.push_str("\n#### Policy\n\n");
        let rows: Vec<Vec<String>> = img.policy.iter().map(policy_row).collect();
        table(
            out,
            &["Check", "Status", "Measured", "Limit", "Message"],
            &rows,
        );
    }
    how_to_fix(out, &img.findings);
}

/// Counts by severity, worst first, zeros included.
fn severity_table(out: &mut String, img: &ImageReport) {
    let head: Vec<String> = Severity::ALL.iter().map(|s| badge(*s)).collect();
    let counts: Vec<String> = Severity::ALL
        .iter()
        .map(|s| img.summary.by_severity.get(s).unwrap_or(&0).to_string())
        .collect();
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(out, "|{}", ":---:|".repeat(head.len()));
    let _ = writeln!(out, "| {} |", counts.join(" | "));
}

/// A severity with a coloured marker.
fn badge(s: Severity) -> String {
    let dot = match s {
        Severity::Critical => "🔴",
        Severity::High => "🟠",
        Severity::Medium => "🟡",
        Severity::Low => "🔵",
        Severity::Info => "⚪",
    };
    format!("{dot} {s}")
}

/// Severity, rule, where and the redacted match (or what residue was found).
fn finding_row(f: &Finding) -> Vec<String> {
    let matched = match (&f.redacted, f.files) {
        (Some(r), _) => code(r),
        (None, Some(n)) => format!("{n} file(s), {} bytes", f.bytes.unwrap_or(0)),
        (None, None) => String::new(),
    };
    vec![badge(f.severity), code(&f.rule), place(f), matched]
}

/// `layer N` + path (+ line) + state, or `config` + field and key.
fn place(f: &Finding) -> String {
    match f.location {
        Where::Layer => {
            let mut s = format!(
                "layer {} {}",
                f.layer.map_or("?".to_string(), |l| l.to_string()),
                code(f.path.as_deref().unwrap_or_default())
            );
            if let Some(line) = f.line {
                let _ = write!(s, " line {line}");
            }
            if let Some(state) = f.state {
                let _ = write!(s, " ({})", state.as_str());
            }
            s
        }
        Where::Dockerfile => format!(
            "{} line {}",
            code(f.path.as_deref().unwrap_or("Dockerfile")),
            f.line.unwrap_or(0)
        ),
        Where::Config => {
            let mut s = format!("config {}", f.config_field.unwrap_or("?"));
            if let Some(key) = &f.config_key {
                let _ = write!(s, " {}", code(key));
            }
            if let Some(h) = f.history_index {
                let _ = write!(s, " (history #{h})");
            }
            s
        }
    }
}

/// Check, status, measured, limit, and the message with the details of a
/// check that did not pass.
fn policy_row(p: &PolicyResult) -> Vec<String> {
    let status = match p.status.as_str() {
        "pass" => "✅ pass",
        "fail" => "❌ fail",
        "warn" => "⚠️ warn",
        "skip" => "⏭️ skip",
        other => other,
    };
    vec![
        code(&p.check),
        status.to_string(),
        value(&p.measured),
        value(&p.limit),
        policy_message(p),
    ]
}

/// The message, then (unless the check passed or was skipped) its first
/// [`MAX_DETAILS`] details, one per line.
fn policy_message(p: &PolicyResult) -> String {
    let mut s = text(&shorten(&p.message));
    if p.status == "pass" || p.status == "skip" {
        return s;
    }
    for d in p.details.iter().take(MAX_DETAILS) {
        let _ = write!(s, "<br>• {}", text(&shorten(d)));
    }
    if p.details.len() > MAX_DETAILS {
        let _ = write!(s, "<br>… and {} more", p.details.len() - MAX_DETAILS);
    }
    s
}

/// A measured value or limit: strings as text, other JSON compact, null empty.
fn value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => text(&shorten(s)),
        other => code(&other.to_string()),
    }
}

/// Distinct remediations in order of first appearance, with their rules.
fn how_to_fix(out: &mut String, findings: &[Finding]) {
    let mut fixes: Vec<(&str, Vec<&str>)> = Vec::new();
    for f in findings {
        match fixes.iter_mut().find(|(r, _)| *r == f.remediation) {
            Some((_, rules)) if !rules.contains(&f.rule.as_str()) => rules.push(&f.rule),
            Some(_) => {}
            None => fixes.push((&f.remediation, vec![&f.rule])),
        }
    }
    if fixes.is_empty() {
        return;
    }
    out.push_str("\n#### How to fix\n\n");
    for (fix, rules) in fixes {
        let rules: Vec<String> = rules.iter().map(|r| code(r)).collect();
        let _ = writeln!(out, "- {}: {}", rules.join(", "), text(fix));
    }
}

/// A table of pre-rendered cells. Rows beyond [`MAX_ROWS`], or beyond the
/// text budget, are replaced by one "… and N more" row.
fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
    for (i, row) in rows.iter().enumerate() {
        let line = format!("| {} |\n", row.join(" | "));
        if i == MAX_ROWS || out.len() + line.len() > TABLE_BUDGET {
            let _ = writeln!(
                out,
                "| … and {} more |{}",
                rows.len() - i,
                " |".repeat(head.len() - 1)
            );
            return;
        }
        out.push_str(&line);
    }
}

/// Keeps the text under GitHub's limit: cuts at a line boundary and says so.
fn fit(mut out: String) -> String {
    const NOTE: &str = "\n… (truncated to fit GitHub's comment limit)\n";
    if out.chars().count() <= GITHUB_LIMIT {
        return out;
    }
    let mut cut = GITHUB_LIMIT - NOTE.len();
    while !out.is_char_boundary(cut) {
        cut -= 1;
    }
    out.truncate(out[..cut].rfind('\n').map_or(cut, |i| i + 1));
    out.push_str(NOTE);
    out
}

/// Shortens cell text to [`MAX_CELL`] characters with a trailing "…".
fn shorten(s: &str) -> String {
    match s.char_indices().nth(MAX_CELL) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Plain text for a table cell or list item: Markdown and HTML punctuation
/// backslash-escaped, `|` escaped, newlines as `<br>`.
fn text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\r' => {}
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

/// A code span for a cell, shortened: newlines shown as `\n`, `|` escaped
/// (GitHub unescapes it inside tables), and fenced with more backticks than
/// the text holds in a row.
fn code(s: &str) -> String {
    let body = shorten(s)
        .replace('\r', "")
        .replace('\n', "\\n")
        .replace('|', "\\|");
    let longest_run = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    if body.starts_with('`') || body.ends_with('`') {
        format!("{fence} {body} {fence}")
    } else {
        format!("{fence}{body}{fence}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_hold_backticks_pipes_and_newlines() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x``"), "``` `x`` ```");
        assert_eq!(code("a|b\nc"), "`a\\|b\\nc`");
    }

    #[test]
    fn text_escapes_markdown_and_html() {
        assert_eq!(text("a|b <img> *x*\r\nc"), "a\\|b \\<img\\> \\*x\\*<br>c");
    }

    #[test]
    fn long_cells_are_shortened() {
        let s = "é".repeat(MAX_CELL + 5);
        assert_eq!(shorten(&s).chars().count(), MAX_CELL + 1);
        assert!(shorten(&s).ends_with('…'));
    }

    #[test]
    fn tables_stop_at_the_row_limit() {
        let rows: Vec<Vec<String>> = (0..MAX_ROWS + 7)
            .map(|i| vec![i.to_string(), "x".into()])
            .collect();
        let mut out = String::new();
        table(&mut out, &["n", "x"], &rows);
        assert_eq!(out.lines().count(), 2 + MAX_ROWS + 1);
        assert!(out.ends_with("| … and 7 more | |\n"), "{out}");
    }

    #[test]
    fn long_reports_fit_github_comments() {
        let long = "line of text\n".repeat(10_000);
        let fitted = fit(long);
        assert!(fitted.chars().count() <= GITHUB_LIMIT);
        assert!(fitted.ends_with("comment limit)\n"));
    }
}
