//! The parsed form of a Dockerfile: stages, instructions, flags, heredocs.
//!
//! Everything here is plain data produced by [`super::parse`]; the lint and
//! the history matcher only read it.

use serde::Serialize;

/// A whole Dockerfile, as BuildKit's frontend would see it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Dockerfile {
    /// Parser directives from the top of the file (`# syntax=…`, `# escape=…`).
    pub directives: Vec<Directive>,
    /// The escape character in effect (`\` unless `# escape=` said otherwise).
    pub escape: char,
    /// `ARG` instructions before the first `FROM` (usable only in `FROM` lines).
    pub global_args: Vec<Instruction>,
    /// Build stages in file order; the last one is the default build target.
    pub stages: Vec<Stage>,
    /// Errors BuildKit would report; the parser skips the offending line and
    /// goes on, so the rest of the file is still available.
    pub errors: Vec<ParseError>,
}

/// A parser directive such as `# syntax=docker/dockerfile:1.4`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Directive {
    /// Lower-cased directive name (`syntax`, `escape` or `check`).
    pub name: String,
    pub value: String,
    pub line: usize,
}

/// One build stage: a `FROM` and the instructions up to the next `FROM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    /// 0-based position among the stages (what `COPY --from=0` refers to).
    pub index: usize,
    /// The `AS name`, lower-cased as BuildKit does.
    pub name: Option<String>,
    /// The base as written (`golang:1.22-alpine`, `scratch`, `builder`, `${IMG}`).
    pub base: String,
    /// The `--platform=` flag value, if any.
    pub platform: Option<String>,
    pub from_line: usize,
    /// Instructions after the `FROM` (the `FROM` itself is not repeated here).
    pub instructions: Vec<Instruction>,
}

/// One instruction, with continuations joined and heredoc bodies attached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instruction {
    /// Upper-cased keyword (`RUN`, `COPY`, …).
    pub keyword: String,
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// 1-based line where it ends (continuations and heredoc terminators included).
    pub end_line: usize,
    /// Leading `--name[=value]` flags, in order.
    pub flags: Vec<Flag>,
    pub args: Args,
    pub heredocs: Vec<Heredoc>,
    /// The logical line (continuations joined, trimmed), as BuildKit's `Original`.
    pub original: String,
}

/// The arguments of an instruction, in the shape its keyword uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Args {
    /// Shell form of `RUN`/`CMD`/`ENTRYPOINT`: the command text as written.
    Shell(String),
    /// Exec (JSON) form of `RUN`/`CMD`/`ENTRYPOINT`/`SHELL`; for `HEALTHCHECK`
    /// the test as Docker stores it (`["CMD", …]` or `["CMD-SHELL", "…"]`).
    Exec(Vec<String>),
    /// `ENV` and `LABEL` pairs, quotes removed, variables not expanded.
    KeyValues(Vec<(String, String)>),
    /// `ARG` declarations: name and optional default.
    Declarations(Vec<(String, Option<String>)>),
    /// Whitespace-separated (or JSON-list) words, quotes removed: `FROM`,
    /// `COPY`/`ADD` (sources then destination), `EXPOSE`, `VOLUME`, `USER`,
    /// `WORKDIR`, `STOPSIGNAL`, `MAINTAINER`, `HEALTHCHECK NONE`.
    Words(Vec<String>),
    /// The trigger instruction of an `ONBUILD`.
    Nested(Box<Instruction>),
}

/// An instruction flag such as `--mount=type=secret,id=api_key` or `--link`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    /// Name without the leading `--`.
    pub name: String,
    /// `None` for a bare boolean flag (`--link`).
    pub value: Option<String>,
}

/// A heredoc attached to `RUN`, `COPY` or `ADD` (`<<EOF`, `<<-EOF`, `<<"EOF"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    /// Terminator word, quotes removed.
    pub name: String,
    /// Body lines, each ending in `\n` (for `<<-`, leading tabs are kept here
    /// as BuildKit keeps them; they are removed when the file is written).
    pub content: String,
    /// `<<-`: leading tabs are stripped from the body and the terminator.
    pub chomp: bool,
    /// False when the terminator was quoted (`<<"EOF"`): no variable expansion.
    pub expand: bool,
}

