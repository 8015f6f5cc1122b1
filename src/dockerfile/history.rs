//! Matching Dockerfile instructions against image config history entries
//! (`created_by`), for cross-checking a built image against its Dockerfile.
//! The formats are described (as observed) in the module docs of
//! [`super`]; this matcher accepts both BuildKit's and the classic
//! builder's spelling.

use super::ast::{Args, Instruction};
use super::expand::expand;
use super::instruction::KEYWORDS;
use super::lexer::split_first_word;

/// Stand-in for a `$VAR` whose value the history shows but the Dockerfile
/// does not: it becomes a wildcard.
const VARIABLE: char = '\u{1}';

/// Whether `word` is an instruction keyword that can start a `created_by`
/// line: every keyword but `FROM` and `ONBUILD`, which write no history
/// entry of their own.
fn history_keyword(word: &str) -> bool {
    word != "FROM" && word != "ONBUILD" && KEYWORDS.contains(&word)
}

/// True if `created_by` is what BuildKit or the classic builder writes into
/// the image config history for `instr`. Whitespace runs compare equal;
/// `$VAR`s that the builder expands (ENV, LABEL, ARG, USER, WORKDIR, COPY…)
/// match any text; `RUN` text is compared literally (builders do not expand
/// it) after the `|N K=V … /bin/sh -c` prefix. `FROM` and `ONBUILD` write no
/// history entry of their own, so they never match.
pub fn history_matches(instr: &Instruction, created_by: &str) -> bool {
    let (keyword, rest) = split_created_by(created_by);
    if keyword != instr.keyword {
        return false;
    }
    let words = instr.words();
    match keyword {
        "RUN" => run_matches(instr, rest),
        "CMD" | "ENTRYPOINT" => command_matches(instr, rest),
        "HEALTHCHECK" => rest
            .find('[')
            .and_then(|i| go_string_list(&rest[i..]))
            .is_some_and(|test| expected_test(instr) == test),
        "COPY" | "ADD" => copy_matches(words, rest),
        "EXPOSE" => expose_matches(words, rest),
        "SHELL" => template_matches(&format!("[{}]", exec_words(instr).join(" ")), rest),
        "VOLUME" => template_matches(&format!("[{}]", words.join(" ")), rest),
        "WORKDIR" => workdir_matches(words, rest),
        "ENV" | "LABEL" => template_matches(&pairs_text(instr), rest),
        "ARG" => template_matches(&declarations_text(instr), rest),
        _ => template_matches(&words.join(" "), rest),
    }
}

/// Splits a history line into keyword and arguments, undoing the builders'
/// decorations: the ` # buildkit` suffix, the classic `/bin/sh -c #(nop) `
/// prefix, and the missing `RUN` keyword of classic `RUN` entries.
fn split_created_by(created_by: &str) -> (&str, &str) {
    let line = created_by.trim();
    let line = line.strip_suffix("# buildkit").unwrap_or(line).trim_end();
    let line = line.strip_prefix("/bin/sh -c #(nop)").unwrap_or(line);
    match split_first_word(line) {
        (word, rest) if history_keyword(word) => (word, rest),
        _ => ("RUN", line.trim()),
    }
}

/// `RUN`: the history ends with the command text (shell form after the
/// shell, exec form joined by spaces). For heredoc `RUN`s only the
/// instruction line is required to appear.
fn run_matches(instr: &Instruction, rest: &str) -> bool {
    let expected = squash(&match &instr.args {
        Args::Shell(text) => text.clone(),
        Args::Exec(words) => words.join(" "),
        _ => return false,
    });
    let got = squash(rest);
    if !instr.heredocs.is_empty() {
        return got.contains(&expected);
    }
    got == expected || got.ends_with(&format!(" {expected}"))
}

/// `CMD`/`ENTRYPOINT`: history shows the final argv as a Go `%q` list
/// (`["./app" "-v"]`); shell form is `[<shell>… "<text>"]`.
fn command_matches(instr: &Instruction, rest: &str) -> bool {
    let Some(argv) = go_string_list(rest) else {
        return false;
    };
    match &instr.args {
        Args::Exec(words) => *words == argv,
        Args::Shell(text) => {
            argv.len() >= 2 && argv.last().map(|s| squash(s)) == Some(squash(text))
        }
        _ => false,
    }
}

