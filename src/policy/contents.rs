//! `only-allowed-files`: the final filesystem holds the entrypoint, the CA
//! bundle, an allowlist, and the base image's own files (an Alpine base is
//! recognised by its apk database, a Debian one by dpkg's file lists, as of
//! the first layer that has them, so packages added later still count).

use super::entrypoint::Entry;
use super::{certs, outcome, Context, Status};
use crate::report::PolicyResult;
use crate::rules::RuleSet;
use rayon::prelude::*;
use regex::Regex;
use rustc_hash::FxHashSet;
use serde_json::json;
use std::collections::BTreeMap;

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

/// The base image: the first layer that carries a package database.
struct Base<'a> {
    name: &'static str,
    layer: usize,
    db: Db<'a>,
}

/// A package database, as captured.
enum Db<'a> {
    /// `/lib/apk/db/installed`: `F:` names a directory, `R:` a file in it.
    Apk(&'a [u8]),
    /// dpkg's `.list` files: one owned path per line.
    Dpkg(Vec<&'a [u8]>),
}

impl Base<'_> {
    fn find<'a>(ctx: &Context<'a>) -> Option<Base<'a>> {
        for (layer, scan) in ctx.layers.iter().enumerate() {
            if let Some(db) = scan.captured.get("/lib/apk/db/installed") {
                let name = "alpine (apk database)";
                return Some(Base {
                    name,
                    layer,
                    db: Db::Apk(db),
                });
            }
            let lists: Vec<&[u8]> = scan
                .captured
                .iter()
                .filter(|(p, _)| p.starts_with("/var/lib/dpkg/info/"))
                .map(|(_, d)| d.as_slice())
                .collect();
            if !lists.is_empty() {
                let name = "debian (dpkg file lists)";
                return Some(Base {
                    name,
                    layer,
                    db: Db::Dpkg(lists),
                });
            }
        }
        None
    }

    /// Takes the paths the database owns out of `left`. A Debian base lists
    /// hundreds of thousands of paths, so they are looked up as they are
    /// read, never collected.
    fn disown<'r>(&self, left: &mut FxHashSet<&'r str>) {
        match &self.db {
            Db::Apk(db) => {
                let mut dir = "";
                for line in String::from_utf8_lossy(db).lines() {
                    if let Some(d) = line.strip_prefix("F:") {
                        dir = d;
                    } else if let Some(f) = line.strip_prefix("R:") {
                        left.remove(format!("/{dir}/{f}").as_str());
                    }
                }
            }
            Db::Dpkg(lists) => {
                // Both cores read lists; lookups only (the set's own keys
                // come back, nothing is copied), then one removal pass.
                let set: &FxHashSet<&'r str> = left;
                let owned: Vec<&'r str> = lists
                    .par_iter()
                    .flat_map_iter(|list| {
                        String::from_utf8_lossy(list)
                            .lines()
                            .filter_map(|line| set.get(line).copied())
                            .collect::<Vec<_>>()
                    })
                    .collect();
                for path in owned {
                    left.remove(path);
                }
            }
        }
    }
}

/// Which kind of offender a path is, for grouping (`residue`: the residue
/// rule the layer scan found for it).
fn group(rules: &RuleSet, path: &str, residue: Option<usize>) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or("");
    if ["sh", "bash", "ash", "dash", "zsh", "busybox"].contains(&name) {
        return "shell";
    }
    if rules.path_rule(path).is_some() {
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
    match residue.map(|r| rules.rule(r).def.id.as_str()) {
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
    let base = Base::find(ctx);
    // The base's layers (up to the one with the package database) are the
    // base's own.
    let last_base_layer = base.as_ref().map(|b| b.layer);
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
    // (the rest are fewer, so this is the cheaper way round).
    if let Some(base) = &base {
        let mut left: FxHashSet<&str> = rest.iter().map(|e| e.path.as_str()).collect();
        base.disown(&mut left);
        rest.retain(|e| left.contains(e.path.as_str()));
    }
    let mut groups: BTreeMap<&str, (usize, u64, Vec<String>)> = BTreeMap::new();
    // Matching every path against the credential paths: both cores.
    let kinds: Vec<&str> = rest
        .par_iter()
        .map(|e| group(ctx.rules, &e.path, e.residue))
        .collect();
    for (e, kind) in rest.into_iter().zip(kinds) {
        let p = e.path.as_str();
        let g = groups.entry(kind).or_default();
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
        .map(|b| format!("; base recognised: {} in layer {}", b.name, b.layer))
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
