//! Runs every rule's `examples` and `negative_examples` through the real
//! matching path (prefilter included), so a rule cannot silently stop matching.

use super::engine::RuleSet;
use super::model::RuleKind;

#[derive(Debug)]
pub struct ExampleFailure {
    pub rule: String,
    pub example: String,
    pub expected_match: bool,
}

impl std::fmt::Display for ExampleFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.expected_match {
            "example does not match"
        } else {
            "negative example matches"
        };
        let shown: String = self.example.chars().take(80).collect();
        write!(f, "{}: {what}: {:?}", self.rule, shown)
    }
}

fn fires(rules: &RuleSet, i: usize, example: &str) -> bool {
    let rule = rules.rule(i);
    match rule.def.kind {
        RuleKind::Secret => {
            let mut out = Vec::new();
            rules.scan(
                example.as_bytes(),
                rule.def.example_path.as_deref(),
                &mut out,
            );
            out.iter().any(|m| m.rule == i)
        }
        RuleKind::SecretPath => rules.path_rule(example) == Some(i),
        RuleKind::Residue => rules.residue_rule(example) == Some(i),
        RuleKind::Config => {
            let (name, value) = example.split_once('=').unwrap_or((example, ""));
            rules.config_rule(name, value) == Some(i)
        }
    }
}

/// Every example that does not behave as its rule says.
pub fn check_examples(rules: &RuleSet) -> Vec<ExampleFailure> {
    let mut failures = Vec::new();
    for (i, rule) in rules.rules().iter().enumerate() {
        let d = &rule.def;
        if d.examples.is_empty() || d.negative_examples.is_empty() {
            failures.push(ExampleFailure {
                rule: d.id.clone(),
                example: "(every rule needs examples and negative_examples)".into(),
                expected_match: true,
            });
        }
        if d.kind == RuleKind::Secret && d.path.is_some() && d.example_path.is_none() {
            failures.push(ExampleFailure {
                rule: d.id.clone(),
                example: "(a path-restricted rule needs example_path)".into(),
                expected_match: true,
            });
        }
        for (list, expected) in [(&d.examples, true), (&d.negative_examples, false)] {
            for ex in list {
                if fires(rules, i, ex) != expected {
                    failures.push(ExampleFailure {
                        rule: d.id.clone(),
                        example: ex.clone(),
                        expected_match: expected,
                    });
                }
            }
        }
    }
    failures
}
