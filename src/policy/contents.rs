//! `only-allowed-files`: the final filesystem holds the entrypoint, the CA
//! bundle, an allowlist, and the base image's own files (an Alpine base is
//! recognised by its apk database, a Debian one by dpkg's file lists, as of
//! the first layer that has them, so packages added later still count).

use super::entrypoint::Entry;
use super::{certs, outcome, Context, Status};
use crate::report::PolicyResult;
use regex::Regex;
use serde_json::json;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

/// Allowed on any base: identity and name-service files, time zones, CA
/// certificates and OS identification.
const DEFAULT_ALLOW: &[&str] = &[
    "/etc/passwd",
    "/etc/group",
    "/etc/shadow",
    "/etc/passwd-",
    "/etc/group-",
    "/etc/shadow-",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/mime.types",
    "/etc/os-release",
    "/usr/lib/os-release",
    "/etc/alpine-release",
    "/etc/ssl/certs/**",
    "/usr/share/ca-certificates/**",
    "/usr/local/share/ca-certificates/**",
    "/etc/ca-certificates/**",
    "/etc/ca-certificates.conf",
    "/usr/share/zoneinfo/**",
    "/usr/local/go/lib/time/zoneinfo.zip",
];

/// Turns path globs into one regex matching any of them: `**` spans
/// directories, `*` and `?` do not.
pub fn globs<S: AsRef<str>>(patterns: impl IntoIterator<Item = S>) -> Regex {
    let alternatives: Vec<String> = patterns
        .into_iter()
        .map(|pattern| {
            let mut re = String::new();
            let mut chars = pattern.as_ref().chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '*' if chars.peek() == Some(&'*') => {
                        chars.next();
                        re.push_str(".*");
                    }
                    '*' => re.push_str("[^/]*"),
                    '?' => re.push_str("[^/]"),
                    c => re.push_str(&regex::escape(&c.to_string())),
                }
            }
            re
        })
        .collect();
    Regex::new(&format!("^(?:{})$", alternatives.join("|")))
        .expect("escaped globs are a valid regex")
}

/// Lines of a captured file, borrowed when it is UTF-8 (dpkg's lists are).
fn lines(data: &[u8]) -> Vec<Cow<'_, str>> {
    match std::str::from_utf8(data) {
        Ok(text) => text.lines().map(Cow::Borrowed).collect(),
        Err(_) => String::from_utf8_lossy(data)
            .lines()
            .map(|l| Cow::Owned(l.to_string()))
            .collect(),
    }
}

/// The base image: the first layer that carries a package database, and
/// the files that database owns.
fn base_files<'a>(ctx: &Context<'a>) -> Option<(String, usize, Vec<Cow<'a, str>>)> {
    for (index, layer) in ctx.layers.iter().enumerate() {
        if let Some(db) = layer.captured.get("/lib/apk/db/installed") {
            let mut files = Vec::new();
            let mut dir = String::new();
            for line in String::from_utf8_lossy(db).lines() {
                if let Some(d) = line.strip_prefix("F:") {
                    dir = d.to_string();
                } else if let Some(f) = line.strip_prefix("R:") {
                    files.push(Cow::Owned(format!("/{dir}/{f}")));
                }
            }
            return Some(("alpine (apk database)".into(), index, files));
        }
        let mut lists = layer
            .captured
            .iter()
            .filter(|(p, _)| p.starts_with("/var/lib/dpkg/info/"))
            .peekable();
        if lists.peek().is_some() {
            let files = lists.flat_map(|(_, d)| lines(d)).collect();
            return Some(("debian (dpkg file lists)".into(), index, files));
        }
    }
    None
}

/// Which kind of offender a path is, for grouping (`residue`: the residue
/// rule the layer scan found for it).
fn group(ctx: &Context, path: &str, residue: Option<usize>) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or("");
    if ["sh", "bash", "ash", "dash", "zsh", "busybox"].contains(&name) {
        return "shell";
    }
    if ctx.rules.path_rule(path).is_some() {
        return "credentials";
    }
    if [
        "apk", "apt", "apt-get", "dpkg", "yum", "dnf", "rpm", "pip", "pip3", "npm",
    ]
    .contains(&name)
        || path.starts_with("/var/lib/dpkg/")
        || path.starts_with("/lib/apk/")
        || path.starts_with("/etc/apk/")
    {
        return "package manager";
    }
    match residue.map(|r| ctx.rules.rule(r).def.id.as_str()) {
        Some("residue.go-sources") | Some("residue.git-directory") => "sources",
        Some(id) if id.contains("cache") || id.contains("lists") || id.contains("registry") => {
            "caches"
        }
        Some(_) => "toolchain",
        None => "other",
    }
}

