//! `base-image`: the final image's OS and version, from `/etc/os-release`
//! (or `/usr/lib/os-release`) and `/etc/alpine-release`, against
//! `--expect-base` (`alpine:3.19`, `debian:12`, `scratch`).

use super::{outcome, Context, Status};
use crate::report::PolicyResult;
use serde_json::json;

/// (id, version) of the final image's OS, if it has one.
pub fn detect(ctx: &Context) -> Option<(String, String)> {
    let text = |p: &str| {
        ctx.fs
            .read(p)
            .ok()
            .flatten()
            .map(|d| String::from_utf8_lossy(&d).into_owned())
    };
    let os_release = text("/etc/os-release").or_else(|| text("/usr/lib/os-release"));
    let field = |k: &str| {
        os_release.as_ref().and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .map(|v| v.trim().trim_matches('"').to_string())
        })
    };
    if let Some(v) = text("/etc/alpine-release") {
        return Some(("alpine".into(), v.trim().to_string()));
    }
    field("ID").map(|id| (id, field("VERSION_ID").unwrap_or_default()))
}

pub fn check(ctx: &Context) -> PolicyResult {
    let found = detect(ctx);
    let shown = match &found {
        Some((id, v)) if v.is_empty() => id.clone(),
        Some((id, v)) => format!("{id} {v}"),
        None => "no OS (scratch or distroless-static)".to_string(),
    };
    let Some(expected) = &ctx.opts.expect_base else {
        return outcome(
            "base-image",
            Status::Pass,
            json!(shown),
            json!(null),
            format!("base: {shown}"),
            vec![],
        );
    };
    let (name, tag) = expected.split_once(':').unwrap_or((expected.as_str(), ""));
    let name = name.rsplit('/').next().unwrap_or(name);
    let (status, message) = match (&found, name) {
        (None, "scratch") => (Status::Pass, format!("base: {shown}, as expected")),
        (Some(_), "scratch") => (
            Status::Fail,
            format!("base: {shown}; expected scratch (no OS)"),
        ),
        (Some((id, v)), n) if id == n => {
            if tag.is_empty() || tag == "latest" || v == tag || v.starts_with(&format!("{tag}.")) {
                (
                    Status::Pass,
                    format!("base: {shown}, as expected ({expected})"),
                )
            } else {
                (Status::Fail, format!("base: {shown}; expected {expected}"))
            }
        }
        (Some(_), n)
            if ![
                "alpine",
                "debian",
                "ubuntu",
                "fedora",
                "centos",
                "rhel",
                "rocky",
                "almalinux",
                "amzn",
                "wolfi",
            ]
            .contains(&n) =>
        {
            (
                Status::Warn,
                format!("base: {shown}; cannot tell from the filesystem whether it is {expected}"),
            )
        }
        _ => (Status::Fail, format!("base: {shown}; expected {expected}")),
    };
    outcome(
        "base-image",
        status,
        json!(shown),
        json!(expected),
        message,
        vec![],
    )
}
