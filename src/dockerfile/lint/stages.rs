//! Checks on the stage structure and on what the final stage ships:
//! toolchain images, base image, copied trees, start command, user, ports.

use super::image::ImageRef;
use super::{variables_at, Context};
use crate::dockerfile::ast::{Instruction, Stage};
use crate::dockerfile::expand::expand;
use crate::dockerfile::shell::{commands, is_invocation};

/// Runs every stage/final-image check.
pub(super) fn check(cx: &mut Context) {
    single_stage_toolchain(cx);
    final_stage_toolchain(cx);
    unexpected_base(cx);
    copies_build_tree(cx);
    sources_in_final_image(cx);
    shell_form(cx);
    runs_as_root(cx);
    expose_mismatch(cx);
}

/// One stage, a toolchain image, and a build run inside it.
fn single_stage_toolchain(cx: &mut Context) {
    let [stage] = &cx.df.stages[..] else {
        return;
    };
    let image = ImageRef::parse(&cx.df.root_image(stage));
    let Some(toolchain) = image.toolchain() else {
        return;
    };
    let builds = stage
        .instructions
        .iter()
        .filter(|i| i.keyword == "RUN")
        .any(|run| {
            commands(&run.script()).iter().any(|c| {
                toolchain
                    .builds
                    .iter()
                    .any(|(program, sub)| is_invocation(c, program, *sub))
            })
        });
    if builds {
        cx.report(
            "dockerfile.single-stage-toolchain",
            stage.from_line,
            format!(
                "single-stage build on the {} toolchain image `{}`: the compiler, module/build caches and sources all ship in the final image",
                toolchain.image, stage.base
            ),
            "Build in a `FROM … AS builder` stage, then start a second stage FROM scratch or alpine and COPY --from=builder only the binary (and CA certificates).",
        );
    }
}

/// Multi-stage, but the final stage still starts from a compiler image.
fn final_stage_toolchain(cx: &mut Context) {
    let Some((stage, image)) = cx.final_stage() else {
        return;
    };
    let compiled = image.toolchain().filter(|t| t.compiled);
    if let (Some(toolchain), true) = (compiled, cx.df.stages.len() > 1) {
        cx.report(
            "dockerfile.final-stage-toolchain",
            stage.from_line,
            format!(
                "the final stage `FROM {}` runs on the {} toolchain image `{}`, so the toolchain ships with the service",
                stage.base,
                toolchain.image,
                cx.df.root_image(stage)
            ),
            "Base the final stage on scratch or a small runtime image (alpine, distroless) and COPY --from the build stage only the artifact.",
        );
    }
}

/// The final base differs from `expect_base`.
fn unexpected_base(cx: &mut Context) {
    let (Some((stage, image)), Some(expected)) = (cx.final_stage(), cx.opts.expect_base.clone())
    else {
        return;
    };
    let ok = expected
        .split('|')
        .map(|e| ImageRef::parse(e.trim()))
        .any(|e| image.satisfies(&e));
    if !ok {
        cx.report(
            "dockerfile.unexpected-base",
            stage.from_line,
            format!(
                "the final stage is based on `{}`, expected `{expected}`",
                cx.df.root_image(stage)
            ),
            &format!(
                "Start the final stage with `FROM {}`.",
                expected.split('|').next().unwrap_or("")
            ),
        );
    }
}

/// Paths that are fine to copy whole from another stage: CA certificates,
/// time zones, user databases.
const RUNTIME_DATA: &[&str] = &[
    "/etc/ssl",
    "/etc/pki",
    "/usr/share/ca-certificates",
    "/usr/share/zoneinfo",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
];

/// Toolchain and source directories that never belong in a final image.
const BUILD_TREES: &[&str] = &[
    "/go",
    "/usr/local/go",
    "/root/go",
    "/root/.cache",
    "/src",
    "/usr/src",
];