pub fn check(ctx: &Context, entry: &Entry) -> PolicyResult {
    // One regex for the whole allowlist: it runs on every file.
    let allow = globs(
        DEFAULT_ALLOW
            .iter()
            .map(|s| s.to_string())
            .chain(ctx.opts.allow.iter().cloned())
            .chain(certs::env_bundle(ctx.config))
            .chain(certs::BUNDLES.iter().map(|s| s.to_string())),
    );
    let base = base_files(ctx);
    // The base's layers (up to the one with the package database) are the
    // base's own.
    let last_base_layer = base.as_ref().map(|(_, last, _)| *last);
    let entry_path = entry.resolved.clone();
    let mut total = 0;
    let mut rest = Vec::new();
    for (layer, e) in ctx.fs.files() {
        total += 1;
        let p = e.path.as_str();
        if Some(p) == entry_path.as_deref()
            || last_base_layer.is_some_and(|last| layer <= last)
            || allow.is_match(p)
        {
            continue;
        }
        rest.push(e);
    }
    // So is what the database owns: its lines are looked up among the rest
    // (a Debian base lists hundreds of thousands of paths; the rest are
    // fewer, so this is the cheaper way round).
    if let Some((_, _, owned)) = &base {
        let mut left: HashSet<&str> = rest.iter().map(|e| e.path.as_str()).collect();
        for path in owned {
            left.remove(path.as_ref());
        }
        rest.retain(|e| left.contains(e.path.as_str()));
    }
    let mut groups: BTreeMap<&str, (usize, u64, Vec<String>)> = BTreeMap::new();
    for e in rest {
        let p = e.path.as_str();
        let g = groups.entry(group(ctx, p, e.residue)).or_default();
        g.0 += 1;
        g.1 += e.size;
        if g.2.len() < 5 {
            g.2.push(p.to_string());
        }
    }
    let extra: usize = groups.values().map(|g| g.0).sum();
    let details: Vec<String> = groups
        .iter()
        .map(|(g, (n, bytes, ex))| {
            format!(
                "{g}: {n} file{} ({}), e.g. {}",
                if *n == 1 { "" } else { "s" },
                super::human(*bytes),
                ex.join(", ")
            )
        })
        .collect();
    let base_note = base
        .map(|(b, l, _)| format!("; base recognised: {b} in layer {l}"))
        .unwrap_or_default();
    let (status, message) = if extra == 0 {
        (
            Status::Pass,
            format!(
                "{total} files: only the entrypoint, CA certificates and allowed files{base_note}"
            ),
        )
    } else {
        (
            Status::Fail,
            format!(
                "{extra} of {total} files are neither the entrypoint, CA certificates, allowed, nor the base's own{base_note}"
            ),
        )
    };
    outcome(
        "only-allowed-files",
        status,
        json!({"files": total, "unexpected": extra}),
        json!({"entrypoint": entry_path, "allow": ctx.opts.allow}),
        message,
        details,
    )
}

#[cfg(test)]
mod tests {
    use super::globs;

    #[test]
    fn globs_match_paths_as_shells_do() {
        let glob = |p: &str| globs([p]);
        assert!(glob("/usr/share/zoneinfo/**").is_match("/usr/share/zoneinfo/Europe/Paris"));
        assert!(glob("/etc/*.conf").is_match("/etc/nsswitch.conf"));
        assert!(!glob("/etc/*.conf").is_match("/etc/x/y.conf"));
        assert!(glob("/etc/passwd").is_match("/etc/passwd"));
        assert!(!glob("/etc/passwd").is_match("/etc/passwd-"));
        let any = globs(["/etc/passwd", "/etc/*.conf"]);
        assert!(any.is_match("/etc/passwd") && any.is_match("/etc/a.conf"));
        assert!(!any.is_match("/etc/passwd-") && !any.is_match("/x/etc/passwd"));
    }
}