/// The healthcheck test Docker stores for this instruction.
fn expected_test(instr: &Instruction) -> Vec<String> {
    match &instr.args {
        Args::Exec(test) => test.clone(),
        Args::Words(words) => words.clone(),
        _ => Vec::new(),
    }
}

/// Exec-form words (`SHELL`).
fn exec_words(instr: &Instruction) -> &[String] {
    match &instr.args {
        Args::Exec(words) => words,
        _ => &[],
    }
}

/// `COPY`/`ADD`: BuildKit writes `COPY <srcs> <dest>` without flags; the
/// classic builder writes `COPY file:<sha256> in <dest>`.
fn copy_matches(words: &[String], rest: &str) -> bool {
    let rest = strip_flags(rest);
    let classic = ["file:", "dir:", "multi:"]
        .iter()
        .any(|p| rest.starts_with(p));
    match rest.split_once(" in ") {
        Some((_, dest)) if classic => words.last().is_some_and(|d| template_matches(d, dest)),
        _ => template_matches(&words.join(" "), rest),
    }
}

/// `EXPOSE`: BuildKit writes this instruction's ports as a Go map
/// (`EXPOSE map[8080/tcp:{} 9090/udp:{}]`), the classic builder the words.
fn expose_matches(words: &[String], rest: &str) -> bool {
    let Some(map) = rest.strip_prefix("map[").and_then(|m| m.strip_suffix(']')) else {
        return template_matches(&words.join(" "), rest);
    };
    let mut got: Vec<String> = map
        .split_whitespace()
        .map(|k| k.trim_end_matches(":{}").to_string())
        .collect();
    let literal: Vec<&String> = words.iter().filter(|w| !w.contains('$')).collect();
    let mut expected: Vec<String> = literal.iter().flat_map(|w| port_keys(w)).collect();
    if literal.len() < words.len() {
        return expected.iter().all(|p| got.contains(p)) && got.len() >= expected.len();
    }
    got.sort();
    expected.sort();
    expected.dedup();
    got == expected
}

/// `8080` → `8080/tcp`; `8000-8002/udp` → each port (ranges capped at 4096).
fn port_keys(word: &str) -> Vec<String> {
    let (ports, proto) = word.split_once('/').unwrap_or((word, "tcp"));
    let proto = proto.to_ascii_lowercase();
    let range = ports
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    match range {
        Some((low, high)) if low <= high && high - low < 4096 => {
            (low..=high).map(|p| format!("{p}/{proto}")).collect()
        }
        _ => vec![format!("{ports}/{proto}")],
    }
}

/// `WORKDIR`: builders resolve a relative path against the previous
/// working directory (`WORKDIR sub` → `WORKDIR /sub`).
fn workdir_matches(words: &[String], rest: &str) -> bool {
    let Some(path) = words.first() else {
        return false;
    };
    if path.starts_with('/') || path.starts_with('$') {
        template_matches(path, rest)
    } else {
        template_matches(&format!("$PREVIOUS_WORKDIR/{path}"), rest)
    }
}

/// `ENV`/`LABEL` pairs as history shows them: `k=v k2=v 2` (no quotes).
fn pairs_text(instr: &Instruction) -> String {
    let pairs = instr.key_values().iter().map(|(k, v)| format!("{k}={v}"));
    pairs.collect::<Vec<_>>().join(" ")
}

/// `ARG` as history shows it: the Dockerfile defaults (`ARG V=1 OTHER`),
/// never the `--build-arg` values.
fn declarations_text(instr: &Instruction) -> String {
    let decls = instr
        .declarations()
        .iter()
        .map(|(name, value)| match value {
            Some(v) => format!("{name}={v}"),
            None => name.clone(),
        });
    decls.collect::<Vec<_>>().join(" ")
}

