use super::model::{RuleDef, RuleFile, RuleKind};
use super::prefilter::Prefilter;
use anyhow::{bail, Context, Result};
use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::ops::Range;

/// A compiled rule.
pub struct Rule {
    pub def: RuleDef,
    regex: Option<Regex>,
    secret_group: Option<usize>,
    path: Option<Regex>,
    name: Option<Regex>,
    allow: Vec<Regex>,
}

/// One content match: the whole match and the secret inside it, as byte
/// ranges of the scanned buffer.
#[derive(Debug, Clone)]
pub struct ContentMatch {
    pub rule: usize,
    pub span: Range<usize>,
    pub secret: Range<usize>,
}

pub struct RuleSet {
    rules: Vec<Rule>,
    prefilter: Prefilter,
    /// For each prefilter pattern, the secret rules it enables.
    keyword_rules: Vec<Vec<usize>>,
    path_rules: Vec<usize>,
    path_set: RegexSet,
    residue_rules: Vec<usize>,
    residue_set: RegexSet,
    config_rules: Vec<usize>,
    hash: String,
}

/// Shannon entropy in bits per byte.
pub fn entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let n = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

fn compile(what: &str, id: &str, pattern: &str, case_insensitive: bool) -> Result<Regex> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .case_insensitive(case_insensitive)
        .size_limit(32 << 20)
        .build()
        .with_context(|| format!("rule {id}: invalid {what} regex"))
}

impl Rule {
    fn compile(def: RuleDef) -> Result<Rule> {
        let id = def.id.clone();
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            bail!("rule {id:?}: ids are kebab-case (a-z, 0-9, '-', '.')");
        }
        let need = |field: &str, v: &Option<String>| -> Result<()> {
            if v.is_none() {
                bail!("rule {id}: a {} rule needs `{field}`", def.kind.as_str());
            }
            Ok(())
        };
        match def.kind {
            RuleKind::Secret => {
                need("pattern", &def.pattern)?;
                if def.keywords.is_empty() || def.keywords.iter().any(|k| k.is_empty()) {
                    bail!("rule {id}: a secret rule needs non-empty `keywords` (the prefilter)");
                }
            }
            RuleKind::SecretPath | RuleKind::Residue => need("path", &def.path)?,
            RuleKind::Config => need("name_pattern", &def.name_pattern)?,
        }
        let regex = def
            .pattern
            .as_deref()
            .map(|p| compile("pattern", &id, p, false))
            .transpose()?;
        let secret_group = regex
            .as_ref()
            .and_then(|r| r.capture_names().position(|n| n == Some("secret")));
        let path = def
            .path
            .as_deref()
            .map(|p| compile("path", &id, p, false))
            .transpose()?;
        let name = def
            .name_pattern
            .as_deref()
            .map(|p| compile("name_pattern", &id, p, true))
            .transpose()?;
        let allow = def
            .allow
            .iter()
            .map(|p| compile("allow", &id, p, false))
            .collect::<Result<_>>()?;
        Ok(Rule {
            def,
            regex,
            secret_group,
            path,
            name,
            allow,
        })
    }

    /// Whether `secret` passes the rule's entropy floor and allow-list.
    fn accepts(&self, secret: &[u8]) -> bool {
        if let Some(min) = self.def.min_entropy {
            if entropy(secret) < min {
                return false;
            }
        }
        !self.allow.iter().any(|a| a.is_match(secret))
    }

    /// Whether a path-restricted rule applies to this file.
    pub fn applies_to(&self, path: Option<&str>) -> bool {
        match (&self.path, path) {
            (None, _) => true,
            (Some(re), Some(p)) => re.is_match(p.as_bytes()),
            (Some(_), None) => false,
        }
    }
}

impl RuleSet {
    /// The built-in rules plus the given extra rule files.
    pub fn load(extra: &[std::path::PathBuf]) -> Result<RuleSet> {
        RuleSet::load_only(extra, None)
    }

