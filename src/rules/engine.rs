use super::model::{RuleDef, RuleFile, RuleKind};
use super::prefilter::Prefilter;
use super::reach::{reach, Reach};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use regex_automata::meta;
use regex_automata::util::captures::Captures;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input};
use regex_syntax::hir::Hir;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::ops::Range;
use std::sync::OnceLock;

/// A compiled rule.
pub struct Rule {
    pub def: RuleDef,
    pattern: Option<Pattern>,
    /// Where around a keyword hit the pattern can match (when bounded): it
    /// runs only in these windows.
    reach: Option<Reach>,
    path: Option<Regex>,
    name: Option<Regex>,
    allow: Vec<Regex>,
}

/// A rule's pattern, parsed when the rules load. Its regex is built then
/// for rules from `--rules` files, so that their errors come before any
/// image is read, and on first use for the built-in rules, whose patterns
/// the tests build: the five PEM, OpenSSH and PGP patterns (`{0,12000}`)
/// take 4.5-6.5 ms each, and an image without their keywords never needs
/// them.
struct Pattern {
    hir: Hir,
    built: OnceLock<Built>,
}

struct Built {
    regex: meta::Regex,
    secret_group: Option<usize>,
}

impl Pattern {
    fn build(&self) -> Result<Built> {
        let regex = meta::Builder::new()
            .configure(
                meta::Config::new()
                    .utf8_empty(false)
                    .nfa_size_limit(Some(32 << 20)),
            )
            .build_from_hir(&self.hir)?;
        let secret_group = regex
            .group_info()
            .to_index(regex_automata::PatternID::ZERO, "secret");
        Ok(Built {
            regex,
            secret_group,
        })
    }

    fn built(&self) -> &Built {
        self.built
            .get_or_init(|| self.build().expect("the built-in patterns build (tested)"))
    }
}

/// A rule's regex search cache and capture slots.
type Engine = (meta::Cache, Captures);