/// Drops leading `--flag` words (newer builders may keep some).
fn strip_flags(text: &str) -> &str {
    let mut rest = text.trim();
    while rest.starts_with("--") {
        rest = split_first_word(rest).1;
    }
    rest
}

/// Compares `expected` (which may contain `$VAR`s) with `got`, whitespace
/// runs being equal and each variable matching any text.
fn template_matches(expected: &str, got: &str) -> bool {
    let marked = squash(&expand(expected, &|_| Some(VARIABLE.to_string())));
    let got = squash(got);
    if !marked.contains(VARIABLE) {
        return marked == got;
    }
    let pieces: Vec<String> = marked.split(VARIABLE).map(regex::escape).collect();
    regex::Regex::new(&format!("^{}$", pieces.join(".*"))).is_ok_and(|re| re.is_match(&got))
}

/// Collapses whitespace runs to one space and trims.
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses a Go `%q`-formatted string slice: `["a" "b\"c"]`. Text after the
/// closing `]` is ignored.
fn go_string_list(text: &str) -> Option<Vec<String>> {
    let mut chars = text.trim_start().strip_prefix('[')?.chars().peekable();
    let mut items = Vec::new();
    loop {
        match chars.next()? {
            ']' => return Some(items),
            ' ' => {}
            '"' => items.push(go_string_body(&mut chars)?),
            _ => return None,
        }
    }
}