    /// Like [`RuleSet::load`], keeping only the rules whose id is in `only`
    /// (benchmarks time one rule against all; an empty list keeps none).
    pub fn load_only(extra: &[std::path::PathBuf], only: Option<&[String]>) -> Result<RuleSet> {
        let mut sources: Vec<(String, String)> = super::builtin_sources();
        for p in extra {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("{}: cannot read rule file", p.display()))?;
            sources.push((p.display().to_string(), text));
        }
        let set = RuleSet::from_sources(&sources, only)?;
        if let Some(ids) = only {
            if let Some(missing) = ids
                .iter()
                .find(|id| !set.rules.iter().any(|r| &r.def.id == *id))
            {
                bail!("no rule with id {missing:?} (see `stowaway rules list`)");
            }
        }
        Ok(set)
    }

    pub fn from_sources(sources: &[(String, String)], only: Option<&[String]>) -> Result<RuleSet> {
        let mut rules: Vec<Rule> = Vec::new();
        let mut hasher = Sha256::new();
        let mut seen = HashSet::new();
        for (name, text) in sources {
            hasher.update(text.as_bytes());
            let file: RuleFile =
                toml::from_str(text).with_context(|| format!("{name}: invalid rule file"))?;
            for def in file.rule {
                if only.is_some_and(|ids| !ids.contains(&def.id)) {
                    continue;
                }
                if !seen.insert(def.id.clone()) {
                    bail!("{name}: rule {} is already defined", def.id);
                }
                rules.push(Rule::compile(def).with_context(|| name.clone())?);
            }
        }
        let mut keywords: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let of_kind = |k: RuleKind| -> Vec<usize> {
            (0..rules.len())
                .filter(|&i| rules[i].def.kind == k)
                .collect()
        };
        for i in of_kind(RuleKind::Secret) {
            for kw in &rules[i].def.keywords {
                let kw = kw.to_ascii_lowercase();
                match keywords.iter().position(|k| *k == kw) {
                    Some(p) => keyword_rules[p].push(i),
                    None => {
                        keywords.push(kw);
                        keyword_rules.push(vec![i]);
                    }
                }
            }
        }
        let prefilter = Prefilter::new(&keywords)?;
        let set = |idx: &[usize]| -> Result<RegexSet> {
            RegexSetBuilder::new(
                idx.iter()
                    .map(|&i| rules[i].def.path.clone().unwrap_or_default()),
            )
            .unicode(false)
            .build()
            .context("building path rule set")
        };
        let path_rules = of_kind(RuleKind::SecretPath);
        let residue_rules = of_kind(RuleKind::Residue);
        let config_rules = of_kind(RuleKind::Config);
        Ok(RuleSet {
            path_set: set(&path_rules)?,
            residue_set: set(&residue_rules)?,
            rules,
            prefilter,
            keyword_rules,
            path_rules,
            residue_rules,
            config_rules,
            hash: format!("sha256:{}", hex::encode(hasher.finalize())),
        })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn rule(&self, i: usize) -> &Rule {
        &self.rules[i]
    }

    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Runs the content rules over `data` (a file, or a chunk of one, at
    /// `path`; `None` for config values), appending matches to `out`.
    pub fn scan(&self, data: &[u8], path: Option<&str>, out: &mut Vec<ContentMatch>) {
        if self.keyword_rules.is_empty() {
            return;
        }
        let mut candidate = vec![false; self.rules.len()];
        let mut any = false;
        self.prefilter.find(data, |k| {
            for &r in &self.keyword_rules[k] {
                candidate[r] = true;
                any = true;
            }
        });
        if !any {
            return;
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if !candidate[i] || !rule.applies_to(path) {
                continue;
            }
            let re = rule.regex.as_ref().expect("secret rules have a pattern");
            match rule.secret_group {
                None => {
                    for m in re.find_iter(data) {
                        if rule.accepts(m.as_bytes()) {
                            out.push(ContentMatch {
                                rule: i,
                                span: m.range(),
                                secret: m.range(),
                            });
                        }
                    }
                }
                Some(g) => {
                    for caps in re.captures_iter(data) {
                        let whole = caps.get(0).expect("group 0");
                        let Some(secret) = caps.get(g) else { continue };
                        if rule.accepts(secret.as_bytes()) {
                            out.push(ContentMatch {
                                rule: i,
                                span: whole.range(),
                                secret: secret.range(),
                            });
                        }
                    }
                }
            }
        }
    }

    fn first_path_match(&self, set: &RegexSet, idx: &[usize], path: &str) -> Option<usize> {
        set.matches(path.as_bytes()).iter().next().map(|k| idx[k])
    }

    /// The `secret-path` rule a file's path matches, if any.
    pub fn path_rule(&self, path: &str) -> Option<usize> {
        self.first_path_match(&self.path_set, &self.path_rules, path)
    }

    /// The first `residue` rule (in file order) a path matches, if any.
    pub fn residue_rule(&self, path: &str) -> Option<usize> {
        self.first_path_match(&self.residue_set, &self.residue_rules, path)
    }

    /// The `config` rule a name/value pair trips, if any.
    pub fn config_rule(&self, name: &str, value: &str) -> Option<usize> {
        self.config_rules.iter().copied().find(|&i| {
            let r = &self.rules[i];
            r.name.as_ref().is_some_and(|n| n.is_match(name.as_bytes()))
                && r.regex
                    .as_ref()
                    .is_none_or(|p| p.is_match(value.as_bytes()))
                && r.accepts(value.as_bytes())
        })
    }
}
