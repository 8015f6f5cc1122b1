//! Command-line definitions and dispatch; each subcommand lives in its own file.

mod audit;
mod baseline;
mod lint;
mod rules;
mod scan_registry;

use crate::policy::{PolicyFlags, SizeBasis};
use crate::report::{junit, markdown, render_json, render_text, sarif, Report};
use crate::severity::Severity;
use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "stowaway",
    version,
    about = "Finds what should never have shipped inside a container image",
    after_help = "Exit codes: 0 clean, 1 findings at or above --fail-on, 2 the audit could not run."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Audit images for leaked secrets, credential files and build residue
    #[command(after_help = "\
SOURCE is a `docker save` tarball (classic or Docker 25+, optionally .gz or .zst),
an OCI image layout directory, or an OCI archive; the format is read from content.
It may also be a registry reference, [docker://]HOST[:PORT]/NAME[:TAG|@sha256:DIGEST]
(a path that exists is a file; `docker://` forces a reference): its layers are
streamed from the registry, never saved, and cached by digest.

Examples:
  docker save app:1.4 -o app.tar && stowaway audit app.tar
  stowaway audit --format json --output report.json app.tar
  stowaway audit --format text --format sarif=stowaway.sarif --format junit=junit.xml app.tar
  stowaway audit --fail-on critical ./oci-layout-dir
  stowaway audit --platform linux/arm64 multi-arch.oci.tar
  stowaway audit registry.example.com/team/app:1.4
  STOWAWAY_REGISTRY_PASSWORD=... stowaway audit --registry-user ci registry.example.com/team/app@sha256:...
  stowaway audit --insecure-registry registry.lan:5000 registry.lan:5000/app:dev

Exit codes: 0 clean, 1 findings at or above --fail-on, 2 the audit could not run.")]
    Audit(Box<AuditArgs>),
    /// Record the current findings in a baseline file; `audit --baseline
    /// FILE` then reports only new ones
    #[command(after_help = "\
Example:
  stowaway baseline app.tar --output stowaway-baseline.json
  stowaway audit app.tar --baseline stowaway-baseline.json   # exit 0 until a new leak")]
    Baseline(Box<AuditArgs>),
    /// Lint a Dockerfile: multi-stage separation, secrets passed the wrong
    /// way, dependency caching, Go build flags, USER, EXPOSE
    #[command(after_help = "\
Example:
  stowaway lint Dockerfile --expect-port 8080 --expect-base alpine:3.19 --secret-id api_key")]
    Lint(LintArgs),
    /// Audit every image of a registry: list the repositories and their
    /// tags, audit each distinct manifest once, write a report per image
    /// and a summary
    #[command(after_help = "\
Repositories come from /v2/_catalog, tags from /v2/NAME/tags/list; each distinct
manifest is audited once (tags naming it are listed together), in parallel with
--jobs. Each image's JSON report (and SARIF with --sarif) goes to --out-dir, with
summary.json; the summary is also printed. Layer scans and policy results are
cached by digest, so a nightly rescan only reads what changed.

Examples:
  stowaway scan-registry registry.example.com --out-dir reports/
  stowaway scan-registry registry.example.com/team --out-dir reports/ --sarif --fail-on critical
  stowaway scan-registry registry.example.com --out-dir reports/ --shard 0/4   # worker 0 of 4
  stowaway scan-registry 127.0.0.1:5000 --out-dir reports/ --cache-dir /var/cache/stowaway

Exit codes: 0 every image clean, 1 an image has findings at or above --fail-on or a
failed policy check, 2 the registry could not be listed or an image could not be audited
(the other images are still audited and reported).")]
    ScanRegistry(Box<ScanRegistryArgs>),
    /// List the rules, or check every rule against its own examples
    Rules {
        #[command(subcommand)]
        action: RulesAction,
        /// Extra rule file(s) (TOML) added to the built-in rules
        #[arg(long = "rules", value_name = "FILE", global = true)]
        rules: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum RulesAction {
    /// One line per rule: id, kind, severity, name
    List,
    /// Run every rule's examples and negative examples through the matcher
    Check,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
    Sarif,
    Junit,
    Markdown,
}

impl Format {
    pub(crate) fn render(self, report: &Report) -> String {
        match self {
            Format::Text => render_text(report),
            Format::Json => render_json(report),
            Format::Sarif => sarif::render_sarif(report),
            Format::Junit => junit::render_junit(report),
            Format::Markdown => markdown::render_markdown(report),
        }
    }
}

/// `FORMAT` (to `--output` or stdout) or `FORMAT=FILE`.
#[derive(Clone)]
pub(crate) struct FormatSpec {
    pub(crate) format: Format,
    pub(crate) file: Option<PathBuf>,
}

fn parse_format(s: &str) -> Result<FormatSpec, String> {
    let (name, file) = match s.split_once('=') {
        Some((n, f)) if !f.is_empty() => (n, Some(PathBuf::from(f))),
        Some(_) => return Err(format!("{s}: expected FORMAT=FILE")),
        None => (s, None),
    };
    let format = Format::from_str(name, true).map_err(|_| {
        format!("unknown format {name:?}: use text, json, sarif, junit or markdown")
    })?;
    Ok(FormatSpec { format, file })
}

#[derive(clap::Args)]
pub(crate) struct AuditArgs {
    /// Image sources to audit: files, directories or registry references
    #[arg(required = true, value_name = "SOURCE")]
    pub(crate) sources: Vec<PathBuf>,
    /// Output format: text, json, sarif, junit, markdown; FORMAT=FILE writes
    /// that format to FILE (repeatable: several formats in one run)
    #[arg(long, short, value_name = "FORMAT[=FILE]", value_parser = parse_format, default_value = "text")]
    pub(crate) format: Vec<FormatSpec>,
    /// Write the report (the --format given without =FILE) to FILE instead of stdout
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// The Dockerfile the image was built from: lint it, and tie every
    /// finding to the line that introduced it
    #[arg(long, value_name = "FILE")]
    pub(crate) dockerfile: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) scan: ScanArgs,
}

/// What to look for and how: shared by `audit`, `baseline` and `scan-registry`.
#[derive(clap::Args)]
pub(crate) struct ScanArgs {
    /// Exit 1 when a finding is at or above this severity
    #[arg(long, value_name = "SEVERITY", default_value = "high")]
    pub(crate) fail_on: Severity,
    /// Audit only this platform of a multi-platform image (os/arch[/variant])
    #[arg(long, value_name = "OS/ARCH")]
    pub(crate) platform: Option<String>,
    /// Extra rule file(s) (TOML) added to the built-in rules
    #[arg(long = "rules", value_name = "FILE")]
    pub(crate) rules: Vec<PathBuf>,
    /// Never draw a progress bar
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// The sha256 of a real secret (of its key file, or of its DER): report
    /// every occurrence in any form, or say it was searched and not found
    /// (repeatable)
    #[arg(long = "known-secret-sha256", value_name = "HEX")]
    pub(crate) known_secret: Vec<String>,
    /// A file of such sha256s, one per line (`sha256sum` output works)
    #[arg(long = "known-secrets-file", value_name = "FILE")]
    pub(crate) known_secrets_file: Option<PathBuf>,
    /// A BuildKit secret id the build must use only as a secret mount
    /// (repeatable; checked in the Dockerfile and in provenance)
    #[arg(long = "secret-id", value_name = "ID")]
    pub(crate) secret_id: Vec<String>,
    /// Refuse a layer that decompresses to more than SIZE (default 64GiB)
    #[arg(long, value_name = "SIZE")]
    pub(crate) max_layer_size: Option<String>,
    /// Refuse an image whose layers decompress to more than SIZE in all (default 256GiB)
    #[arg(long, value_name = "SIZE")]
    pub(crate) max_image_size: Option<String>,
    /// Refuse a layer with more tar entries than this (default 5000000)
    #[arg(long, value_name = "N")]
    pub(crate) max_entries: Option<u64>,
    /// Refuse a path longer than this many bytes (default 4096)
    #[arg(long, value_name = "N")]
    pub(crate) max_path_length: Option<usize>,
    /// Suppress the findings listed in this baseline (see `stowaway baseline`)
    #[arg(long, value_name = "FILE")]
    pub(crate) baseline: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) policy: PolicyArgs,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
    /// Benchmarks: run only this rule (repeatable)
    #[arg(long = "only-rule", value_name = "ID", hide = true)]
    pub(crate) only_rule: Vec<String>,
    /// Benchmarks: decompress, verify and walk every byte, match nothing
    /// (the floor an audit is measured against)
    #[arg(long, hide = true)]
    pub(crate) bench_floor: bool,
}