/// `COPY --from=<stage>` of `/`, `.`, the stage's WORKDIR (or a parent of
/// it) or a toolchain directory, into the final stage. `--from` sources are
/// relative to the source stage's root, not to its WORKDIR.
fn copies_build_tree(cx: &mut Context) {
    let Some(stage) = cx.df.final_stage() else {
        return;
    };
    for copy in stage.instructions.iter().filter(|i| i.keyword == "COPY") {
        let Some(from) = copy.flag_value("from") else {
            continue;
        };
        let workdir = cx
            .df
            .stage_ref(from, stage.index)
            .map(|s| workdir_of(cx, s));
        let tree = copy.copy_sources().iter().find(|source| {
            let path = normalize_source(source, "/");
            let under = |dir: &str| path == dir || path.starts_with(&format!("{dir}/"));
            !RUNTIME_DATA.iter().any(|d| under(d))
                && (path == "/"
                    || workdir
                        .as_deref()
                        .is_some_and(|w| w == path || w.starts_with(&format!("{path}/")))
                    || BUILD_TREES.iter().any(|d| under(d)))
        });
        if let Some(source) = tree {
            cx.report(
                "dockerfile.copies-build-tree",
                copy.line,
                format!(
                    "`COPY --from={from} {source}` copies a whole build tree into the final image (sources, caches, intermediate files), not just the artifact"
                ),
                "Copy only the built binary (and CA certificates), e.g. `COPY --from=builder /app/app /app`.",
            );
        }
    }
}

/// A COPY source as an absolute path without trailing `/`, `/.` or `/*`.
fn normalize_source(source: &str, workdir: &str) -> String {
    let absolute = if source.starts_with('/') {
        source.to_string()
    } else {
        format!("{}/{source}", workdir.trim_end_matches('/'))
    };
    let mut path = absolute.as_str();
    loop {
        let trimmed = path
            .trim_end_matches('/')
            .trim_end_matches("/.")
            .trim_end_matches("/*");
        if trimmed == path {
            break;
        }
        path = trimmed;
    }
    if path.is_empty() || path == "." {
        "/".to_string()
    } else {
        path.to_string()
    }
}

/// The working directory at the end of a stage (relative WORKDIRs resolved).
fn workdir_of(cx: &Context, stage: &Stage) -> String {
    let mut dir = String::from("/");
    for instr in cx.df.chain(stage).into_iter().flat_map(|s| &s.instructions) {
        if let (true, Some(path)) = (instr.keyword == "WORKDIR", instr.words().first()) {
            dir = if path.starts_with('/') {
                path.clone()
            } else {
                format!("{}/{path}", dir.trim_end_matches('/'))
            };
        }
    }
    normalize_source(&dir, "/")
}

/// The final stage of a multi-stage build copies the build context.
fn sources_in_final_image(cx: &mut Context) {
    let (Some(stage), true) = (cx.df.final_stage(), cx.df.stages.len() > 1) else {
        return;
    };
    for copy in stage.instructions.iter().filter(|i| is_context_copy(i)) {
        cx.report(
            "dockerfile.sources-in-final-image",
            copy.line,
            format!("`{}` in the final stage ships the whole build context (sources, .git, local files) in the image", copy.original),
            "Copy only the artifact from the build stage (COPY --from=builder …) and keep `COPY . .` in the build stage.",
        );
    }
}

/// `COPY . <dest>` / `ADD ./ <dest>` from the build context.
pub(super) fn is_context_copy(instr: &Instruction) -> bool {
    matches!(instr.keyword.as_str(), "COPY" | "ADD")
        && instr.flag("from").is_none()
        && instr
            .copy_sources()
            .iter()
            .any(|s| matches!(s.as_str(), "." | "./" | "*"))
}

/// Shell-form start commands: fatal without a shell, a signal problem with one.
fn shell_form(cx: &mut Context) {
    let Some((_, image)) = cx.final_stage() else {
        return;
    };
    let instructions = cx.final_instructions();
    for keyword in ["ENTRYPOINT", "CMD", "HEALTHCHECK"] {
        let Some(last) = instructions.iter().rev().find(|i| i.keyword == keyword) else {
            continue;
        };
        if !last.is_shell_form() {
            continue;
        }
        if image.has_no_shell() {
            cx.report(
                "dockerfile.shell-form-on-scratch",
                last.line,
                format!("shell-form {keyword} needs /bin/sh, which `{}` does not have: the container fails to start", image.name),
                &format!("Use exec form: {keyword} [\"/app\", \"arg\"]."),
            );
        } else if keyword != "HEALTHCHECK" {
            cx.report(
                "dockerfile.shell-form-cmd",
                last.line,
                format!("shell-form {keyword} runs the service as a child of /bin/sh -c, which does not forward SIGTERM"),
                &format!("Use exec form: {keyword} [\"./app\"]."),
            );
        }
    }
}

