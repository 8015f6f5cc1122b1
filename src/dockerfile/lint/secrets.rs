//! Secrets passed the wrong way: copied files, build args, ENV, secret
//! files written into a layer, and expected secret mounts that are missing.

use super::Context;
use crate::dockerfile::ast::{Instruction, Stage};
use crate::dockerfile::shell::{commands, pipelines, program, Command};

/// Runs every secret check.
pub(super) fn check(cx: &mut Context) {
    let df = cx.df;
    for instr in &df.global_args {
        secret_in_arg(cx, instr);
    }
    for stage in &df.stages {
        for instr in &stage.instructions {
            match instr.keyword.as_str() {
                "COPY" | "ADD" => secret_in_copy(cx, instr),
                "ARG" => secret_in_arg(cx, instr),
                "ENV" => secret_in_env(cx, instr),
                "RUN" => secret_copied_to_layer(cx, instr),
                _ => {}
            }
        }
    }
    secret_not_mounted(cx);
}

/// True for a variable name that holds a secret: one of `secret_ids`, or a
/// name like `API_KEY`, `*_TOKEN`, `*PASSWORD*`, `*SECRET*`, `*_PASS`,
/// `*CREDENTIALS*` — but not a pointer to one (`*_FILE`, `*_PATH`, `*_ID`,
/// …) nor a public key (`*PUBLIC*`, `GPG_KEY`).
pub(super) fn is_secret_name(name: &str, secret_ids: &[String]) -> bool {
    if secret_ids.iter().any(|id| id.eq_ignore_ascii_case(name)) {
        return true;
    }
    let upper = name.to_ascii_uppercase();
    let tokens: Vec<&str> = upper
        .split(['_', '-', '.'])
        .filter(|t| !t.is_empty())
        .collect();
    let Some(&last) = tokens.last() else {
        return false;
    };
    const POINTERS: &[&str] = &[
        "FILE",
        "PATH",
        "DIR",
        "ID",
        "NAME",
        "URL",
        "HOST",
        "USER",
        "USERNAME",
        "TYPE",
        "LENGTH",
        "SIZE",
        "FINGERPRINT",
        "VERSION",
        "ENABLED",
    ];
    if POINTERS.contains(&last)
        || tokens
            .iter()
            .any(|t| matches!(*t, "PUBLIC" | "PUB" | "GPG"))
    {
        return false;
    }
    last == "KEY"
        || tokens.iter().any(|t| {
            t.contains("PASSWORD")
                || t.contains("PASSWD")
                || t.contains("SECRET")
                || t.contains("CREDENTIAL")
                || t.ends_with("TOKEN")
                || matches!(
                    *t,
                    "PASS" | "CREDS" | "APIKEY" | "PRIVATEKEY" | "ACCESSKEY" | "AUTHKEY"
                )
        })
}

/// Exact names of public CA bundles that end in `.pem` (Alpine: `/etc/ssl/cert.pem`).
const PUBLIC_PEM_NAMES: &[&str] = &["cert.pem", "ca.pem"];

/// Name fragments of CA bundles and certificate chains
/// (`rds-combined-ca-bundle.pem`, `fullchain.pem`, `company-root-ca.pem`).
const PUBLIC_PEM_FRAGMENTS: &[&str] = &[
    "cacert",
    "ca-cert",
    "ca_cert",
    "ca-bundle",
    "cabundle",
    "chain",
    "root-ca",
    "rootca",
    "-ca.pem",
];

/// Source-code extensions: `secret_store.go` is code, not a secret.
const CODE_EXTENSIONS: &[&str] = &[
    ".go",
    ".rs",
    ".py",
    ".js",
    ".ts",
    ".java",
    ".rb",
    ".c",
    ".h",
    ".md",
    ".html",
    ".yaml.tmpl",
];

/// True for a path whose file name marks a credential: `*.pem`, `*.key`,
/// `*.p12`/`*.pfx`/`*.jks`, `id_rsa*` and other SSH keys, `.env`,
/// `.netrc`/`.npmrc`/`.pypirc`/`.git-credentials`, or (outside source code)
/// `*credentials*`, `*secret*`, `*private*key*`.
pub(super) fn is_secret_file(path: &str) -> bool {
    let name = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path);
    let name = name.to_ascii_lowercase();
    let public = PUBLIC_PEM_NAMES.contains(&name.as_str())
        || PUBLIC_PEM_FRAGMENTS.iter().any(|f| name.contains(f));
    if public || name.ends_with(".pub") || name.ends_with(".crt") {
        return false;
    }
    let by_extension = [".pem", ".key", ".p12", ".pfx", ".jks"]
        .iter()
        .any(|e| name.ends_with(e));
    let ssh = ["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"]
        .iter()
        .any(|k| name.starts_with(k));
    let env_file = name == ".env"
        || (name.starts_with(".env.")
            && !["example", "sample", "template", "dist"]
                .iter()
                .any(|s| name.ends_with(s)));
    let dotfile = matches!(
        name.as_str(),
        ".netrc" | ".npmrc" | ".pypirc" | ".git-credentials"
    );
    let code = CODE_EXTENSIONS.iter().any(|e| name.ends_with(e));
    let by_name = !code
        && (name.contains("credentials")
            || name.contains("secret")
            || name
                .find("private")
                .is_some_and(|i| name[i..].contains("key")));
    by_extension || ssh || env_file || dotfile || by_name
}

