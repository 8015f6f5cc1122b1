//! Rules are data: TOML files under `signatures/` embedded in the binary,
//! extendable with `--rules FILE`. Matching is two-stage: an Aho-Corasick
//! literal prefilter picks candidate rules, then each candidate's regex runs.

mod check;
mod engine;
mod model;

pub use check::{check_examples, ExampleFailure};
pub use engine::{entropy, ContentMatch, Rule, RuleSet};
pub use model::{RuleDef, RuleKind};

// The built-in rule files (`signatures/*.toml`), embedded at build time.
include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));