/// Reads a Go double-quoted string after its opening quote.
fn go_string_body(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<String> {
    let mut out = String::new();
    loop {
        match chars.next()? {
            '"' => return Some(out),
            '\\' => out.push(go_escape(chars)?),
            c => out.push(c),
        }
    }
}

/// Decodes one Go escape sequence after the backslash.
fn go_escape(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<char> {
    let hex = |chars: &mut std::iter::Peekable<std::str::Chars>, n: usize| {
        let digits: String = chars.take(n).collect();
        u32::from_str_radix(&digits, 16)
            .ok()
            .and_then(char::from_u32)
    };
    match chars.next()? {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        'x' => hex(chars, 2),
        'u' => hex(chars, 4),
        'U' => hex(chars, 8),
        c @ '0'..='7' => {
            let rest: String = chars.take(2).collect();
            u32::from_str_radix(&format!("{c}{rest}"), 8)
                .ok()
                .and_then(char::from_u32)
        }
        c => Some(c),
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    /// The instructions of a one-stage Dockerfile built from `body`.
    fn instructions(body: &str) -> Vec<Instruction> {
        let df = parse(&format!("FROM alpine:3.11 AS builder\n{body}"));
        assert!(df.errors.is_empty(), "{:?}", df.errors);
        df.stages.into_iter().next().unwrap().instructions
    }

    /// Each instruction of `body` against the history line at the same position.
    fn assert_pairs(body: &str, history: &[&str]) {
        let instrs = instructions(body);
        assert_eq!(instrs.len(), history.len());
        for (instr, line) in instrs.iter().zip(history) {
            assert!(history_matches(instr, line), "{} !~ {line}", instr.original);
        }
    }

    #[test]
    fn buildkit_lines_seen_from_engine_20_10() {
        assert_pairs(
            "ARG VERSION=1.2.3\nENV GOFLAGS=-mod=mod K2=\"v 2\"\nWORKDIR /app\nCOPY a.txt src/ ./\n\
             RUN --mount=type=secret,id=api_key cat /run/secrets/api_key | wc -c > /app/len.txt\n\
             ARG OTHER\nRUN echo two-args\nCOPY --from=builder --chown=1:1 /app/app .\n\
             LABEL org.opencontainers.image.title=\"pay svc\" a=b\nEXPOSE 9090/udp 8080\nUSER 65532:65532\n\
             VOLUME [\"/data\"]\nSTOPSIGNAL SIGTERM\nHEALTHCHECK --interval=30s CMD [\"/app\",\"health\"]\n\
             ENTRYPOINT [\"./app\"]\nCMD [\"serve\", \"--port\", \"8080\"]\nSHELL [\"/bin/sh\", \"-ec\"]\n\
             CMD echo shell form $VERSION\nENV LEGACY some value here\nENV TOKEN=$API_TOKEN\nWORKDIR sub\n\
             RUN [\"/bin/echo\", \"exec form\", \"$VERSION\"]",
            &[
                "ARG VERSION=1.2.3",
                "ENV GOFLAGS=-mod=mod K2=v 2",
                "WORKDIR /app",
                "COPY a.txt src/ ./ # buildkit",
                "RUN |1 VERSION=1.2.3 /bin/sh -c cat /run/secrets/api_key | wc -c > /app/len.txt # buildkit",
                "ARG OTHER",
                "RUN |2 VERSION=1.2.3 OTHER= /bin/sh -c echo two-args # buildkit",
                "COPY /app/app . # buildkit",
                "LABEL org.opencontainers.image.title=pay svc a=b",
                "EXPOSE map[8080/tcp:{} 9090/udp:{}]",
                "USER 65532:65532",
                "VOLUME [/data]",
                "STOPSIGNAL SIGTERM",
                r#"HEALTHCHECK &{["CMD" "/app" "health"] "30s" "0s" "0s" '\x00'}"#,
                r#"ENTRYPOINT ["./app"]"#,
                r#"CMD ["serve" "--port" "8080"]"#,
                "SHELL [/bin/sh -ec]",
                r#"CMD ["/bin/sh" "-ec" "echo shell form $VERSION"]"#,
                "ENV LEGACY=some value here",
                "ENV TOKEN=tok123",
                "WORKDIR /sub",
                "RUN |3 API_TOKEN=tok123 VERSION=9.9 MODE=dev /bin/echo exec form $VERSION # buildkit",
            ],
        );
    }

    #[test]
    fn classic_builder_lines() {
        assert_pairs(
            "ARG VERSION=1.2.3\nENV K2=\"v 2\"\nWORKDIR /app\nCOPY a.txt ./\nRUN echo built $VERSION > /app/app\n\
             RUN [\"/bin/echo\", \"exec\"]\nEXPOSE 8080\nCMD [\"./app\"]",
            &[
                "/bin/sh -c #(nop)  ARG VERSION=1.2.3",
                "/bin/sh -c #(nop)  ENV K2=v 2",
                "/bin/sh -c #(nop) WORKDIR /app",
                "/bin/sh -c #(nop) COPY file:4a1d6d48c90706adc87252a212f5df4e4953c57f38724edfda6e4e5eedd99512 in ./ ",
                "|1 VERSION=1.2.3 /bin/sh -c echo built $VERSION > /app/app",
                "|1 VERSION=1.2.3 /bin/echo exec",
                "/bin/sh -c #(nop)  EXPOSE 8080",
                r#"/bin/sh -c #(nop)  CMD ["./app"]"#,
            ],
        );
    }

    #[test]
    fn mismatches_are_rejected() {
        let instrs = instructions("RUN go build -o app\nCOPY --from=builder /app/app .\nEXPOSE 8080\nCMD [\"./app\"]\nONBUILD RUN x");
        assert!(!history_matches(
            &instrs[0],
            "RUN /bin/sh -c go build -o other # buildkit"
        ));
        assert!(!history_matches(&instrs[0], "COPY /app/app . # buildkit"));
        assert!(!history_matches(&instrs[1], "COPY /app/other . # buildkit"));
        assert!(!history_matches(
            &instrs[2],
            "EXPOSE map[8080/tcp:{} 9090/tcp:{}]"
        ));
        assert!(!history_matches(&instrs[3], r#"CMD ["./other"]"#));
        assert!(!history_matches(&instrs[4], "ONBUILD RUN x"));
        assert!(!history_matches(&instrs[0], ""));
    }

    #[test]
    fn go_quoted_lists() {
        assert_eq!(
            go_string_list(r#"["a\"b" "\x41\u00e9\n" "\101"]"#),
            Some(vec![
                "a\"b".to_string(),
                "Aé\n".to_string(),
                "A".to_string()
            ])
        );
        assert_eq!(go_string_list(r#"["unterminated"#), None);
        assert_eq!(go_string_list("[/bin/sh]"), None);
    }
}
