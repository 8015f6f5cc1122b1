//! `entrypoint-runnable` and `go-binary`: ENTRYPOINT/CMD resolve (WORKDIR,
//! PATH, symlinks inside the image) to an executable for the image's
//! architecture whose interpreter and libraries are present; a Go entrypoint's
//! build info says how it was built, and its `-ldflags -X` carry no secret.

use super::{elf, gobuildinfo, normalize, outcome, Context, Status};
use crate::image::spec::ImageConfig;
use crate::layer::EntryKind;
use crate::redact::redact;
use crate::report::PolicyResult;
use serde_json::json;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const SHELLS: &[&str] = &["/bin/sh", "sh", "/bin/bash", "bash", "/bin/ash"];

/// What the container runs.
pub struct Entry {
    pub argv: Vec<String>,
    /// The shell a shell-form command needs (`/bin/sh -c ...`).
    pub shell: Option<String>,
    /// The program as named, and where it resolves in the image.
    pub program: Option<String>,
    pub resolved: Option<String>,
}

fn argv(config: &ImageConfig) -> Vec<String> {
    let c = &config.config;
    if c.entrypoint.is_empty() {
        c.cmd.clone()
    } else {
        c.entrypoint.iter().chain(&c.cmd).cloned().collect()
    }
}

fn env_path(config: &ImageConfig) -> String {
    config
        .config
        .env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
        .to_string()
}

/// (shell, program) the argv asks for.
fn split(argv: &[String]) -> (Option<String>, Option<String>) {
    match argv {
        [sh, c, script, ..] if SHELLS.contains(&sh.as_str()) && c == "-c" => {
            let first = script.split_whitespace().next().map(String::from);
            (Some(sh.clone()), first.filter(|w| !w.contains('=')))
        }
        [prog, ..] => (None, Some(prog.clone())),
        [] => (None, None),
    }
}

/// Absolute candidates for a program name: WORKDIR-relative with a slash,
/// else each PATH directory.
fn candidates(config: &ImageConfig, prog: &str) -> Vec<String> {
    if prog.contains('/') {
        let wd = config.config.working_dir.clone().unwrap_or_default();
        vec![normalize(&format!("/{wd}/{prog}"))]
    } else {
        env_path(config)
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| normalize(&format!("{d}/{prog}")))
            .collect()
    }
}

/// Paths the first pass should keep so the checks need no second pass in
/// the usual case (no symlinks on the way).
pub fn predicted_paths(config: &ImageConfig) -> Vec<String> {
    let (shell, prog) = split(&argv(config));
    let mut out = Vec::new();
    if let Some(p) = prog {
        out.extend(candidates(config, &p));
    }
    if let Some(s) = shell {
        out.extend(candidates(config, &s));
    }
    out
}

/// Finds the program in the final filesystem.
fn find(ctx: &Context, prog: &str) -> Option<String> {
    candidates(ctx.config, prog).into_iter().find_map(|c| {
        ctx.fs
            .lookup(&c)
            .filter(|(_, _, e)| e.kind == EntryKind::File)
            .map(|(real, _, _)| real)
    })
}

pub fn resolve(ctx: &Context) -> Entry {
    let argv = argv(ctx.config);
    let (shell, program) = split(&argv);
    let resolved = program.as_deref().and_then(|p| find(ctx, p));
    Entry {
        argv,
        shell,
        program,
        resolved,
    }
}

/// Where the dynamic loader looks for DT_NEEDED libraries.
fn lib_dirs(arch: &str) -> Vec<String> {
    let triplet = match arch {
        "amd64" => "x86_64-linux-gnu",
        "arm64" => "aarch64-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "386" => "i386-linux-gnu",
        "ppc64le" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        _ => "",
    };
    let mut dirs: Vec<String> = ["/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if !triplet.is_empty() {
        dirs.push(format!("/lib/{triplet}"));
        dirs.push(format!("/usr/lib/{triplet}"));
    }
    dirs
}

fn exists(ctx: &Context, path: &str) -> bool {
    ctx.fs
        .lookup(path)
        .is_some_and(|(_, _, e)| e.kind == EntryKind::File)
}

/// Why the resolved program cannot run, or how it runs.
fn verdict(ctx: &Context, path: &str) -> Result<String, String> {
    let (_, _, e) = ctx
        .fs
        .lookup(path)
        .ok_or_else(|| format!("{path} is not in the image"))?;
    if e.mode & 0o111 == 0 {
        return Err(format!(
            "{path} is not executable (mode {:o})",
            e.mode & 0o7777
        ));
    }
    let data = match ctx.fs.read(path) {
        Ok(Some(d)) => d,
        Ok(None) => return Err(format!("{path} is not a regular file")),
        Err(err) => return Err(format!("{path}: cannot read: {err:#}")),
    };
    if let Some(rest) = data.strip_prefix(b"#!") {
        let line = rest.split(|&b| b == b'\n').next().unwrap_or(b"");
        let line = String::from_utf8_lossy(line);
        let interp = line.split_whitespace().next().unwrap_or("").to_string();
        return if exists(ctx, &interp) {
            Ok(format!("{path}: script run by {interp}"))
        } else {
            Err(format!(
                "{path}: script interpreter {interp} is not in the image"
            ))
        };
    }
    let info = match elf::inspect(&data) {
        Ok(Some(info)) => info,
        Ok(None) => {
            return Err(format!(
                "{path} is neither an ELF executable nor a #! script"
            ))
        }
        Err(err) => return Err(format!("{path}: malformed ELF: {err:#}")),
    };
    let arch = &ctx.config.architecture;
    if !elf::oci_arch_matches(&info, arch, ctx.config.variant.as_deref()) {
        return Err(format!(
            "{path} is an ELF for {}, the image is {arch}",
            info.machine
        ));
    }
    if info.static_linked {
        return Ok(format!("{path}: static ELF {}", info.machine));
    }
    let mut missing = Vec::new();
    if let Some(interp) = &info.interpreter {
        if !exists(ctx, interp) {
            missing.push(format!("interpreter {interp}"));
        }
    }
    let dirs = lib_dirs(arch);
    for lib in &info.needed {
        if !dirs.iter().any(|d| exists(ctx, &format!("{d}/{lib}"))) {
            missing.push(lib.clone());
        }
    }
    if missing.is_empty() {
        Ok(format!(
            "{path}: dynamic ELF {}, interpreter and {} libraries present",
            info.machine,
            info.needed.len()
        ))
    } else {
        Err(format!(
            "{path} is dynamically linked but {} missing: {}",
            if missing.len() == 1 { "is" } else { "are" },
            missing.join(", ")
        ))
    }
}