/// No `USER`, or `USER root`/`0`, in the final image.
fn runs_as_root(cx: &mut Context) {
    let Some((stage, image)) = cx.final_stage() else {
        return;
    };
    if image.tag.as_deref().unwrap_or("").contains("nonroot") {
        return;
    }
    let instructions = cx.final_instructions();
    match instructions.iter().rev().find(|i| i.keyword == "USER") {
        None => cx.report(
            "dockerfile.runs-as-root",
            stage.from_line,
            "the final stage sets no USER, so the service runs as root (uid 0)".to_string(),
            "Add `USER 65532:65532` (scratch) or create a user (alpine: `adduser -D -u 10001 app`) and `USER app`.",
        ),
        Some(user) if is_root(user.words().first().map_or("", String::as_str)) => cx.report(
            "dockerfile.runs-as-root",
            user.line,
            format!("`{}` makes the service run as root", user.original),
            "Switch to an unprivileged user, e.g. `USER 65532:65532`.",
        ),
        Some(_) => {}
    }
}

/// `root`, `0`, `root:…` or `0:…`.
fn is_root(user: &str) -> bool {
    matches!(user.split(':').next(), Some("root" | "0"))
}

/// The final stage must `EXPOSE` the expected port (TCP).
fn expose_mismatch(cx: &mut Context) {
    let (Some((stage, _)), Some(port)) = (cx.final_stage(), cx.opts.expect_port) else {
        return;
    };
    let vars = variables_at(cx.df, stage, stage.instructions.len());
    let lookup = |name: &str| vars.get(name).cloned();
    let exposes: Vec<&Instruction> = cx
        .final_instructions()
        .into_iter()
        .filter(|i| i.keyword == "EXPOSE")
        .collect();
    let covered = exposes
        .iter()
        .flat_map(|i| i.words())
        .any(|w| port_covers(&expand(w, &lookup), port));
    match exposes.last() {
        _ if covered => {}
        None => cx.report(
            "dockerfile.expose-mismatch",
            stage.from_line,
            format!("the final stage does not EXPOSE {port}"),
            &format!("Add `EXPOSE {port}` to the final stage."),
        ),
        Some(last) => cx.report(
            "dockerfile.expose-mismatch",
            last.line,
            format!(
                "`{}` does not expose the expected port {port}/tcp",
                last.original
            ),
            &format!("Expose the port the service listens on: `EXPOSE {port}`."),
        ),
    }
}

/// True if an EXPOSE word (`8080`, `8080/tcp`, `8000-8100`) covers `port`/tcp.
fn port_covers(word: &str, port: u16) -> bool {
    let (ports, proto) = word.split_once('/').unwrap_or((word, "tcp"));
    if !proto.eq_ignore_ascii_case("tcp") {
        return false;
    }
    let (low, high) = ports.split_once('-').unwrap_or((ports, ports));
    match (low.parse::<u16>(), high.parse::<u16>()) {
        (Ok(low), Ok(high)) => (low..=high).contains(&port),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_normalised() {
        assert_eq!(normalize_source("/app/", "/"), "/app");
        assert_eq!(normalize_source(".", "/app"), "/app");
        assert_eq!(normalize_source("./*", "/src"), "/src");
        assert_eq!(normalize_source("/", "/x"), "/");
        assert_eq!(normalize_source("bin/app", "/app"), "/app/bin/app");
    }

    #[test]
    fn ports() {
        assert!(port_covers("8080", 8080) && port_covers("8080/TCP", 8080));
        assert!(port_covers("8000-8100", 8080));
        assert!(
            !port_covers("8080/udp", 8080) && !port_covers("80", 8080) && !port_covers("x", 8080)
        );
    }
}
