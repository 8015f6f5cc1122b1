//! Policy settings: defaults for the seed scenario, a `stowaway.toml`
//! `[policy]` table, and CLI flags on top.

use crate::suppress::IgnoreEntry;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SizeBasis {
    /// Sum of the layer tars (what `docker images` shows).
    Uncompressed,
    /// Sum of the layer blobs as stored or pulled.
    Compressed,
}

/// A size with the unit it was given in, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Size {
    pub bytes: u64,
    pub shown: String,
}

/// Parses `15MB`, `15 MiB`, `800KB`, `1GiB`, `123456` (bytes). MB/KB/GB are
/// SI (10^6, as `docker images` shows); MiB/KiB/GiB are binary.
pub fn parse_size(s: &str) -> Result<Size> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim());
    let n: f64 = num
        .parse()
        .with_context(|| format!("size {s:?}: expected a number with a unit, e.g. 15MB"))?;
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => bail!("size {s:?}: unknown unit {unit:?} (use B, KB, MB, GB, KiB, MiB or GiB)"),
    };
    Ok(Size {
        bytes: (n * mult).round() as u64,
        shown: format!("{num} {}", if unit.is_empty() { "B" } else { unit }),
    })
}

/// Every check id, for validation and docs.
pub const CHECKS: &[(&str, &str)] = &[
    ("size-budget", "the image fits the size budget (default 15 MB uncompressed)"),
    ("only-allowed-files", "the final filesystem holds only the entrypoint, CA certificates, an allowlist and the declared base's own files"),
    ("ca-certificates", "a CA bundle Go and OpenSSL read is present, parses, and holds no private key"),
    ("entrypoint-runnable", "ENTRYPOINT/CMD resolve to an executable for the image's architecture whose interpreter and libraries are present"),
    ("go-binary", "the Go entrypoint's build info: static, stripped, trimmed, and no secret in -ldflags -X"),
    ("exposed-ports", "EXPOSE matches the expected port"),
    ("user", "the image does not run as root"),
    ("base-image", "the OS and version of the final image match the expected base"),
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyTable {
    max_size: Option<String>,
    size_basis: Option<SizeBasis>,
    expect_port: Option<Vec<u16>>,
    expect_base: Option<String>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    skip: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    policy: PolicyTable,
    /// `[[ignore]]` entries: rule + path glob + reason + optional expiry.
    #[serde(default)]
    ignore: Vec<IgnoreEntry>,
}

#[derive(Debug, Clone)]
pub struct PolicyOptions {
    pub enabled: bool,
    pub max_size: Size,
    pub size_basis: SizeBasis,
    pub expect_ports: Vec<u16>,
    pub expect_base: Option<String>,
    /// Extra allowed paths (globs: `*` within a component, `**` across).
    pub allow: Vec<String>,
    pub skip: Vec<String>,
    /// Where the settings came from, for the report.
    pub source: Option<PathBuf>,
    /// The settings file's `[[ignore]]` entries.
    pub ignore: Vec<IgnoreEntry>,
}

impl Default for PolicyOptions {
    fn default() -> Self {
        PolicyOptions {
            enabled: true,
            max_size: parse_size("15MB").expect("valid default"),
            size_basis: SizeBasis::Uncompressed,
            expect_ports: vec![],
            expect_base: None,
            allow: vec![],
            skip: vec![],
            source: None,
            ignore: vec![],
        }
    }
}

/// CLI overrides; `None` keeps the policy file's value.
#[derive(Debug, Clone, Default)]
pub struct PolicyFlags {
    pub policy_file: Option<PathBuf>,
    pub max_size: Option<String>,
    pub size_basis: Option<SizeBasis>,
    pub expect_ports: Vec<u16>,
    pub expect_base: Option<String>,
    pub allow: Vec<String>,
    pub skip: Vec<String>,
    pub disabled: bool,
}

fn check_ids(ids: &[String], what: &str) -> Result<()> {
    for id in ids {
        if !CHECKS.iter().any(|(c, _)| c == id) {
            let known: Vec<&str> = CHECKS.iter().map(|(c, _)| *c).collect();
            bail!(
                "{what}: unknown check {id:?} (checks: {})",
                known.join(", ")
            );
        }
    }
    Ok(())
}

impl PolicyOptions {
    /// The policy file: `--policy FILE`, else `stowaway.toml` next to the
    /// first source, else in the working directory.
    pub fn load(flags: &PolicyFlags, first_source: Option<&Path>) -> Result<PolicyOptions> {
        let found = flags.policy_file.clone().or_else(|| {
            let beside = first_source
                .and_then(|s| s.parent())
                .map(|d| d.join("stowaway.toml"));
            [beside, Some(PathBuf::from("stowaway.toml"))]
                .into_iter()
                .flatten()
                .find(|p| p.is_file())
        });
        let (table, ignore) = match &found {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("{}: cannot read the policy file", p.display()))?;
                let file: PolicyFile = toml::from_str(&text)
                    .with_context(|| format!("{}: invalid policy file", p.display()))?;
                check_ids(&file.policy.skip, &p.display().to_string())?;
                (file.policy, file.ignore)
            }
            None => (PolicyTable::default(), vec![]),
        };
        check_ids(&flags.skip, "--skip-check")?;
        let mut o = PolicyOptions {
            source: found,
            ignore,
            enabled: !flags.disabled,
            ..PolicyOptions::default()
        };
        if let Some(s) = flags.max_size.as_ref().or(table.max_size.as_ref()) {
            o.max_size = parse_size(s)?;
        }
        if let Some(b) = flags.size_basis.or(table.size_basis) {
            o.size_basis = b;
        }
        o.expect_ports = if flags.expect_ports.is_empty() {
            table.expect_port.unwrap_or_default()
        } else {
            flags.expect_ports.clone()
        };
        o.expect_base = flags.expect_base.clone().or(table.expect_base);
        o.allow = table.allow.into_iter().chain(flags.allow.clone()).collect();
        o.skip = table.skip.into_iter().chain(flags.skip.clone()).collect();
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_si_and_binary_units() {
        assert_eq!(parse_size("15MB").unwrap().bytes, 15_000_000);
        assert_eq!(parse_size("15 MiB").unwrap().bytes, 15 * 1024 * 1024);
        assert_eq!(parse_size("800kb").unwrap().bytes, 800_000);
        assert_eq!(parse_size("1.5GB").unwrap().bytes, 1_500_000_000);
        assert_eq!(parse_size("4096").unwrap().bytes, 4096);
        assert!(parse_size("15 parsecs").is_err());
        assert!(parse_size("MB").is_err());
    }

    #[test]
    fn policy_file_unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("stowaway.toml");
        std::fs::write(&p, "[policy]\nmax_sise = \"10MB\"\n").unwrap();
        let flags = PolicyFlags {
            policy_file: Some(p),
            ..Default::default()
        };
        let err = format!("{:#}", PolicyOptions::load(&flags, None).unwrap_err());
        assert!(err.contains("max_sise"), "{err}");
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("stowaway.toml");
        std::fs::write(
            &p,
            "[policy]\nmax_size = \"10MB\"\nexpect_port = [8080]\nskip = [\"user\"]\n",
        )
        .unwrap();
        let flags = PolicyFlags {
            policy_file: Some(p),
            max_size: Some("20MiB".into()),
            ..Default::default()
        };
        let o = PolicyOptions::load(&flags, None).unwrap();
        assert_eq!(o.max_size.bytes, 20 * 1024 * 1024);
        assert_eq!(o.expect_ports, vec![8080]);
        assert_eq!(o.skip, vec!["user".to_string()]);
    }
}
