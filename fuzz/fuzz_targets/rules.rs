//! The rule matcher (keyword prefilter, regexes, entropy, allow lists) on
//! arbitrary content, plus the path, residue and config-name rules. The first
//! line of the input is used as the file path for a second scan.
//!
//! Oracle: `RuleSet::scan` must give exactly what a brute-force matcher
//! gives: every secret rule whose keyword occurs anywhere in the buffer (ASCII
//! case-insensitive, found by a plain substring search instead of the Teddy
//! prefilter) and whose path restriction applies, its regex run over the
//! whole buffer, entropy floor and allow list applied, in rule order.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use regex::bytes::{Regex, RegexBuilder};
use std::ops::Range;
use std::sync::OnceLock;
use stowaway::rules::{entropy, RuleKind, RuleSet};

fn rules() -> &'static RuleSet {
    static R: OnceLock<RuleSet> = OnceLock::new();
    R.get_or_init(|| RuleSet::load(&[]).expect("built-in rules"))
}

/// A secret rule compiled the way the engine compiles it.
struct Reference {
    index: usize,
    keywords: Vec<Vec<u8>>,
    regex: Regex,
    group: Option<usize>,
    allow: Vec<Regex>,
    min_entropy: Option<f64>,
}

fn compile(p: &str) -> Regex {
    RegexBuilder::new(p)
        .unicode(false)
        .size_limit(32 << 20)
        .build()
        .expect("the engine compiled it")
}

fn reference() -> &'static [Reference] {
    static R: OnceLock<Vec<Reference>> = OnceLock::new();
    R.get_or_init(|| {
        let rules = rules();
        (0..rules.rules().len())
            .filter(|&i| rules.rule(i).def.kind == RuleKind::Secret)
            .map(|i| {
                let def = &rules.rule(i).def;
                let regex = compile(def.pattern.as_deref().expect("secret rules have one"));
                let group = regex.capture_names().position(|n| n == Some("secret"));
                Reference {
                    index: i,
                    keywords: def
                        .keywords
                        .iter()
                        .map(|k| k.as_bytes().to_ascii_lowercase())
                        .collect(),
                    regex,
                    group,
                    allow: def.allow.iter().map(|a| compile(a)).collect(),
                    min_entropy: def.min_entropy,
                }
            })
            .collect()
    })
}

type Match = (usize, Range<usize>, Range<usize>);

fn brute_force(data: &[u8], path: Option<&str>) -> Vec<Match> {
    let lower = data.to_ascii_lowercase();
    let mut out = Vec::new();
    for r in reference() {
        let present = r
            .keywords
            .iter()
            .any(|k| memchr::memmem::find(&lower, k).is_some());
        if !present || !rules().rule(r.index).applies_to(path) {
            continue;
        }
        let accepts = |s: &[u8]| {
            r.min_entropy.is_none_or(|min| entropy(s) >= min)
                && !r.allow.iter().any(|a| a.is_match(s))
        };
        for caps in r.regex.captures_iter(data) {
            let whole = caps.get(0).expect("group 0");
            let secret = match r.group {
                None => whole,
                Some(g) => match caps.get(g) {
                    Some(s) => s,
                    None => continue,
                },
            };
            if accepts(secret.as_bytes()) {
                out.push((r.index, whole.range(), secret.range()));
            }
        }
    }
    out
}

fn check(data: &[u8], path: Option<&str>) {
    let rules = rules();
    let mut out = Vec::new();
    rules.scan(data, path, &mut out);
    for m in &out {
        // Spans must lie inside the buffer, the secret inside the span.
        assert!(m.span.end <= data.len() && m.span.start <= m.span.end);
        assert!(m.secret.start >= m.span.start && m.secret.end <= m.span.end);
        let secret = &data[m.secret.clone()];
        let _ = stowaway::redact::redact(
            &data[m.span.clone()],
            m.secret.start - m.span.start..m.secret.end - m.span.start,
            &rules.rule(m.rule).def.keywords,
        );
        let _ = stowaway::redact::fingerprint(secret);
    }
    let got: Vec<Match> = out
        .into_iter()
        .map(|m| (m.rule, m.span, m.secret))
        .collect();
    assert_eq!(
        got,
        brute_force(data, path),
        "scan differs from the brute-force matcher"
    );
}

fuzz_target!(|data: &[u8]| {
    let rules = rules();
    check(data, None);
    let (first, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[..0]),
    };
    let path = String::from_utf8_lossy(first);
    check(rest, Some(&path));
    let _ = rules.path_rule(&path);
    let _ = rules.residue_rule(&path);
    if let Some((name, value)) = path.split_once('=') {
        let _ = rules.config_rule(name, value);
    }
});
