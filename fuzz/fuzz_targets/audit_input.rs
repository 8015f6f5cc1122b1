//! Shared by the targets that run the whole audit (`archive`, `layout`): the
//! built-in rules, loaded once, and the audit options.

use std::sync::OnceLock;
use stowaway::audit::Options;
use stowaway::limits::Limits;
use stowaway::rules::RuleSet;

pub fn rules() -> &'static RuleSet {
    static R: OnceLock<RuleSet> = OnceLock::new();
    R.get_or_init(|| RuleSet::load(&[]).expect("built-in rules"))
}

/// The CLI's defaults, but limits low enough that decompression bombs end in
/// milliseconds instead of timing out the fuzzer (the limit code is the same).
pub fn options() -> Options {
    Options {
        limits: Limits {
            layer_bytes: 64 << 20,
            image_bytes: 128 << 20,
            entries: 100_000,
            path_length: 4096,
        },
        ..Options::default()
    }
}
