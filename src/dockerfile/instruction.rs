//! Parsing one logical line (continuations already joined) into an
//! [`Instruction`]: keyword, flags and keyword-specific arguments, with the
//! checks BuildKit's `instructions` package makes (argument counts, known
//! flags, JSON arrays of strings).

use super::ast::{Args, Flag, Instruction, Mount};
use super::lexer::{extract_flags, shell_words, split_first_word, unquote, whitespace_words};

/// Keywords BuildKit knows.
pub(super) const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// A parsed line plus what the caller needs to read heredoc bodies.
pub struct Parsed {
    pub instruction: Instruction,
    /// `RUN`/`COPY`/`ADD` (directly or under `ONBUILD`) in non-JSON form.
    pub heredoc_capable: bool,
}

/// Parses one logical line. Line numbers are left at 0 for the caller.
pub fn parse_line(line: &str, escape: char) -> Result<Parsed, String> {
    let original = line.trim().to_string();
    let (word, rest) = split_first_word(&original);
    let keyword = word.to_ascii_uppercase();
    if !KEYWORDS.contains(&keyword.as_str()) {
        return Err(format!("unknown instruction: {keyword}"));
    }
    let (flags, rest) = extract_flags(rest);
    check_flags(&keyword, &flags)?;
    let (args, heredoc_capable) = parse_args(&keyword, rest, escape)?;
    let instruction = Instruction {
        keyword,
        line: 0,
        end_line: 0,
        flags,
        args,
        heredocs: Vec::new(),
        original,
    };
    Ok(Parsed {
        instruction,
        heredoc_capable,
    })
}

/// Flags each instruction accepts, and whether each takes a value.
fn known_flags(keyword: &str) -> &'static [(&'static str, bool)] {
    match keyword {
        "FROM" => &[("platform", true)],
        "RUN" => &[
            ("mount", true),
            ("network", true),
            ("security", true),
            ("device", true),
        ],
        "COPY" => &[
            ("from", true),
            ("chown", true),
            ("chmod", true),
            ("link", false),
            ("parents", false),
            ("exclude", true),
        ],
        "ADD" => &[
            ("chown", true),
            ("chmod", true),
            ("link", false),
            ("keep-git-dir", false),
            ("checksum", true),
            ("unpack", false),
            ("exclude", true),
        ],
        "HEALTHCHECK" => &[
            ("interval", true),
            ("timeout", true),
            ("start-period", true),
            ("start-interval", true),
            ("retries", true),
        ],
        _ => &[],
    }
}

/// Rejects unknown flags, value-less string flags and unknown mount types.
fn check_flags(keyword: &str, flags: &[Flag]) -> Result<(), String> {
    for flag in flags {
        let Some(&(_, needs_value)) = known_flags(keyword).iter().find(|(n, _)| *n == flag.name)
        else {
            return Err(format!("unknown flag: {}", flag.name));
        };
        if needs_value && flag.value.as_deref().unwrap_or("").is_empty() {
            return Err(format!("missing a value on flag: {}", flag.name));
        }
        if flag.name == "mount" {
            let kind = Mount::parse(flag.value.as_deref().unwrap_or("")).kind;
            if !matches!(kind.as_str(), "bind" | "cache" | "tmpfs" | "secret" | "ssh") {
                return Err(format!("unsupported mount type {kind:?}"));
            }
        }
    }
    Ok(())
}

/// Keyword-specific argument parsing. The flag says whether heredocs may
/// follow: only `RUN`, `COPY` and `ADD` (or an `ONBUILD` of one) not in JSON form.
fn parse_args(keyword: &str, rest: &str, escape: char) -> Result<(Args, bool), String> {
    let parsed = match keyword {
        "RUN" | "CMD" | "ENTRYPOINT" => match json_array(rest)? {
            Some(words) => (Args::Exec(words), false),
            None => (Args::Shell(rest.to_string()), keyword == "RUN"),
        },
        "SHELL" => match json_array(rest)? {
            Some(words) if !words.is_empty() => (Args::Exec(words), false),
            Some(_) => return Err("SHELL requires at least one argument".into()),
            None => return Err("SHELL requires the arguments to be in JSON form".into()),
        },
        "ENV" | "LABEL" => (Args::KeyValues(name_values(keyword, rest, escape)?), false),
        "ARG" => (Args::Declarations(declarations(rest, escape)?), false),
        "FROM" => (Args::Words(whitespace_words(rest, escape)), false),
        "EXPOSE" => (
            Args::Words(at_least_one(keyword, whitespace_words(rest, escape))?),
            false,
        ),
        "COPY" | "ADD" => {
            let (words, json) = word_list(rest, escape)?;
            if words.len() < 2 {
                return Err(format!(
                    "{keyword} requires at least two arguments, but only one was provided. \
                     Destination could not be determined."
                ));
            }
            (Args::Words(words), !json)
        }
        "VOLUME" => {
            let (words, _) = word_list(rest, escape)?;
            (Args::Words(at_least_one(keyword, words)?), false)
        }
        "HEALTHCHECK" => (healthcheck(rest)?, false),
        "ONBUILD" => {
            let inner = onbuild(rest, escape)?;
            (
                Args::Nested(Box::new(inner.instruction)),
                inner.heredoc_capable,
            )
        }
        _ => (Args::Words(exactly_one(keyword, rest, escape)?), false),
    };
    Ok(parsed)
}