/// A `RUN --mount=…` specification, with BuildKit's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// `bind` (default), `cache`, `tmpfs`, `secret` or `ssh`.
    pub kind: String,
    /// For secrets: the id (defaults to the target's file name).
    pub id: Option<String>,
    /// Mount point (for secrets defaults to `/run/secrets/<id>`).
    pub target: Option<String>,
    pub source: Option<String>,
    pub from: Option<String>,
    /// `env=` of a secret mount (BuildKit 1.10+ exposes the secret as a variable).
    pub env: Option<String>,
    pub required: bool,
}

/// An error BuildKit would stop at, with the line it would name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl Dockerfile {
    /// The stage built by default (the last one).
    pub fn final_stage(&self) -> Option<&Stage> {
        self.stages.last()
    }

    /// Looks a stage up the way `FROM <name>` and `COPY --from=<ref>` do: by
    /// name (case-insensitive) or by index, only among stages before `before`.
    pub fn stage_ref(&self, reference: &str, before: usize) -> Option<&Stage> {
        let wanted = reference.to_ascii_lowercase();
        let earlier = &self.stages[..before.min(self.stages.len())];
        earlier
            .iter()
            .rev()
            .find(|s| s.name.as_deref() == Some(wanted.as_str()))
            .or_else(|| wanted.parse::<usize>().ok().and_then(|i| earlier.get(i)))
    }

    /// The stages `stage` builds on, root first, ending with `stage` itself
    /// (`FROM builder` makes `builder` an ancestor). Cycles cannot occur
    /// because only earlier stages can be referenced.
    pub fn chain<'a>(&'a self, stage: &'a Stage) -> Vec<&'a Stage> {
        let mut chain = vec![stage];
        let mut current = stage;
        while let Some(parent) = self.stage_ref(&current.base, current.index) {
            chain.push(parent);
            current = parent;
        }
        chain.reverse();
        chain
    }

    /// The external image a stage ultimately starts from (the base of the
    /// root of its chain), with global `ARG` defaults substituted.
    pub fn root_image(&self, stage: &Stage) -> String {
        let root = self.chain(stage)[0];
        super::expand::expand(&root.base, &|name| self.global_arg_default(name))
    }

    /// The default of a global (pre-`FROM`) `ARG`, if declared with one.
    pub fn global_arg_default(&self, name: &str) -> Option<String> {
        self.global_args
            .iter()
            .flat_map(|i| i.declarations())
            .filter(|(n, _)| n == name)
            .filter_map(|(_, v)| v.clone())
            .next_back()
    }
}

impl Instruction {
    /// The last flag called `name` (flags may repeat, e.g. `--mount`).
    pub fn flag(&self, name: &str) -> Option<&Flag> {
        self.flags.iter().rev().find(|f| f.name == name)
    }

    /// The value of the last `--name=value` flag.
    pub fn flag_value(&self, name: &str) -> Option<&str> {
        self.flag(name).and_then(|f| f.value.as_deref())
    }

    /// Every `--mount` of a `RUN`, parsed.
    pub fn mounts(&self) -> Vec<Mount> {
        self.flags
            .iter()
            .filter(|f| f.name == "mount")
            .filter_map(|f| f.value.as_deref())
            .map(Mount::parse)
            .collect()
    }

    /// The words of a `Words` instruction (empty for other shapes).
    pub fn words(&self) -> &[String] {
        match &self.args {
            Args::Words(w) => w,
            _ => &[],
        }
    }

    /// The `ARG` declarations of this instruction (empty for other keywords).
    pub fn declarations(&self) -> &[(String, Option<String>)] {
        match &self.args {
            Args::Declarations(d) => d,
            _ => &[],
        }
    }

    /// The `ENV`/`LABEL` pairs of this instruction (empty for other keywords).
    pub fn key_values(&self) -> &[(String, String)] {
        match &self.args {
            Args::KeyValues(kv) => kv,
            _ => &[],
        }
    }

