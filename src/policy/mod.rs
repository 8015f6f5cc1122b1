//! Final-image policy: checks on the merged filesystem and the config that
//! prove the image is what a multi-stage build promises. Every check has a
//! stable id (see [`CHECKS`]), a status, what was measured and the limit.

mod base;
mod certs;
mod contents;
pub mod elf;
mod entrypoint;
mod fsview;
pub mod gobuildinfo;
mod options;
mod settings;
mod size;

pub use contents::globs;
pub use fsview::{normalize, Fetch, FinalFs};
pub use options::{parse_size, PolicyFlags, PolicyOptions, SizeBasis, CHECKS};

use crate::image::spec::ImageConfig;
use crate::image::LayerRef;
use crate::layer::LayerScan;
use crate::report::PolicyResult;
use crate::rules::RuleSet;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Warn,
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Skip => "skip",
        }
    }
}

/// Builds one policy result.
pub(crate) fn outcome(
    check: &str,
    status: Status,
    measured: Value,
    limit: Value,
    message: impl Into<String>,
    details: Vec<String>,
) -> PolicyResult {
    PolicyResult {
        check: check.to_string(),
        status: status.as_str().to_string(),
        measured,
        limit,
        message: message.into(),
        details,
    }
}

/// Everything a check may look at.
pub struct Context<'a> {
    pub fs: &'a FinalFs<'a>,
    pub config: &'a ImageConfig,
    pub layer_refs: &'a [LayerRef],
    pub layers: &'a [&'a LayerScan],
    pub rules: &'a RuleSet,
    pub opts: &'a PolicyOptions,
}

/// Paths whose contents the first layer pass should keep, because a check
/// will read them: CA bundles, OS release files, package databases, and the
/// entrypoint as the config names it.
pub fn wanted_paths(config: &ImageConfig) -> impl Fn(&str) -> bool + Sync {
    let mut exact: Vec<String> = [
        "/etc/os-release",
        "/usr/lib/os-release",
        "/etc/alpine-release",
        "/lib/apk/db/installed",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(certs::BUNDLES.iter().map(|s| s.to_string()))
    .collect();
    exact.extend(entrypoint::predicted_paths(config));
    exact.extend(certs::env_bundle(config));
    move |p: &str| {
        exact.iter().any(|e| e == p)
            || (p.starts_with("/var/lib/dpkg/info/") && p.ends_with(".list"))
    }
}

/// Runs every check that is not skipped.
pub fn evaluate(ctx: &Context) -> Vec<PolicyResult> {
    if !ctx.opts.enabled {
        return vec![];
    }
    let entry = entrypoint::resolve(ctx);
    // size-budget and only-allowed-files go through every file: beside
    // each other and the rest, on both cores.
    let ((size, contents), rest) = rayon::join(
        || rayon::join(|| size::check(ctx), || contents::check(ctx, &entry)),
        || {
            [
                certs::check(ctx),
                entrypoint::check(ctx, &entry),
                entrypoint::check_go(ctx, &entry),
                settings::ports(ctx),
                settings::user(ctx),
                base::check(ctx),
            ]
        },
    );
    let mut out = vec![size, contents];
    out.extend(rest);
    for r in &mut out {
        if ctx.opts.skip.contains(&r.check) {
            *r = outcome(
                &r.check,
                Status::Skip,
                Value::Null,
                Value::Null,
                "skipped by the policy",
                vec![],
            );
        }
    }
    out
}

/// Human-readable bytes (SI, as `docker images`).
pub(crate) fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