/// Pulling from registries.
#[derive(clap::Args)]
#[command(next_help_heading = "Registry")]
pub(crate) struct RegistryArgs {
    /// Log in to registries as USER (or STOWAWAY_REGISTRY_USER); the password
    /// comes from STOWAWAY_REGISTRY_PASSWORD or --registry-password-stdin.
    /// Without it, credentials come from docker's config.json
    #[arg(long, value_name = "USER")]
    pub(crate) registry_user: Option<String>,
    /// Read the registry password from standard input
    #[arg(long)]
    pub(crate) registry_password_stdin: bool,
    /// Speak plain HTTP to this registry host (repeatable); localhost and
    /// 127.0.0.0/8 always get plain HTTP
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub(crate) insecure_registry: Vec<String>,
    /// Seconds to wait to connect, for a response, and for each read
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub(crate) registry_timeout: u64,
    /// Retries of a request answered 429 or 5xx or cut off, with exponential backoff
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub(crate) registry_retries: u32,
}

/// The scan cache (layer scans and policy results of earlier runs).
#[derive(clap::Args)]
#[command(next_help_heading = "Cache")]
pub(crate) struct CacheArgs {
    /// Neither read nor write the cache
    #[arg(long, conflicts_with = "cache_dir")]
    pub(crate) no_cache: bool,
    /// Cache directory (default $XDG_CACHE_HOME/stowaway, else
    /// ~/.cache/stowaway). Registry images are always cached; local image
    /// files only when --cache-dir is given
    #[arg(long, value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// Evict the least recently used entries when the cache is larger than this
    #[arg(long, value_name = "SIZE", default_value = "10GiB")]
    pub(crate) cache_max_size: String,
}

