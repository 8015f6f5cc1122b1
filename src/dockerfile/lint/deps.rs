//! Dependency layer caching: manifests copied and dependencies downloaded
//! before the full source `COPY`, so source edits don't re-download them.

use super::stages::is_context_copy;
use super::Context;
use crate::dockerfile::ast::{Instruction, Stage};
use crate::dockerfile::shell::{commands, is_invocation, Command};

/// A package ecosystem: its manifest files, the command that downloads
/// dependencies, the commands that need them, and its cache directory.
struct Ecosystem {
    name: &'static str,
    manifests: &'static [&'static str],
    /// Recognises the dependency download command.
    installs: fn(&Command) -> bool,
    /// Recognises a command that needs the dependencies.
    needs: fn(&Command) -> bool,
    /// A `--mount=type=cache` target containing this keeps downloads cached.
    cache_dir: &'static str,
    advice: &'static str,
}

/// The ecosystems checked.
const ECOSYSTEMS: &[Ecosystem] = &[
    Ecosystem {
        name: "Go",
        manifests: &["go.mod"],
        installs: |c| {
            is_invocation(c, "go", Some("mod")) && c.argv.get(2).is_some_and(|a| a == "download")
        },
        needs: |c| {
            ["build", "test", "install", "vet", "generate", "mod"]
                .iter()
                .any(|sub| is_invocation(c, "go", Some(sub)))
        },
        cache_dir: "pkg/mod",
        advice: "COPY go.mod go.sum ./ then RUN go mod download, before COPY . .",
    },
    Ecosystem {
        name: "npm",
        manifests: &[
            "package.json",
            "package-lock.json",
            "yarn.lock",
            "pnpm-lock.yaml",
        ],
        installs: is_node_install,
        needs: is_node_install,
        cache_dir: "npm",
        advice: "COPY package.json package-lock.json ./ then RUN npm ci, before COPY . .",
    },
    Ecosystem {
        name: "pip",
        manifests: &[
            "requirements.txt",
            "pyproject.toml",
            "poetry.lock",
            "Pipfile.lock",
        ],
        installs: is_pip_install,
        needs: is_pip_install,
        cache_dir: "pip",
        advice:
            "COPY requirements.txt ./ then RUN pip install -r requirements.txt, before COPY . .",
    },
];

/// `npm ci`, `npm install`, `yarn [install]`, `pnpm install`.
fn is_node_install(c: &Command) -> bool {
    ["ci", "install", "i"]
        .iter()
        .any(|s| is_invocation(c, "npm", Some(s)))
        || is_invocation(c, "yarn", Some("install"))
        || (is_invocation(c, "yarn", None) && c.argv.len() == 1)
        || is_invocation(c, "pnpm", Some("install"))
}

/// `pip install …` / `pip3 install …` / `python -m pip install …`.
fn is_pip_install(c: &Command) -> bool {
    is_invocation(c, "pip", Some("install"))
        || is_invocation(c, "pip3", Some("install"))
        || (c.argv.iter().any(|a| a == "pip") && c.argv.iter().any(|a| a == "install"))
}

/// Checks each stage that copies the whole context.
pub(super) fn check(cx: &mut Context) {
    let df = cx.df;
    for stage in &df.stages {
        let Some(full) = stage.instructions.iter().position(is_context_copy) else {
            continue;
        };
        for eco in ECOSYSTEMS {
            if needs_after(stage, full, eco) && !prefetched(stage, full, eco) {
                let copy = &stage.instructions[full];
                cx.report(
                    "dockerfile.deps-not-cached",
                    copy.line,
                    format!(
                        "{} dependencies are only fetched after `{}`, so every source change re-downloads them",
                        eco.name, copy.original
                    ),
                    eco.advice,
                );
            }
        }
    }
}

/// A `RUN` after the full copy needs dependencies and has no cache mount
/// for them.
fn needs_after(stage: &Stage, full: usize, eco: &Ecosystem) -> bool {
    stage.instructions[full + 1..]
        .iter()
        .filter(|i| i.keyword == "RUN")
        .filter(|run| !has_cache_mount(run, eco.cache_dir))
        .any(|run| commands(&run.script()).iter().any(|c| (eco.needs)(c)))
}

/// `--mount=type=cache,target=…<dir>…`.
fn has_cache_mount(run: &Instruction, dir: &str) -> bool {
    run.mounts()
        .iter()
        .any(|m| m.kind == "cache" && m.target.as_deref().is_some_and(|t| t.contains(dir)))
}

/// Before the full copy: a `RUN` that downloads dependencies, with a
/// manifest copied before it or bind-mounted into it.
fn prefetched(stage: &Stage, full: usize, eco: &Ecosystem) -> bool {
    let before = &stage.instructions[..full];
    before.iter().enumerate().any(|(index, run)| {
        let installs =
            run.keyword == "RUN" && commands(&run.script()).iter().any(|c| (eco.installs)(c));
        let copied = before[..index]
            .iter()
            .filter(|i| matches!(i.keyword.as_str(), "COPY" | "ADD"))
            .any(|copy| copy.copy_sources().iter().any(|s| is_manifest(s, eco)));
        let bound = run
            .mounts()
            .iter()
            .any(|m| m.kind == "bind" && m.source.as_deref().is_some_and(|s| is_manifest(s, eco)));
        installs && (copied || bound)
    })
}

/// True if a path names one of the ecosystem's manifests.
fn is_manifest(path: &str, eco: &Ecosystem) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    eco.manifests.contains(&name)
}
