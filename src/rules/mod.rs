//! Rules are data: TOML files under `signatures/` embedded in the binary,
//! extendable with `--rules FILE`. Matching is two-stage: an Aho-Corasick
//! literal prefilter (Teddy) picks candidate rules, then each candidate's regex runs.

mod buckets;
mod check;
mod engine;
mod model;
mod nibble;
mod prefilter;
mod rarity;
mod reach;

pub use check::{check_examples, ExampleFailure};
pub use engine::{entropy, ContentMatch, Rule, RuleSet, Scratch};
pub use model::{RuleDef, RuleKind};

// The built-in rule files (`signatures/*.toml`), deflated at build time.
include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// The built-in rule files as (name, text).
pub fn builtin_sources() -> Vec<(String, String)> {
    BUILTIN
        .iter()
        .map(|(name, packed)| {
            let mut text = String::new();
            std::io::Read::read_to_string(
                &mut flate2::read::DeflateDecoder::new(*packed),
                &mut text,
            )
            .expect("built-in rules inflate");
            (format!("builtin:{name}"), text)
        })
        .collect()
}