/// `COPY`/`ADD` of a credential file (or a heredoc written to one).
fn secret_in_copy(cx: &mut Context, instr: &Instruction) {
    let words = instr.words();
    let heredoc_dest =
        !instr.heredocs.is_empty() && words.last().is_some_and(|d| is_secret_file(d));
    let source = instr
        .copy_sources()
        .iter()
        .find(|s| is_secret_file(s))
        .or(heredoc_dest.then(|| words.last()).flatten());
    if let Some(source) = source {
        cx.report(
            "dockerfile.secret-in-copy",
            instr.line,
            format!(
                "{} writes the credential file `{source}` into an image layer; it stays in the layer tarball even if a later step deletes it",
                instr.keyword
            ),
            "Pass it at build time only: `RUN --mount=type=secret,id=api_key …` with `docker build --secret id=api_key,src=key.pem`.",
        );
    }
}

/// `ARG` with a secret-looking name.
fn secret_in_arg(cx: &mut Context, instr: &Instruction) {
    let ids = &cx.opts.secret_ids;
    let names: Vec<String> = instr
        .declarations()
        .iter()
        .filter(|(name, _)| is_secret_name(name, ids))
        .map(|(name, _)| name.clone())
        .collect();
    for name in names {
        cx.report(
            "dockerfile.secret-in-arg",
            instr.line,
            format!("build argument `{name}` looks like a secret: its value is recorded in the image history (`RUN |1 {name}=…`)"),
            &format!("Use a BuildKit secret: `RUN --mount=type=secret,id={} …` and `docker build --secret id={},src=…`.", name.to_ascii_lowercase(), name.to_ascii_lowercase()),
        );
    }
}

/// `ENV` with a secret-looking name and a value.
fn secret_in_env(cx: &mut Context, instr: &Instruction) {
    let ids = &cx.opts.secret_ids;
    let names: Vec<String> = instr
        .key_values()
        .iter()
        .filter(|(name, value)| !value.is_empty() && is_secret_name(name, ids))
        .map(|(name, _)| name.clone())
        .collect();
    for name in names {
        cx.report(
            "dockerfile.secret-in-env",
            instr.line,
            format!("ENV `{name}` looks like a secret: its value is stored in the image config, readable by anyone who pulls the image"),
            "Mount the secret for the RUN that needs it (`--mount=type=secret,id=…,env=NAME` or read /run/secrets/<id>); inject runtime secrets when the container starts.",
        );
    }
}

/// Secret files read without their mount, or written to a file in the layer.
fn secret_copied_to_layer(cx: &mut Context, run: &Instruction) {
    let targets: Vec<String> = run
        .mounts()
        .into_iter()
        .filter(|m| m.kind == "secret")
        .filter_map(|m| m.target)
        .collect();
    let script = run.script();
    for name in secret_names_read(&script) {
        if !targets.iter().any(|t| *t == format!("/run/secrets/{name}")) {
            cx.report(
                "dockerfile.secret-copied-to-layer",
                run.line,
                format!("RUN reads /run/secrets/{name} without `--mount=type=secret,id={name}`: the file is missing, or an earlier step put the secret in a layer"),
                &format!("Add `--mount=type=secret,id={name}` to this RUN and pass `--secret id={name},src=…` to docker build."),
            );
        }
    }
    let all = commands(&script);
    let mut index = 0;
    for pipeline in pipelines(&script) {
        let reads = pipeline.iter().any(|c| mentions_secret(c, &targets));
        for command in &pipeline {
            let later = all.get(index + 1..).unwrap_or(&[]);
            index += 1;
            let written = written_files(command, reads, &targets)
                .into_iter()
                .find(|dest| !is_transient(dest) && !removed(later, dest));
            if let Some(dest) = written {
                cx.report(
                    "dockerfile.secret-copied-to-layer",
                    run.line,
                    format!("RUN writes secret data to `{dest}`, which is committed to the layer (the secret mount itself never is)"),
                    "Read the secret where it is needed (`$(cat /run/secrets/<id>)` as an environment variable of that command) and never copy it to a file; if a tool needs a file, point it at /run/secrets/<id>.",
                );
            }
        }
    }
}

