//! Secrets in the image config: ENV, labels, entrypoint/cmd and the history
//! (`created_by` keeps build args: `RUN |1 API_KEY=... /bin/sh -c ...`).

use crate::dedupe::{record, SecretHit, Seen};
use crate::image::spec::ImageConfig;
use crate::redact::{fingerprint, mask, redact};
use crate::rules::{RuleSet, Scratch};
use std::ops::Range;

#[derive(Debug, Clone)]
pub struct ConfigHit {
    pub rule: usize,
    pub field: &'static str,
    pub key: Option<String>,
    pub history_index: Option<usize>,
    pub redacted: String,
    pub fingerprint: String,
    pub occurrences: u32,
}

impl SecretHit for ConfigHit {
    fn rule(&self) -> usize {
        self.rule
    }
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
    fn bump(&mut self) {
        self.occurrences += 1;
    }
}

pub struct ConfigScan {
    pub hits: Vec<ConfigHit>,
    /// Every history `created_by`, with the secrets found in it masked.
    pub history: Vec<String>,
}

/// A match in one config value: (rule, match span, secret range, variable name).
type Found = (usize, Range<usize>, Range<usize>, Option<String>);

struct Item {
    field: &'static str,
    key: Option<String>,
    history_index: Option<usize>,
    text: String,
    /// (name, value range in `text`) pairs to test with the config rules.
    pairs: Vec<(String, Range<usize>)>,
}

/// `NAME=value` tokens of a history line: build args of `RUN |N a=b ...`
/// and the arguments of `ENV`, `ARG` and `LABEL`.
fn history_pairs(line: &str) -> Vec<(String, Range<usize>)> {
    let trimmed = line.trim_start();
    let mut at = line.len() - trimmed.len();
    let mut rest = trimmed;
    for prefix in ["/bin/sh -c #(nop)", "RUN"] {
        if let Some(r) = rest.strip_prefix(prefix) {
            let r2 = r.trim_start();
            at += rest.len() - r2.len();
            rest = r2;
        }
    }
    let count = if let Some(r) = rest.strip_prefix('|') {
        let digits: String = r.chars().take_while(|c| c.is_ascii_digit()).collect();
        let Ok(n) = digits.parse::<usize>() else {
            return vec![];
        };
        at += 1 + digits.len();
        rest = &rest[1 + digits.len()..];
        n
    } else if let Some(kw) = ["ENV ", "ARG ", "LABEL "]
        .iter()
        .find(|kw| rest.starts_with(**kw))
    {
        at += kw.len();
        rest = &rest[kw.len()..];
        usize::MAX
    } else {
        return vec![];
    };
    let mut pairs = Vec::new();
    let mut pos = at;
    for token in rest.split(' ') {
        let start = pos;
        pos += token.len() + 1;
        if token.is_empty() {
            continue;
        }
        if pairs.len() >= count {
            break;
        }
        let Some((name, value)) = token.split_once('=') else {
            if count != usize::MAX {
                break;
            }
            continue;
        };
        let vstart = start + name.len() + 1;
        let value = value.trim_matches('"');
        let q =
            token[name.len() + 1..].len() - token[name.len() + 1..].trim_start_matches('"').len();
        pairs.push((name.to_string(), vstart + q..vstart + q + value.len()));
    }
    pairs
}

fn kv_item(field: &'static str, text: &str) -> Item {
    let (name, _) = text.split_once('=').unwrap_or((text, ""));
    let pairs = if text.contains('=') {
        vec![(name.to_string(), name.len() + 1..text.len())]
    } else {
        vec![]
    };
    Item {
        field,
        key: Some(name.to_string()),
        history_index: None,
        text: text.to_string(),
        pairs,
    }
}

/// `--flag=value` arguments of an entrypoint or command.
fn arg_item(field: &'static str, args: &[String]) -> Item {
    let text = args.join(" ");
    let mut pairs = Vec::new();
    let mut pos = 0;
    for a in args {
        if let Some((name, _)) = a.split_once('=') {
            if name.starts_with('-') {
                pairs.push((
                    name.trim_start_matches('-').to_string(),
                    pos + name.len() + 1..pos + a.len(),
                ));
            }
        }
        pos += a.len() + 1;
    }
    Item {
        field,
        key: None,
        history_index: None,
        text,
        pairs,
    }
}

pub fn scan_config(rules: &RuleSet, cfg: &ImageConfig) -> ConfigScan {
    let c = &cfg.config;
    let mut items: Vec<Item> = Vec::new();
    items.extend(c.env.iter().map(|e| kv_item("env", e)));
    items.extend(
        c.labels
            .iter()
            .map(|(k, v)| kv_item("label", &format!("{k}={v}"))),
    );
    items.push(arg_item("entrypoint", &c.entrypoint));
    items.push(arg_item("cmd", &c.cmd));
    for (i, h) in cfg.history.iter().enumerate() {
        let text = h.created_by.clone().unwrap_or_default();
        items.push(Item {
            field: "history",
            key: None,
            history_index: Some(i),
            pairs: history_pairs(&text),
            text,
        });
    }
    let mut hits: Vec<ConfigHit> = Vec::new();
    let mut seen = Seen::new();
    let mut history = Vec::new();
    let mut matches = Vec::new();
    let mut scratch = Scratch::default();
    for item in &items {
        let bytes = item.text.as_bytes();
        let mut secret_ranges: Vec<Range<usize>> = Vec::new();
        let mut found: Vec<Found> = Vec::new();
        matches.clear();
        rules.scan_with(&mut scratch, bytes, None, &mut matches);
        for m in &matches {
            found.push((m.rule, m.span.clone(), m.secret.clone(), None));
        }
        for (name, range) in &item.pairs {
            if let Some(rule) = rules.config_rule(name, &item.text[range.clone()]) {
                let span = range.start - name.len() - 1..range.end;
                found.push((rule, span, range.clone(), Some(name.clone())));
            }
        }
        for (rule, span, secret, key) in found {
            secret_ranges.push(secret.clone());
            let keywords = &rules.rule(rule).def.keywords;
            let local = secret.start - span.start..secret.end - span.start;
            let hit = ConfigHit {
                rule,
                field: item.field,
                key: key.or_else(|| item.key.clone()),
                history_index: item.history_index,
                redacted: redact(&bytes[span.clone()], local, keywords),
                fingerprint: fingerprint(&bytes[secret]),
                occurrences: 1,
            };
            record(rules, &mut hits, &mut seen, hit);
        }
        if item.field == "history" {
            history.push(mask(bytes, &secret_ranges, &[]));
        }
    }
    ConfigScan { hits, history }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(line: &str) -> Vec<(String, String)> {
        history_pairs(line)
            .into_iter()
            .map(|(n, r)| (n, line[r].to_string()))
            .collect()
    }

    #[test]
    fn buildkit_build_args() {
        assert_eq!(
            values("RUN |2 API_KEY=abc123 MODE=prod /bin/sh -c make # buildkit"),
            vec![
                ("API_KEY".into(), "abc123".into()),
                ("MODE".into(), "prod".into())
            ]
        );
    }

    #[test]
    fn classic_env_and_arg() {
        assert_eq!(
            values("/bin/sh -c #(nop)  ENV SOME_SECRET=xyz"),
            vec![("SOME_SECRET".into(), "xyz".into())]
        );
        assert_eq!(
            values("|1 TOKEN=t0k /bin/sh -c echo"),
            vec![("TOKEN".into(), "t0k".into())]
        );
        assert_eq!(values("ARG TOKEN"), vec![]);
        assert_eq!(values("/bin/sh -c echo a=b"), vec![]);
    }
}
