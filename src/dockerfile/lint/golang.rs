//! `go build` flags: static linking for libc-less (or musl) final images,
//! stripped symbols, `-trimpath`.

use std::collections::HashMap;

use super::image::ImageRef;
use super::{variables_at, Context};
use crate::dockerfile::ast::Instruction;
use crate::dockerfile::shell::{commands, is_invocation, Command};

/// What one `RUN` does wrong with its Go builds.
#[derive(Default)]
struct Problems {
    dynamic: bool,
    unstripped: bool,
    untrimmed: bool,
}

/// Checks every `go build` (and `go install` of local packages) in every stage.
pub(super) fn check(cx: &mut Context) {
    let Some((_, final_image)) = cx.final_stage() else {
        return;
    };
    let df = cx.df;
    for stage in &df.stages {
        let builder = ImageRef::parse(&df.root_image(stage));
        let mut go_env = HashMap::new();
        for (index, run) in stage.instructions.iter().enumerate() {
            if run.keyword != "RUN" {
                continue;
            }
            let vars = variables_at(df, stage, index);
            let problems = inspect_run(run, &vars, &mut go_env);
            let needs_cgo_off =
                final_image.needs_static_binary() || (final_image.is_musl() && !builder.is_musl());
            report(cx, run, &problems, needs_cgo_off, &final_image, &builder);
        }
    }
}

/// Walks the commands of one `RUN`, tracking `export`s and `go env -w`.
fn inspect_run(
    run: &Instruction,
    vars: &HashMap<String, String>,
    go_env: &mut HashMap<String, String>,
) -> Problems {
    let mut problems = Problems::default();
    let mut exported: HashMap<String, String> = HashMap::new();
    for command in commands(&run.script()) {
        if command.argv.first().is_some_and(|p| p == "export") {
            exported.extend(command.argv.iter().skip(1).filter_map(|a| {
                a.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            }));
        }
        if is_invocation(&command, "go", Some("env")) && command.argv.iter().any(|a| a == "-w") {
            go_env.extend(command.argv.iter().skip(2).filter_map(|a| {
                a.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            }));
        }
        if !is_go_build(&command) {
            continue;
        }
        let lookup = |name: &str| {
            command
                .env
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .or_else(|| exported.get(name).cloned())
                .or_else(|| vars.get(name).cloned())
                .or_else(|| go_env.get(name).cloned())
        };
        let goflags = lookup("GOFLAGS").unwrap_or_default();
        problems.dynamic |= lookup("CGO_ENABLED").as_deref() != Some("0");
        problems.unstripped |= !is_stripped(&command, &goflags);
        problems.untrimmed |= !command
            .argv
            .iter()
            .chain([&goflags])
            .any(|a| a.contains("-trimpath"));
    }
    problems
}

/// `go build`, or `go install` of local packages (not `tool@version`).
fn is_go_build(command: &Command) -> bool {
    is_invocation(command, "go", Some("build"))
        || (is_invocation(command, "go", Some("install"))
            && !command.argv.iter().any(|a| a.contains('@')))
}

/// True if the linker flags (argument or GOFLAGS) include both `-s` and `-w`.
fn is_stripped(command: &Command, goflags: &str) -> bool {
    let mut values = Vec::new();
    let mut args = command
        .argv
        .iter()
        .map(String::as_str)
        .chain(goflags.split_whitespace());
    while let Some(arg) = args.next() {
        match arg.trim_start_matches('-').split_once('=') {
            Some(("ldflags", value)) => values.push(value.to_string()),
            None if arg.trim_start_matches('-') == "ldflags" => {
                values.extend(args.next().map(str::to_string));
            }
            _ => {}
        }
    }
    let flags: Vec<&str> = values.iter().flat_map(|v| v.split_whitespace()).collect();
    flags.contains(&"-s") && flags.contains(&"-w")
}

/// Turns the problems of one `RUN` into findings.
fn report(
    cx: &mut Context,
    run: &Instruction,
    problems: &Problems,
    needs_cgo_off: bool,
    final_image: &ImageRef,
    builder: &ImageRef,
) {
    if problems.dynamic && needs_cgo_off {
        let why = if final_image.needs_static_binary() {
            format!(
                "the final image `{}` has no libc, so a cgo-linked binary cannot start",
                final_image.name
            )
        } else {
            format!(
                "the builder `{}` links against glibc but the final image is musl-based `{}`",
                builder.name, final_image.name
            )
        };
        cx.report(
            "dockerfile.go-not-static",
            run.line,
            format!("`go build` without CGO_ENABLED=0: {why}"),
            "Build with `CGO_ENABLED=0 go build …` (or `ENV CGO_ENABLED=0` in the build stage) to get a static binary.",
        );
    }
    if problems.unstripped {
        cx.report(
            "dockerfile.go-not-stripped",
            run.line,
            "`go build` without `-ldflags=\"-s -w\"`: symbol and DWARF tables stay in the binary, counting against the image size budget".to_string(),
            "Add `-ldflags=\"-s -w\"` to the go build command.",
        );
    }
    if problems.untrimmed {
        cx.report(
            "dockerfile.go-no-trimpath",
            run.line,
            "`go build` without `-trimpath`: builder file-system paths are embedded in the binary"
                .to_string(),
            "Add `-trimpath` to the go build command.",
        );
    }
}