/// Names `X` of every `/run/secrets/X` the script mentions, once each.
fn secret_names_read(script: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (i, marker) in script.match_indices("/run/secrets/") {
        let rest = &script[i + marker.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_.-".contains(c)))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        if !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

/// True if a word names a secret file: /run/secrets/… or a custom target.
fn is_secret_word(word: &str, targets: &[String]) -> bool {
    word.contains("/run/secrets/") || targets.iter().any(|t| word.contains(t.as_str()))
}

/// True if a command refers to a secret file (any word, assignment or input
/// redirection naming one).
fn mentions_secret(command: &Command, targets: &[String]) -> bool {
    command.argv.iter().any(|w| is_secret_word(w, targets))
        || command.env.iter().any(|(_, v)| is_secret_word(v, targets))
        || command
            .redirects
            .iter()
            .any(|(op, t)| op.starts_with('<') && is_secret_word(t, targets))
}

/// Files a command writes secret data to: `cp`/`mv`/`install`/`rsync`
/// destinations when a source is a secret, and — in a pipeline that reads
/// a secret — output redirections and `tee` arguments.
fn written_files(command: &Command, pipeline_reads: bool, targets: &[String]) -> Vec<String> {
    let mut files = Vec::new();
    let operands: Vec<&String> = command
        .argv
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if matches!(program(command), "cp" | "mv" | "install" | "rsync") {
        if let Some((dest, sources)) = operands.split_last() {
            if sources.iter().any(|s| is_secret_word(s, targets)) {
                files.push(dest.to_string());
            }
        }
    }
    if pipeline_reads {
        let outputs = command
            .redirects
            .iter()
            .filter(|(op, _)| is_file_output(op));
        files.extend(outputs.map(|(_, target)| target.clone()));
        if program(command) == "tee" {
            files.extend(operands.into_iter().cloned());
        }
    }
    files
}

/// `>`, `>>`, `>|`, `1>`, `&>` … but not `2>` (stderr) nor `>&2` (duplication).
fn is_file_output(op: &str) -> bool {
    op.contains('>') && !op.starts_with('2') && !op.ends_with('&')
}

/// Destinations that do not end up in the layer.
fn is_transient(path: &str) -> bool {
    path.starts_with("/dev/") || path.starts_with("/run/secrets") || path.starts_with('&')
}

/// True if a later `rm` in the same RUN removes the file (or a parent directory).
fn removed(later: &[Command], path: &str) -> bool {
    later.iter().filter(|c| program(c) == "rm").any(|rm| {
        rm.argv.iter().skip(1).any(|target| {
            let target = target.trim_end_matches('/');
            path == target || path.starts_with(&format!("{target}/"))
        })
    })
}

/// Each expected secret id must be consumed by some `RUN --mount=type=secret`.
fn secret_not_mounted(cx: &mut Context) {
    let df = cx.df;
    let mounted: Vec<String> = df
        .stages
        .iter()
        .flat_map(|s: &Stage| &s.instructions)
        .filter(|i| i.keyword == "RUN")
        .flat_map(Instruction::mounts)
        .filter(|m| m.kind == "secret")
        .filter_map(|m| m.id)
        .collect();
    let line = df.stages.first().map_or(1, |s| s.from_line);
    for id in cx.opts.secret_ids.clone() {
        if !mounted.contains(&id) {
            cx.report(
                "dockerfile.secret-not-mounted",
                line,
                format!("the build never mounts the secret `{id}` (no `RUN --mount=type=secret,id={id}`), so it is either unused or passed some other way"),
                &format!("Consume it only in the RUN that needs it: `RUN --mount=type=secret,id={id} …` (available at /run/secrets/{id})."),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        let ids = vec!["api_key".to_string()];
        for name in [
            "API_KEY",
            "api_key",
            "KEY",
            "NPM_TOKEN",
            "DB_PASSWORD",
            "AWS_SECRET_ACCESS_KEY",
            "SMTP_PASS",
            "APIKEY",
            "GITHUBTOKEN",
            "dbpassword",
        ] {
            assert!(is_secret_name(name, &ids), "{name}");
        }
        for name in [
            "API_KEY_FILE",
            "GPG_KEY",
            "PUBLIC_KEY",
            "AWS_ACCESS_KEY_ID",
            "TOKEN_URL",
            "VERSION",
            "PWD",
            "CGO_ENABLED",
            "MONKEY",
            "PASSWORD_FILE",
        ] {
            assert!(!is_secret_name(name, &[]), "{name}");
        }
    }

    #[test]
    fn secret_files() {
        for path in [
            "/home/ubuntu/api-private-key.pem",
            "server.key",
            "/etc/letsencrypt/live/x/privkey.pem",
            "id_rsa",
            "./.env",
            ".env.production",
            "certs/client.p12",
            "aws/credentials",
            "app-secret.json",
            ".npmrc",
            "*.pem",
        ] {
            assert!(is_secret_file(path), "{path}");
        }
        for path in [
            "/etc/ssl/cert.pem",
            "id_rsa.pub",
            ".env.example",
            "internal/secretstore/store.go",
            "go.mod",
            "ca-certificates.crt",
            "/etc/ssl/certs/",
            "rds-combined-ca-bundle.pem",
            "fullchain.pem",
        ] {
            assert!(!is_secret_file(path), "{path}");
        }
    }

    #[test]
    fn secret_names_in_scripts() {
        assert_eq!(
            secret_names_read("cat /run/secrets/api_key; x=/run/secrets/db.pw\n"),
            vec!["api_key", "db.pw"]
        );
        assert!(secret_names_read("ls /run/secrets/").is_empty());
    }
}