/// `parseJSON` as used by `parseMaybeJSON`: `Some(words)` when the text is a
/// JSON array of strings (trailing text after the array is ignored, as Go's
/// decoder does), `None` when it is not JSON, an error for non-string items.
fn json_array(text: &str) -> Result<Option<Vec<String>>, String> {
    let text = text.trim_start();
    if !text.starts_with('[') {
        return Ok(None);
    }
    let first = serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .next();
    let Some(Ok(serde_json::Value::Array(items))) = first else {
        return Ok(None);
    };
    items
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => {
                Err("when using JSON array syntax, arrays must be comprised of strings only".into())
            }
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Some)
}

/// `parseMaybeJSONToList`: a JSON array, or whitespace-separated words.
fn word_list(rest: &str, escape: char) -> Result<(Vec<String>, bool), String> {
    Ok(match json_array(rest)? {
        Some(words) => (words, true),
        None => (whitespace_words(rest, escape), false),
    })
}

/// `parseNameVal` for `ENV`/`LABEL`: `k=v k2="v 2"` or legacy `k v w`.
fn name_values(keyword: &str, rest: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    let words = shell_words(rest, escape);
    let Some(first) = words.first() else {
        return Err(format!("{keyword} requires at least one argument"));
    };
    if !first.contains('=') {
        let (name, value) = split_first_word(rest);
        if value.is_empty() {
            return Err(format!("{keyword} must have two arguments"));
        }
        return Ok(vec![(name.to_string(), unquote(value, escape))]);
    }
    words
        .iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err(format!("{keyword} names can not be blank")),
            Some((name, value)) => Ok((unquote(name, escape), unquote(value, escape))),
            None => Err(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            )),
        })
        .collect()
}

/// `ARG name[=default] …`.
fn declarations(rest: &str, escape: char) -> Result<Vec<(String, Option<String>)>, String> {
    let words = shell_words(rest, escape);
    if words.is_empty() {
        return Err("ARG requires at least one argument".into());
    }
    words
        .iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err("ARG names can not be blank".into()),
            Some((name, value)) => Ok((unquote(name, escape), Some(unquote(value, escape)))),
            None => Ok((unquote(word, escape), None)),
        })
        .collect()
}

/// Errors for an empty argument list.
fn at_least_one(keyword: &str, words: Vec<String>) -> Result<Vec<String>, String> {
    if words.is_empty() {
        return Err(format!("{keyword} requires at least one argument"));
    }
    Ok(words)
}