/// Buffers [`RuleSet::scan_with`] reuses from one call to the next.
#[derive(Default)]
pub struct Scratch {
    /// Anchored search starts: (rule, offset).
    starts: Vec<(usize, usize)>,
    /// Search windows: (rule, range).
    windows: Vec<(usize, Range<usize>)>,
    /// Rules to search over the whole buffer.
    whole: Vec<bool>,
    /// Per rule, once used.
    engines: Vec<Option<Engine>>,
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
    /// For each prefilter keyword, the secret rules it enables, with its
    /// index among each rule's own keywords.
    keyword_rules: Vec<Vec<(usize, usize)>>,
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

/// A `pattern` regex (over bytes, case-sensitive), built now when `eager`,
/// and its reach around `keywords`.
fn compile_pattern(
    id: &str,
    pattern: &str,
    keywords: &[String],
    eager: bool,
) -> Result<(Pattern, Option<Reach>)> {
    let context = || format!("rule {id}: invalid pattern regex");
    let hir = syntax::parse_with(pattern, &syntax::Config::new().unicode(false).utf8(false))
        .with_context(context)?;
    let keywords: Vec<Vec<u8>> = keywords
        .iter()
        .map(|k| k.as_bytes().to_ascii_lowercase())
        .collect();
    let reach = reach(&hir, &keywords);
    let pattern = Pattern {
        hir,
        built: OnceLock::new(),
    };
    if eager {
        let built = pattern.build().with_context(context)?;
        let _ = pattern.built.set(built);
    }
    Ok((pattern, reach))
}

impl Rule {
    /// Checks and compiles `def`; `built_in` rules build their pattern
    /// regex on first use (see [`Pattern`]).
    fn compile(def: RuleDef, built_in: bool) -> Result<Rule> {
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
        let (pattern, reach) = match def.pattern.as_deref() {
            Some(p) => {
                let (pattern, reach) = compile_pattern(&id, p, &def.keywords, !built_in)?;
                (Some(pattern), reach)
            }
            None => (None, None),
        };
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
            pattern,
            reach,
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

    /// The rule's pattern regex, built if it was not yet.
    fn built(&self) -> &Built {
        self.pattern
            .as_ref()
            .expect("secret rules have a pattern")
            .built()
    }

    /// A search cache and capture slots for this rule's regex.
    fn engine(&self) -> Engine {
        let re = &self.built().regex;
        (re.create_cache(), re.create_captures())
    }

    /// Finds the first match of this (secret) rule, number `index`, in
    /// `input` (look-around sees past the range's ends), appends it when its
    /// secret passes the entropy floor and allow-list, and returns its end.
    fn search(
        &self,
        index: usize,
        (cache, caps): &mut Engine,
        input: Input,
        out: &mut Vec<ContentMatch>,
    ) -> Option<usize> {
        let built = self.built();
        built.regex.search_captures_with(cache, &input, caps);
        let whole = caps.get_match()?;
        if let Some(secret) = caps.get_group(built.secret_group.unwrap_or(0)) {
            if self.accepts(&input.haystack()[secret.range()]) {
                out.push(ContentMatch {
                    rule: index,
                    span: whole.range(),
                    secret: secret.range(),
                });
            }
        }
        Some(whole.end())
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
        let built_in = sources.len();
        for p in extra {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("{}: cannot read rule file", p.display()))?;
            sources.push((p.display().to_string(), text));
        }
        let set = RuleSet::from_sources(&sources, built_in, only)?;
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

    /// Rules from rule files as (name, text), the first `built_in` of them
    /// the built-in ones.
    pub fn from_sources(
        sources: &[(String, String)],
        built_in: usize,
        only: Option<&[String]>,
    ) -> Result<RuleSet> {
        let mut defs: Vec<(&str, bool, RuleDef)> = Vec::new();
        let mut hasher = Sha256::new();
        let mut seen = HashSet::new();
        for (i, (name, text)) in sources.iter().enumerate() {
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
                defs.push((name, i < built_in, def));
            }
        }
        // Both cores parse the patterns and build the extra rules' regexes
        // (see `Pattern`). The first error in file order is the one
        // reported.
        let compiled: Vec<Result<Rule>> = defs
            .into_par_iter()
            .with_max_len(1)
            .map(|(name, built_in, def)| {
                Rule::compile(def, built_in).with_context(|| name.to_string())
            })
            .collect();
        let rules: Vec<Rule> = compiled.into_iter().collect::<Result<_>>()?;
        let mut keywords: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<(usize, usize)>> = Vec::new();
        let of_kind = |k: RuleKind| -> Vec<usize> {
            (0..rules.len())
                .filter(|&i| rules[i].def.kind == k)
                .collect()
        };
        for i in of_kind(RuleKind::Secret) {
            for (local, kw) in rules[i].def.keywords.iter().enumerate() {
                let kw = kw.to_ascii_lowercase();
                match keywords.iter().position(|k| *k == kw) {
                    Some(p) => keyword_rules[p].push((i, local)),
                    None => {
                        keywords.push(kw);
                        keyword_rules.push(vec![(i, local)]);
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
        self.scan_with(&mut Scratch::default(), data, path, out);
    }

    /// [`RuleSet::scan`] reusing `scratch` (one per thread). A rule's regex
    /// runs only around the hits of its keywords (see [`Reach`]): anchored
    /// where its matches can start, or in windows, or over all of `data`
    /// when its matches are unbounded.
    pub fn scan_with(
        &self,
        scratch: &mut Scratch,
        data: &[u8],
        path: Option<&str>,
        out: &mut Vec<ContentMatch>,
    ) {
        if self.keyword_rules.is_empty() {
            return;
        }
        let first = out.len();
        let Scratch {
            starts,
            windows,
            whole,
            engines,
        } = scratch;
        starts.clear();
        windows.clear();
        whole.clear();
        whole.resize(self.rules.len(), false);
        engines.resize_with(self.rules.len(), || None);
        self.prefilter.find(data, |k, at| {
            for &(r, local) in &self.keyword_rules[k] {
                match &self.rules[r].reach {
                    None => whole[r] = true,
                    Some(Reach {
                        starts: Some(leads),
                        ..
                    }) => starts.extend(leads[local].starts(data, &at).map(|s| (r, s))),
                    Some(reach) => windows.push((
                        r,
                        at.start.saturating_sub(reach.before)
                            ..data.len().min(at.start + reach.after),
                    )),
                }
            }
        });
        starts.sort_unstable();
        starts.dedup();
        // A rule's path restriction is a regex: checked once per rule (both
        // lists below are in rule order), not once per candidate.
        let mut applies: Option<(usize, bool)> = None;
        let mut applies_to = |r: usize| match applies {
            Some((last, yes)) if last == r => yes,
            _ => {
                let yes = self.rules[r].applies_to(path);
                applies = Some((r, yes));
                yes
            }
        };
        // Like an unanchored search: the leftmost match first, and none
        // starting inside the previous one.
        let mut last: Option<(usize, usize)> = None;
        for &(r, start) in starts.iter() {
            if last.is_some_and(|(lr, end)| lr == r && start < end) {
                continue;
            }
            let rule = &self.rules[r];
            if applies_to(r) {
                let engine = engines[r].get_or_insert_with(|| rule.engine());
                let end = rule
                    .reach
                    .as_ref()
                    .map_or(data.len(), |reach| data.len().min(start + reach.after));
                let input = Input::new(data).range(start..end).anchored(Anchored::Yes);
                if let Some(end) = rule.search(r, engine, input, out) {
                    last = Some((r, end));
                }
            }
        }
        windows.extend(
            (0..self.rules.len())
                .filter(|&r| whole[r])
                .map(|r| (r, 0..data.len())),
        );
        windows.sort_unstable_by_key(|(r, w)| (*r, w.start));
        let mut i = 0;
        while i < windows.len() {
            let (r, mut window) = windows[i].clone();
            i += 1;
            // Overlapping or touching windows of one rule are searched as one.
            while i < windows.len() && windows[i].0 == r && windows[i].1.start <= window.end {
                window.end = window.end.max(windows[i].1.end);
                i += 1;
            }
            let rule = &self.rules[r];
            if applies_to(r) {
                let engine = engines[r].get_or_insert_with(|| rule.engine());
                let mut input = Input::new(data).range(window);
                while let Some(end) = rule.search(r, engine, input.clone(), out) {
                    // An empty match moves the search on by one byte.
                    let next = if end == input.start() { end + 1 } else { end };
                    if next > input.end() {
                        break;
                    }
                    input.set_start(next);
                }
            }
        }
        // In rule order, then by place, as a whole-buffer search would give.
        out[first..].sort_by_key(|m| (m.rule, m.span.start));
    }

    fn first_path_match(&self, set: &RegexSet, idx: &[usize], path: &str) -> Option<usize> {
        // Most paths match nothing, and telling so is cheaper than
        // listing the matches.
        if !set.is_match(path.as_bytes()) {
            return None;
        }
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
                && r.pattern
                    .as_ref()
                    .is_none_or(|p| p.built().regex.is_match(value.as_bytes()))
                && r.accepts(value.as_bytes())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_patterns_build_on_first_use_and_all_build() {
        let set = RuleSet::load(&[]).unwrap();
        for r in set.rules() {
            if let Some(p) = &r.pattern {
                assert!(p.built.get().is_none(), "{}: built at load", r.def.id);
                p.build().unwrap_or_else(|e| panic!("{}: {e}", r.def.id));
            }
        }
    }

    #[test]
    fn extra_rules_build_at_load_so_their_errors_come_first() {
        let rule = |pattern: &str| {
            format!(
                "[[rule]]\nid = \"big\"\nname = \"n\"\nkind = \"secret\"\n\
                 severity = \"high\"\ndescription = \"d\"\nremediation = \"r\"\n\
                 keywords = [\"big\"]\npattern = '{pattern}'\n\
                 examples = []\nnegative_examples = []\n"
            )
        };
        let ok =
            RuleSet::from_sources(&[("extra.toml".into(), rule("big[0-9]{8}"))], 0, None).unwrap();
        assert!(ok.rules()[0]
            .pattern
            .as_ref()
            .unwrap()
            .built
            .get()
            .is_some());
        // Parses, but its automaton is over the size limit.
        let err = RuleSet::from_sources(
            &[("extra.toml".into(), rule("big(?:[a-z]{1000}){1000}"))],
            0,
            None,
        )
        .err()
        .expect("too big to build");
        let msg = format!("{err:#}");
        assert!(
            msg.contains("extra.toml") && msg.contains("rule big: invalid pattern regex"),
            "{msg}"
        );
    }

    #[test]
    fn every_builtin_secret_rule_is_searched_in_windows() {
        let set = RuleSet::load(&[]).unwrap();
        let unbounded: Vec<&str> = set
            .rules()
            .iter()
            .filter(|r| r.def.kind == RuleKind::Secret && r.reach.is_none())
            .map(|r| r.def.id.as_str())
            .collect();
        assert!(unbounded.is_empty(), "unbounded matches: {unbounded:?}");
    }

    /// A match as (rule, whole match, secret).
    type Found = (usize, Range<usize>, Range<usize>);

    fn sorted(mut found: Vec<Found>) -> Vec<Found> {
        found.sort_by_key(|(i, w, s)| (*i, w.start, w.end, s.start));
        found
    }

    /// Every match of every secret rule that applies without a path, by
    /// searching the whole buffer with each rule's regex.
    fn whole_buffer(set: &RuleSet, data: &[u8]) -> Vec<Found> {
        let mut out = Vec::new();
        for (i, rule) in set.rules().iter().enumerate() {
            if rule.def.kind != RuleKind::Secret || !rule.applies_to(None) {
                continue;
            }
            let built = rule.built();
            for caps in built.regex.captures_iter(data) {
                let secret = caps.get_group(built.secret_group.unwrap_or(0)).unwrap();
                if rule.accepts(&data[secret.range()]) {
                    out.push((i, caps.get_match().unwrap().range(), secret.range()));
                }
            }
        }
        sorted(out)
    }

    #[test]
    fn anchored_and_windowed_searches_find_what_a_whole_buffer_search_finds() {
        let set = RuleSet::load(&[]).unwrap();
        let texts: Vec<&str> = set
            .rules()
            .iter()
            .flat_map(|r| r.def.examples.iter().chain(&r.def.negative_examples))
            .map(String::as_str)
            .collect();
        let mut scratch = Scratch::default();
        for sep in ["\n", " ", "", "\0", "\n\x01 token=", "PASSWORD:"] {
            // Twice, so the scratch buffers are reused.
            let data = [texts.join(sep), texts.join(sep)].join("\n").into_bytes();
            let mut got = Vec::new();
            set.scan_with(&mut scratch, &data, None, &mut got);
            let got = sorted(
                got.into_iter()
                    .map(|m| (m.rule, m.span, m.secret))
                    .collect(),
            );
            let want = whole_buffer(&set, &data);
            assert!(
                want.len() > 40,
                "{} matches: too few to compare",
                want.len()
            );
            assert_eq!(got, want, "separator {sep:?}");
        }
    }
}
