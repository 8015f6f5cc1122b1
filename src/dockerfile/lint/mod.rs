//! Dockerfile lint for the multi-stage, secret-mount scenario: every check
//! has a stable kebab-case id (listed with its severity in [`RULES`]) and
//! reports the line it is about.

mod deps;
mod golang;
mod image;
mod secrets;
mod stages;

use std::collections::HashMap;

use serde::Serialize;

use super::ast::{Dockerfile, Instruction, Stage};
use super::expand::expand;
pub use image::ImageRef;

/// What the Dockerfile is expected to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintOptions {
    /// The port the final image must `EXPOSE` (TCP).
    pub expect_port: Option<u16>,
    /// The final stage's base, e.g. `alpine:3.19`; alternatives may be
    /// separated by `|` (`alpine:3.19|scratch`). See [`ImageRef::satisfies`]
    /// for how tags compare (`3.19` accepts `3.19.1`).
    pub expect_base: Option<String>,
    /// BuildKit secret ids the build must consume with
    /// `RUN --mount=type=secret,id=<id>` (e.g. `["api_key"]`).
    pub secret_ids: Vec<String>,
}

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lint {
    /// Stable id from [`RULES`], e.g. `dockerfile.secret-in-copy`.
    pub rule: &'static str,
    /// `critical`, `high`, `medium`, `low` or `info` (fixed per rule).
    pub severity: &'static str,
    /// 1-based line in the Dockerfile.
    pub line: usize,
    /// One line: what is wrong and why it matters.
    pub message: String,
    /// One line: how to fix it.
    pub remediation: String,
}

/// Every lint id with its severity and a description (for docs and SARIF).
pub const RULES: &[(&str, &str, &str)] = &[
    ("dockerfile.parse-error", "high", "BuildKit would refuse this line (unknown instruction, bad arguments or flags); the build fails before anything runs."),
    ("dockerfile.syntax-directive", "info", "A `# syntax=` directive makes BuildKit pull that frontend image from a registry before building, which fails offline; the built-in frontend needs none."),
    ("dockerfile.single-stage-toolchain", "high", "The only stage is a build toolchain image that compiles in place, so the compiler, caches and sources ship in the final image."),
    ("dockerfile.final-stage-toolchain", "high", "The final stage is (or derives from) a compiler toolchain image; copy the artifact into a minimal base instead."),
    ("dockerfile.unexpected-base", "medium", "The final stage's base image is not the expected one."),
    ("dockerfile.secret-in-copy", "critical", "COPY/ADD of a credential-looking file (key, .pem, .env, credentials…) writes it into an image layer, where deleting it later does not remove it."),
    ("dockerfile.secret-in-arg", "high", "A secret-looking ARG: build-arg values are recorded in the image history of every RUN that follows (`RUN |1 NAME=value …`)."),
    ("dockerfile.secret-in-env", "high", "A secret-looking ENV with a value: it is stored in the image config and visible to anyone who can pull the image."),
    ("dockerfile.secret-copied-to-layer", "critical", "A RUN reads /run/secrets/… without the matching secret mount, or copies/redirects the secret into a file that becomes part of the layer."),
    ("dockerfile.secret-not-mounted", "high", "An expected BuildKit secret id is never consumed with `RUN --mount=type=secret,id=<id>`."),
    ("dockerfile.deps-not-cached", "low", "Dependencies are fetched after copying the whole source tree, so every source change re-downloads them; copy the manifests and download first."),
    ("dockerfile.go-not-static", "medium", "`go build` without CGO_ENABLED=0 for a scratch/distroless-static final image (or a glibc builder for an Alpine final image): the binary may need a libc the final image lacks."),
    ("dockerfile.go-not-stripped", "low", "`go build` without `-ldflags=\"-s -w\"`: the binary keeps its symbol and DWARF tables, often a third of its size."),
    ("dockerfile.go-no-trimpath", "info", "`go build` without `-trimpath`: build paths are embedded in the binary and the build is less reproducible."),
    ("dockerfile.shell-form-on-scratch", "high", "Shell-form CMD/ENTRYPOINT/HEALTHCHECK on an image without /bin/sh (scratch, distroless): the container cannot start."),
    ("dockerfile.shell-form-cmd", "info", "Shell-form CMD/ENTRYPOINT runs the service under /bin/sh -c, which does not forward SIGTERM; exec form starts it as PID 1."),
    ("dockerfile.runs-as-root", "low", "The final stage sets no non-root USER, so the service runs as root."),
    ("dockerfile.expose-mismatch", "medium", "The final stage does not EXPOSE the expected port."),
    ("dockerfile.copies-build-tree", "medium", "The final stage copies a whole directory tree (/, the build stage's WORKDIR, GOPATH…) from another stage instead of just the artifact."),
    ("dockerfile.sources-in-final-image", "medium", "The final stage of a multi-stage build copies the build context (`COPY . .`), shipping sources and anything else in the context."),
];

