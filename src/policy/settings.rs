//! `exposed-ports` and `user`: what the config says the container does.

use super::{outcome, Context, Status};
use crate::report::PolicyResult;
use serde_json::json;

pub fn ports(ctx: &Context) -> PolicyResult {
    let exposed: Vec<&String> = ctx.config.config.exposed_ports.keys().collect();
    let expected = &ctx.opts.expect_ports;
    let has = |p: u16| {
        exposed
            .iter()
            .any(|e| *e == &format!("{p}/tcp") || *e == &p.to_string())
    };
    let missing: Vec<String> = expected
        .iter()
        .filter(|p| !has(**p))
        .map(|p| format!("{p}/tcp"))
        .collect();
    let listed = if exposed.is_empty() {
        "nothing".to_string()
    } else {
        exposed
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (status, message) = if expected.is_empty() {
        (
            Status::Pass,
            format!("exposes {listed} (no --expect-port given)"),
        )
    } else if missing.is_empty() {
        (Status::Pass, format!("exposes {listed} as expected"))
    } else {
        (
            Status::Fail,
            format!("exposes {listed}; expected {}", missing.join(", ")),
        )
    };
    outcome(
        "exposed-ports",
        status,
        json!(exposed),
        json!(expected),
        message,
        vec![],
    )
}

pub fn user(ctx: &Context) -> PolicyResult {
    let user = ctx.config.config.user.clone().unwrap_or_default();
    let name = user.split(':').next().unwrap_or("");
    let root = name.is_empty() || name == "root" || name == "0";
    let message = if root {
        "runs as root (no USER, or USER root): add a non-root USER such as 65534 (nobody)"
            .to_string()
    } else {
        format!("runs as {user}")
    };
    outcome(
        "user",
        if root { Status::Warn } else { Status::Pass },
        json!(if user.is_empty() {
            "root (default)"
        } else {
            user.as_str()
        }),
        json!("non-root"),
        message,
        vec![],
    )
}