/// `parseString` instructions (`USER`, `WORKDIR`, `STOPSIGNAL`, `MAINTAINER`):
/// the whole rest is the single argument.
fn exactly_one(keyword: &str, rest: &str, escape: char) -> Result<Vec<String>, String> {
    if rest.trim().is_empty() {
        return Err(format!("{keyword} requires exactly one argument"));
    }
    Ok(vec![unquote(rest.trim(), escape)])
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [flags] CMD …`, stored as Docker
/// stores the test (`["NONE"]`, `["CMD", …]`, `["CMD-SHELL", "…"]`).
fn healthcheck(rest: &str) -> Result<Args, String> {
    let (kind, command) = split_first_word(rest);
    match kind.to_ascii_uppercase().as_str() {
        "" => Err("HEALTHCHECK requires at least one argument".into()),
        "NONE" if command.is_empty() => Ok(Args::Words(vec!["NONE".into()])),
        "NONE" => Err("HEALTHCHECK NONE takes no arguments".into()),
        "CMD" => {
            let test = match json_array(command)? {
                Some(words) => [vec!["CMD".to_string()], words].concat(),
                None => vec!["CMD-SHELL".to_string(), command.to_string()],
            };
            if test.len() < 2 || test[1].is_empty() {
                return Err("Missing command after HEALTHCHECK CMD".into());
            }
            Ok(Args::Exec(test))
        }
        other => Err(format!("Unknown type {other:?} in HEALTHCHECK (try CMD)")),
    }
}

/// `ONBUILD <instruction>`: the trigger, parsed like a line of its own.
fn onbuild(rest: &str, escape: char) -> Result<Parsed, String> {
    let (trigger, _) = split_first_word(rest);
    match trigger.to_ascii_uppercase().as_str() {
        "" => Err("ONBUILD requires at least one argument".into()),
        "ONBUILD" => Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        t @ ("FROM" | "MAINTAINER") => Err(format!("{t} isn't allowed as an ONBUILD trigger")),
        _ => parse_line(rest, escape),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Args {
        parse_line(line, '\\').map(|p| p.instruction.args).unwrap()
    }

    fn error(line: &str) -> String {
        parse_line(line, '\\').err().unwrap()
    }

    #[test]
    fn json_versus_shell_form() {
        assert_eq!(
            args(r#"CMD ["./app", "-v"]"#),
            Args::Exec(vec!["./app".into(), "-v".into()])
        );
        assert_eq!(args("CMD ./app -v"), Args::Shell("./app -v".into()));
        assert_eq!(args("RUN [not json"), Args::Shell("[not json".into()));
        assert_eq!(
            args(r#"ENTRYPOINT ["a"] trailing"#),
            Args::Exec(vec!["a".into()])
        );
        assert!(error(r#"CMD ["a", 1]"#).contains("strings only"));
        assert!(error("SHELL /bin/bash -c").contains("JSON form"));
        assert_eq!(
            args(r#"COPY ["a b", "/dst/"]"#),
            Args::Words(vec!["a b".into(), "/dst/".into()])
        );
    }

    #[test]
    fn env_new_and_legacy_forms() {
        assert_eq!(
            args(r#"ENV k=v k2="v 2" k3=a\ b"#),
            Args::KeyValues(vec![
                ("k".into(), "v".into()),
                ("k2".into(), "v 2".into()),
                ("k3".into(), "a b".into())
            ])
        );
        assert_eq!(
            args("ENV LEGACY some value here"),
            Args::KeyValues(vec![("LEGACY".into(), "some value here".into())])
        );
        assert!(error("ENV LONELY").contains("two arguments"));
        assert!(error("ENV a=1 b").contains("can't find ="));
        assert!(error("LABEL =x").contains("blank"));
    }

    #[test]
    fn several_args_per_line() {
        assert_eq!(
            args(r#"ARG A B=2 C="x y""#),
            Args::Declarations(vec![
                ("A".into(), None),
                ("B".into(), Some("2".into())),
                ("C".into(), Some("x y".into()))
            ])
        );
        assert!(error("ARG").contains("at least one"));
    }

    #[test]
    fn flags_are_checked_per_instruction() {
        let p = parse_line(
            "COPY --from=builder --chown=1:1 --chmod=0755 --link /a /b",
            '\\',
        );
        assert_eq!(p.unwrap().instruction.flags.len(), 4);
        assert_eq!(error("COPY --form=builder /a /b"), "unknown flag: form");
        assert_eq!(error("ENV --x=1 a=b"), "unknown flag: x");
        assert_eq!(error("RUN --mount echo"), "missing a value on flag: mount");
        assert!(error("RUN --mount=type=volume echo").contains("unsupported mount type"));
        let run = parse_line(
            "RUN --mount=type=secret,id=api_key,required --network=none make",
            '\\',
        );
        let run = run.unwrap().instruction;
        assert_eq!(run.mounts()[0].id.as_deref(), Some("api_key"));
        assert_eq!(run.flag_value("network"), Some("none"));
        assert_eq!(run.args, Args::Shell("make".into()));
    }

    #[test]
    fn healthcheck_and_onbuild() {
        assert_eq!(args("HEALTHCHECK NONE"), Args::Words(vec!["NONE".into()]));
        assert_eq!(
            args("HEALTHCHECK --interval=5s CMD curl -f localhost"),
            Args::Exec(vec!["CMD-SHELL".into(), "curl -f localhost".into()])
        );
        assert!(error("HEALTHCHECK RUN x").contains("Unknown type"));
        let Args::Nested(inner) = args("ONBUILD COPY --chown=1 . /src") else {
            panic!("ONBUILD without trigger")
        };
        assert_eq!((inner.keyword.as_str(), inner.words().len()), ("COPY", 2));
        assert!(error("ONBUILD ONBUILD RUN x").contains("Chaining"));
        assert!(error("ONBUILD FROM x").contains("isn't allowed"));
    }

    #[test]
    fn argument_counts() {
        assert!(error("COPY onlyone").contains("at least two arguments"));
        assert!(error("WORKDIR").contains("exactly one"));
        assert!(error("EXPOSE").contains("at least one"));
        assert_eq!(error("--- "), "unknown instruction: ---");
        assert_eq!(error("echo hi"), "unknown instruction: ECHO");
        assert_eq!(args("USER app:app"), Args::Words(vec!["app:app".into()]));
    }
}