    /// `COPY`/`ADD` sources (all words but the last).
    pub fn copy_sources(&self) -> &[String] {
        let words = self.words();
        &words[..words.len().saturating_sub(1)]
    }

    /// The script a `RUN` executes: the shell text (or exec words joined by
    /// spaces) followed by the bodies of its heredocs.
    pub fn script(&self) -> String {
        let mut text = match &self.args {
            Args::Shell(s) => s.clone(),
            Args::Exec(words) => words.join(" "),
            _ => String::new(),
        };
        for doc in &self.heredocs {
            text.push('\n');
            text.push_str(&doc.content);
        }
        text
    }

    /// True for shell form (`RUN`/`CMD`/`ENTRYPOINT` text run by `/bin/sh -c`,
    /// or a `HEALTHCHECK CMD` without JSON).
    pub fn is_shell_form(&self) -> bool {
        match &self.args {
            Args::Shell(_) => true,
            Args::Exec(words) => {
                self.keyword == "HEALTHCHECK" && words.first().is_some_and(|w| w == "CMD-SHELL")
            }
            _ => false,
        }
    }
}

impl Mount {
    /// Parses the CSV value of `--mount=` and fills in BuildKit's defaults
    /// (type `bind`; for secrets, id from the target's file name and target
    /// `/run/secrets/<id>`).
    pub fn parse(spec: &str) -> Mount {
        let mut mount = Mount {
            kind: "bind".to_string(),
            id: None,
            target: None,
            source: None,
            from: None,
            env: None,
            required: false,
        };
        for field in split_csv(spec) {
            let (key, value) = match field.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.to_string())),
                None => (field.trim().to_ascii_lowercase(), None),
            };
            match (key.as_str(), value) {
                ("type", Some(v)) => mount.kind = v.to_ascii_lowercase(),
                ("id", Some(v)) => mount.id = Some(v),
                ("target" | "dst" | "destination", Some(v)) => mount.target = Some(v),
                ("source" | "src", Some(v)) => mount.source = Some(v),
                ("from", Some(v)) => mount.from = Some(v),
                ("env", Some(v)) => mount.env = Some(v),
                ("required", v) => {
                    mount.required = v.is_none_or(|v| v.eq_ignore_ascii_case("true"))
                }
                _ => {}
            }
        }
        if mount.kind == "secret" {
            mount.fill_secret_defaults();
        }
        mount
    }

    /// Secret mounts: id defaults to the target's base name, target to
    /// `/run/secrets/<id>`.
    fn fill_secret_defaults(&mut self) {
        if self.id.as_deref().unwrap_or("").is_empty() {
            self.id = self
                .target
                .as_deref()
                .and_then(|t| t.rsplit('/').find(|part| !part.is_empty()))
                .map(str::to_string);
        }
        if self.target.is_none() && self.env.is_none() {
            self.target = self.id.as_ref().map(|id| format!("/run/secrets/{id}"));
        }
    }
}

/// Splits a CSV field list the way Go's `encoding/csv` reads one record:
/// commas separate fields, double quotes group (and `""` is a quote).
fn split_csv(spec: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_mount_defaults_follow_buildkit() {
        let m = Mount::parse("type=secret,id=api_key");
        assert_eq!(m.target.as_deref(), Some("/run/secrets/api_key"));
        let m = Mount::parse("type=secret,target=/root/.config/key.pem,required");
        assert_eq!(m.id.as_deref(), Some("key.pem"));
        assert!(m.required);
        let m = Mount::parse("type=cache,target=/go/pkg/mod");
        assert_eq!((m.kind.as_str(), m.id), ("cache", None));
        assert_eq!(Mount::parse("target=/src").kind, "bind");
    }

    #[test]
    fn csv_quotes_group_commas() {
        assert_eq!(split_csv(r#"a="x,y",b"#), vec!["a=x,y", "b"]);
        assert_eq!(split_csv(r#"a="say ""hi""""#), vec![r#"a=say "hi""#]);
    }
}