#[derive(clap::Args)]
pub(crate) struct ScanRegistryArgs {
    /// The registry, optionally with a repository prefix: HOST[:PORT][/PREFIX]
    #[arg(value_name = "HOST[/PREFIX]")]
    pub(crate) registry: String,
    /// Directory for the per-image reports and summary.json
    #[arg(long, value_name = "DIR")]
    pub(crate) out_dir: PathBuf,
    /// Also write a SARIF report per image
    #[arg(long)]
    pub(crate) sarif: bool,
    /// Repositories and images worked on at once
    #[arg(long, short, value_name = "N", default_value_t = 4)]
    pub(crate) jobs: usize,
    /// Scan only shard K of N (0 <= K < N): the repositories whose name's
    /// sha256 is K modulo N, so N workers cover the registry exactly once
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<String>,
    /// Entries asked for per catalog or tag-list page
    #[arg(long, value_name = "N", default_value_t = 1000, hide = true)]
    pub(crate) page_size: usize,
    #[command(flatten)]
    pub(crate) scan: ScanArgs,
}

#[derive(clap::Args)]
pub(crate) struct LintArgs {
    /// The Dockerfile to lint
    pub(crate) dockerfile: PathBuf,
    /// Port the final stage must EXPOSE
    #[arg(long, value_name = "PORT")]
    pub(crate) expect_port: Option<u16>,
    /// Base the final stage must be: alpine:3.19, scratch, alpine:3.19|scratch
    #[arg(long, value_name = "IMAGE")]
    pub(crate) expect_base: Option<String>,
    /// A BuildKit secret id that must be used only as a secret mount (repeatable)
    #[arg(long = "secret-id", value_name = "ID")]
    pub(crate) secret_id: Vec<String>,
    /// Exit 1 when a finding is at or above this severity
    #[arg(long, value_name = "SEVERITY", default_value = "high")]
    pub(crate) fail_on: Severity,
    /// JSON instead of text
    #[arg(long)]
    pub(crate) json: bool,
}

/// Final-image policy (also set in a `stowaway.toml` `[policy]` table).
#[derive(clap::Args)]
#[command(next_help_heading = "Policy")]
pub(crate) struct PolicyArgs {
    /// Policy file (default: stowaway.toml next to the image, else in the working directory)
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Size budget: 15MB (SI, as docker images shows) or 15MiB (binary)
    #[arg(long, value_name = "SIZE")]
    max_size: Option<String>,
    /// Which size the budget applies to
    #[arg(long, value_enum, value_name = "BASIS")]
    size_basis: Option<SizeBasis>,
    /// Port the image must EXPOSE (repeatable)
    #[arg(long = "expect-port", value_name = "PORT")]
    expect_port: Vec<u16>,
    /// Base the final image must be: alpine:3.19, debian:12, scratch
    #[arg(long, value_name = "IMAGE")]
    expect_base: Option<String>,
    /// Also allow these paths in the final image (glob; repeatable)
    #[arg(long = "allow-file", value_name = "GLOB")]
    allow_file: Vec<String>,
    /// Skip a policy check by id (repeatable): size-budget, only-allowed-files, ...
    #[arg(long = "skip-check", value_name = "CHECK")]
    skip_check: Vec<String>,
    /// Run no policy check: leaks only
    #[arg(long)]
    no_policy: bool,
}

impl PolicyArgs {
    pub(crate) fn flags(&self) -> PolicyFlags {
        PolicyFlags {
            policy_file: self.policy.clone(),
            max_size: self.max_size.clone(),
            size_basis: self.size_basis,
            expect_ports: self.expect_port.clone(),
            expect_base: self.expect_base.clone(),
            allow: self.allow_file.clone(),
            skip: self.skip_check.clone(),
            disabled: self.no_policy,
        }
    }
}

pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Audit(args) => audit::run(&args),
        Command::Baseline(args) => baseline::run(&args),
        Command::Lint(args) => lint::run(&args),
        Command::ScanRegistry(args) => scan_registry::run(&args),
        Command::Rules { action, rules } => rules::run(action, &rules),
    }
}
