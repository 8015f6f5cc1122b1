//! The report for people: per image, the verdict first, then findings grouped
//! by layer (worst first), each with where, what and what to do.

use super::model::{Finding, ImageReport, Report, Where};
use std::fmt::Write;

fn short(d: &str) -> &str {
    let d = d.trim_start_matches("sha256:");
    &d[..d.len().min(12)]
}

fn finding(out: &mut String, f: &Finding) {
    let state = f
        .state
        .map(|s| format!(" [{}]", s.as_str()))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  {:<8} {}{}",
        f.severity.as_str().to_uppercase(),
        f.title,
        state
    );
    let at = match f.location {
        Where::Layer => {
            let mut s = f.path.clone().unwrap_or_default();
            if let Some(l) = f.line {
                let _ = write!(s, ":{l}");
            } else if let Some(o) = f.offset {
                let _ = write!(s, " @{o}");
            }
            s
        }
        Where::Dockerfile => format!(
            "{}:{}",
            f.path.as_deref().unwrap_or("Dockerfile"),
            f.line.unwrap_or(0)
        ),
        Where::Config => {
            let mut s = f.config_field.unwrap_or("").to_uppercase();
            if let Some(k) = &f.config_key {
                let _ = write!(s, " {k}");
            }
            if let Some(h) = f.history_index {
                let _ = write!(s, " #{h}");
            }
            s
        }
    };
    let _ = writeln!(out, "           at: {at}");
    if let (Some(line), Some(instr)) = (f.dockerfile_line, &f.instruction) {
        let what = if f.location == Where::Dockerfile {
            "line"
        } else {
            "from"
        };
        let _ = writeln!(out, "           {what}: {line}: {instr}");
    }
    if f.location == Where::Dockerfile {
        let _ = writeln!(out, "           why: {}", f.message);
    }
    if let Some(files) = f.files {
        let _ = writeln!(
            out,
            "           what: {files} file{}, {} bytes, e.g. {}",
            if files == 1 { "" } else { "s" },
            f.bytes.unwrap_or(0),
            f.sample_paths.join(", ")
        );
    }
    if let Some(r) = &f.redacted {
        let _ = writeln!(
            out,
            "           match: {r}  (fingerprint {}{})",
            f.fingerprint.as_deref().unwrap_or("-"),
            if f.occurrences > 1 {
                format!(", {} occurrences", f.occurrences)
            } else {
                String::new()
            }
        );
    }
    let _ = writeln!(out, "           rule: {}  fix: {}", f.rule, f.remediation);
}

fn image(out: &mut String, img: &ImageReport) {
    let s = &img.summary;
    let _ = writeln!(
        out,
        "{}  [{} {} · {} layers · {} files · {} bytes uncompressed]",
        img.display_name(),
        img.format,
        img.platform,
        s.layers,
        s.files,
        s.size
    );
    for n in &img.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    if img.findings.is_empty() {
        let _ = writeln!(out, "  no findings");
    }
    // Group by layer (in layer order), then config, then the Dockerfile;
    // findings are worst-first within a group.
    let mut groups: Vec<((u8, usize), Vec<&Finding>)> = Vec::new();
    for f in &img.findings {
        let key = match f.location {
            Where::Layer => (0, f.layer.unwrap_or(0)),
            Where::Config => (1, 0),
            Where::Dockerfile => (2, 0),
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(f),
            None => groups.push((key, vec![f])),
        }
    }
    groups.sort_by_key(|(k, _)| *k);
    for (key, fs) in groups {
        match key {
            (0, l) => {
                let info = &img.layers[l];
                let _ = writeln!(
                    out,
                    "\n layer {l} {} — {}",
                    short(&info.digest),
                    info.created_by.as_deref().unwrap_or("(no history)")
                );
            }
            (1, _) => {
                let _ = writeln!(out, "\n image config");
            }
            _ => {
                let _ = writeln!(out, "\n Dockerfile");
            }
        }
        for f in fs {
            finding(out, f);
        }
    }
    if img.format.starts_with("oci") || img.attestations.iter().any(|a| a != "none") {
        let _ = writeln!(out, "\n attestations: {}", img.attestations.join("; "));
    }
    if !img.known_secrets.is_empty() {
        let _ = writeln!(out, "\n known secrets");
        for k in &img.known_secrets {
            let verdict = if k.found == 0 { "ABSENT" } else { "FOUND" };
            let _ = writeln!(out, "  {verdict:<6} {}", k.message);
            let _ = writeln!(out, "         searched {}", k.searched);
        }
    }
    if !img.suppressed.is_empty() {
        let _ = writeln!(out, "\n suppressed ({})", img.suppressed.len());
        for f in &img.suppressed {
            let at = f
                .path
                .clone()
                .or_else(|| f.config_key.clone())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<8} {} {at}: {}",
                f.severity.as_str(),
                f.rule,
                f.suppressed.as_deref().unwrap_or("")
            );
        }
    }
    if !img.policy.is_empty() {
        let _ = writeln!(out, "\n policy");
        for p in &img.policy {
            let _ = writeln!(
                out,
                "  {:<5} {:<20} {}",
                p.status.to_uppercase(),
                p.check,
                p.message
            );
            for d in &p.details {
                let _ = writeln!(out, "        - {d}");
            }
        }
    }
    let by: Vec<String> = s
        .by_severity
        .iter()
        .rev()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    let _ = writeln!(
        out,
        "\n {}: {} findings{}{}{}",
        s.verdict.to_uppercase(),
        s.findings,
        if by.is_empty() {
            String::new()
        } else {
            format!(" ({})", by.join(", "))
        },
        match s.policy_failures {
            0 => String::new(),
            1 => ", 1 policy check failed".to_string(),
            n => format!(", {n} policy checks failed"),
        },
        match s.suppressed {
            0 => String::new(),
            n => format!(", {n} suppressed"),
        }
    );
}

pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    for (i, img) in report.images.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        image(&mut out, img);
    }
    let failing: usize = report.images.iter().map(|i| i.summary.failing).sum();
    let policy: usize = report
        .images
        .iter()
        .map(|i| i.summary.policy_failures)
        .sum();
    let _ = writeln!(
        out,
        "\n{} image(s) audited; {failing} finding(s) at or above {}; {policy} policy check(s) failed",
        report.images.len(),
        report.tool.fail_on
    );
    // Nothing from the image may drive the terminal: escape every control
    // character but the line breaks this renderer wrote.
    out.split('\n')
        .map(crate::redact::escape_controls)
        .collect::<Vec<_>>()
        .join("\n")
}