pub fn check(ctx: &Context, entry: &Entry) -> PolicyResult {
    let measured = json!({"argv": entry.argv, "resolved": entry.resolved, "shell": entry.shell});
    let fail = |m: String| {
        outcome(
            "entrypoint-runnable",
            Status::Fail,
            measured.clone(),
            json!(null),
            m,
            vec![],
        )
    };
    if entry.argv.is_empty() {
        return fail("no ENTRYPOINT or CMD: the container has nothing to run".into());
    }
    if let Some(sh) = &entry.shell {
        if find(ctx, sh).is_none() {
            return fail(format!(
                "shell-form command needs {sh}, which is not in the image: use the exec form, e.g. CMD [\"/app\"]"
            ));
        }
    }
    let Some(prog) = &entry.program else {
        return outcome(
            "entrypoint-runnable",
            Status::Warn,
            measured.clone(),
            json!(null),
            "cannot tell what the shell command runs",
            vec![],
        );
    };
    let Some(path) = &entry.resolved else {
        return fail(format!(
            "{prog} is not in the image (WORKDIR {:?}, PATH searched)",
            ctx.config.config.working_dir.clone().unwrap_or_default()
        ));
    };
    match verdict(ctx, path) {
        Ok(m) => outcome(
            "entrypoint-runnable",
            Status::Pass,
            measured,
            json!(null),
            m,
            vec![],
        ),
        Err(m) => fail(m),
    }
}

pub fn check_go(ctx: &Context, entry: &Entry) -> PolicyResult {
    let skip = |m: &str| {
        outcome(
            "go-binary",
            Status::Skip,
            json!(null),
            json!(null),
            m,
            vec![],
        )
    };
    let Some(path) = &entry.resolved else {
        return skip("no entrypoint binary");
    };
    let Ok(Some(data)) = ctx.fs.read(path) else {
        return skip("entrypoint not readable");
    };
    let Some(info) = gobuildinfo::parse(&data) else {
        return skip("the entrypoint is not a Go binary");
    };
    let elf = elf::inspect(&data).ok().flatten();
    let static_linked = elf.as_ref().is_some_and(|e| e.static_linked);
    let stripped = elf.as_ref().is_some_and(|e| e.stripped);
    let mut secrets = Vec::new();
    if let Some(ldflags) = info.ldflags() {
        for (name, value) in gobuildinfo::ldflags_x_values(ldflags) {
            let var = name.rsplit('.').next().unwrap_or(&name);
            let mut matches = Vec::new();
            ctx.rules.scan(value.as_bytes(), None, &mut matches);
            let hit = matches
                .first()
                .map(|m| (m.rule, m.secret.clone()))
                .or_else(|| {
                    ctx.rules
                        .config_rule(var, &value)
                        .map(|r| (r, 0..value.len()))
                });
            if let Some((rule, range)) = hit {
                let r = &ctx.rules.rule(rule).def;
                secrets.push(format!(
                    "-X {name}={} ({}, fingerprint {})",
                    redact(value.as_bytes(), range.clone(), &r.keywords),
                    r.id,
                    crate::redact::fingerprint(&value.as_bytes()[range])
                ));
            }
        }
    }
    let mut notes = Vec::new();
    if !static_linked {
        notes.push("dynamically linked (build with CGO_ENABLED=0 for scratch)");
    }
    if !stripped {
        notes.push("not stripped (-ldflags \"-s -w\")");
    }
    if !info.trimpath() {
        notes.push("built without -trimpath");
    }
    if info.ldflags().is_none() && info.trimpath() {
        notes.push("-ldflags not recorded (Go omits them from -trimpath builds; the binary's strings were scanned by the content rules)");
    }
    if info.vcs_modified() == Some(true) {
        notes.push("built from a modified VCS tree");
    }
    let summary = format!(
        "{path}: {} {} ({}, {}, CGO_ENABLED={})",
        info.path.as_deref().unwrap_or("?"),
        info.go_version,
        if static_linked { "static" } else { "dynamic" },
        if stripped { "stripped" } else { "not stripped" },
        info.cgo_enabled()
            .map_or("?".to_string(), |c| (c as u8).to_string())
    );
    let (status, message) = if !secrets.is_empty() {
        (
            Status::Fail,
            format!("{summary}: secret in -ldflags -X: {}", secrets.join("; ")),
        )
    } else if notes.is_empty() {
        (Status::Pass, summary)
    } else {
        (Status::Warn, format!("{summary}: {}", notes.join("; ")))
    };
    outcome(
        "go-binary",
        status,
        json!({"go_version": info.go_version, "path": info.path, "static": static_linked, "stripped": stripped, "trimpath": info.trimpath(), "cgo_enabled": info.cgo_enabled(), "vcs_modified": info.vcs_modified()}),
        json!({"static": true, "stripped": true, "ldflags_secrets": 0}),
        message,
        secrets,
    )
}