/// Lints a parsed Dockerfile. Findings are sorted by line, then rule id.
pub fn lint(df: &Dockerfile, opts: &LintOptions) -> Vec<Lint> {
    let mut cx = Context {
        df,
        opts,
        lints: Vec::new(),
    };
    parse_errors(&mut cx);
    syntax_directive(&mut cx);
    stages::check(&mut cx);
    secrets::check(&mut cx);
    deps::check(&mut cx);
    golang::check(&mut cx);
    cx.lints
        .sort_by(|a, b| (a.line, a.rule).cmp(&(b.line, b.rule)));
    cx.lints
}

/// Shared state of one lint run.
struct Context<'a> {
    df: &'a Dockerfile,
    opts: &'a LintOptions,
    lints: Vec<Lint>,
}

impl<'a> Context<'a> {
    /// Records a finding; the severity comes from [`RULES`].
    fn report(&mut self, rule: &'static str, line: usize, message: String, remediation: &str) {
        let severity = RULES
            .iter()
            .find(|(id, _, _)| *id == rule)
            .map_or("info", |(_, severity, _)| *severity);
        self.lints.push(Lint {
            rule,
            severity,
            line,
            message,
            remediation: remediation.to_string(),
        });
    }

    /// The stage that is built by default, with the image it starts from.
    fn final_stage(&self) -> Option<(&'a Stage, ImageRef)> {
        let stage = self.df.final_stage()?;
        Some((stage, ImageRef::parse(&self.df.root_image(stage))))
    }

    /// The instructions that shape the final image: those of the final
    /// stage's chain (`FROM builder` inherits builder's), in order.
    fn final_instructions(&self) -> Vec<&'a Instruction> {
        let Some(stage) = self.df.final_stage() else {
            return Vec::new();
        };
        let chain = self.df.chain(stage);
        chain.into_iter().flat_map(|s| &s.instructions).collect()
    }
}

/// Variables visible to `stage.instructions[upto]`: `ENV`s of the stage's
/// chain and the stage's own `ARG` defaults (a redeclared global `ARG`
/// takes the global default); `ENV` wins over `ARG`.
fn variables_at(df: &Dockerfile, stage: &Stage, upto: usize) -> HashMap<String, String> {
    let mut env = HashMap::new();
    let mut args = HashMap::new();
    for current in df.chain(stage) {
        args.clear();
        let count = if current.index == stage.index {
            upto
        } else {
            current.instructions.len()
        };
        for instr in current.instructions.iter().take(count) {
            for (name, default) in instr.declarations() {
                let value = default.clone().or_else(|| df.global_arg_default(name));
                args.insert(name.clone(), value.unwrap_or_default());
            }
            for (key, value) in instr.key_values().iter().filter(|_| instr.keyword == "ENV") {
                let lookup = |n: &str| env.get(n).or_else(|| args.get(n)).cloned();
                let value = expand(value, &lookup);
                env.insert(key.clone(), value);
            }
        }
    }
    args.extend(env);
    args
}

/// One finding per parse error.
fn parse_errors(cx: &mut Context) {
    for error in &cx.df.errors {
        cx.report(
            "dockerfile.parse-error",
            error.line,
            format!("dockerfile parse error: {}", error.message),
            "Fix or remove this line (a stray `---` or Markdown line is not a Dockerfile instruction); BuildKit stops at the first error.",
        );
    }
}

/// `# syntax=` makes the build depend on pulling a frontend image.
fn syntax_directive(cx: &mut Context) {
    for directive in cx.df.directives.iter().filter(|d| d.name == "syntax") {
        cx.report(
            "dockerfile.syntax-directive",
            directive.line,
            format!(
                "`# syntax={}` makes BuildKit pull the frontend image {} before building (fails offline or without registry access)",
                directive.value, directive.value
            ),
            "Drop the directive if the built-in frontend suffices, or pin it by digest and mirror it for offline builds.",
        );
    }
}

#[cfg(test)]
mod tests;
