//! Character-level helpers shared by the parser: line continuations, parser
//! directives, word splitting, quote removal, instruction flags and heredoc
//! markers. Each mirrors the corresponding function of BuildKit's
//! `frontend/dockerfile/parser` package (named in the doc comments).

use super::ast::Flag;

/// Whitespace that separates words (`reWhitespace` = `[\t\v\f\r ]+`).
pub fn is_word_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\u{b}' | '\u{c}')
}

/// True for a comment line (`#` after optional leading whitespace).
pub fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// `trimContinuationCharacter`: if `line` ends with the escape character
/// (optionally followed by blanks) and that character is not itself escaped,
/// returns the line without it.
pub fn strip_continuation(line: &str, escape: char) -> Option<&str> {
    let body = line.trim_end_matches([' ', '\t']).strip_suffix(escape)?;
    match body.chars().next_back() {
        Some(c) if c == escape => None,
        _ => Some(body),
    }
}

/// `reDirectives`: `# name = value` with a name of letters and digits.
pub fn parse_directive(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let name_len = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let (name, rest) = rest.split_at(name_len);
    let value = rest.trim_start().strip_prefix('=')?.trim();
    (!value.is_empty()).then(|| (name.to_ascii_lowercase(), value.to_string()))
}

/// Splits off the first whitespace-delimited word.
pub fn split_first_word(text: &str) -> (&str, &str) {
    let text = text.trim_matches(is_word_space);
    match text.find(is_word_space) {
        Some(i) => (&text[..i], text[i..].trim_start_matches(is_word_space)),
        None => (text, ""),
    }
}

/// `parseStringsWhitespaceDelimited`, then quote removal on each word.
pub fn whitespace_words(text: &str, escape: char) -> Vec<String> {
    text.split(is_word_space)
        .filter(|w| !w.is_empty())
        .map(|w| unquote(w, escape))
        .collect()
}

/// `parseWords`: splits on whitespace outside quotes, keeping quotes and
/// escapes in the words (they are removed later by [`unquote`]).
pub fn shell_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut has_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if has_word {
                    words.push(std::mem::take(&mut word));
                    has_word = false;
                }
                continue;
            }
            None if c == '\'' || c == '"' => quote = Some(c),
            Some(q) if c == q => quote = None,
            _ => {}
        }
        has_word = true;
        word.push(c);
        if c == escape && quote != Some('\'') {
            if let Some(next) = chars.next() {
                word.push(next);
            }
        }
    }
    if has_word {
        words.push(word);
    }
    words
}

/// Removes shell quoting from one word the way the Dockerfile shell lexer
/// does (without expanding variables): single quotes are literal, inside
/// double quotes the escape character only escapes `"`, `$` and itself, and
/// outside quotes it escapes any character.
pub fn unquote(word: &str, escape: char) -> String {
    let mut out = String::new();
    let mut chars = word.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some('\'') if c == '\'' => quote = None,
            Some('\'') => out.push(c),
            Some(_) if c == '"' => quote = None,
            Some(_) if c == escape => match chars.peek() {
                Some(&n) if n == '"' || n == '$' || n == escape => {
                    out.push(n);
                    chars.next();
                }
                Some(_) => out.push(c),
                None => {}
            },
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == escape => out.extend(chars.next()),
            _ => out.push(c),
        }
    }
    out
}

/// `extractBuilderFlags`: leading `--name[=value]` words (quotes removed,
/// backslash escapes honoured) up to the first other word or a bare `--`.
/// Returns the flags and the rest of the line.
pub fn extract_flags(text: &str) -> (Vec<Flag>, &str) {
    let mut flags = Vec::new();
    let mut rest = text.trim_start_matches(is_word_space);
    while rest.starts_with("--") {
        let (word, after) = flag_word(rest);
        rest = after.trim_start_matches(is_word_space);
        if word == "--" {
            break;
        }
        let body = &word[2..];
        flags.push(match body.split_once('=') {
            Some((name, value)) => Flag {
                name: name.to_string(),
                value: Some(value.to_string()),
            },
            None => Flag {
                name: body.to_string(),
                value: None,
            },
        });
    }
    (flags, rest)
}

/// Reads one flag word (quotes removed, `\x` → `x`); returns it and the rest.
fn flag_word(text: &str) -> (String, &str) {
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match quote {
            None if c.is_whitespace() => return (word, &text[i..]),
            None if c == '\'' || c == '"' => quote = Some(c),
            Some(q) if c == q => quote = None,
            _ if c == '\\' => word.extend(chars.next().map(|(_, n)| n)),
            _ => word.push(c),
        }
    }
    (word, "")
}

/// A heredoc marker found on an instruction line (`<<EOF`, `<<-"EOF"`, `3<<EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeredocMarker {
    pub name: String,
    pub chomp: bool,
    pub expand: bool,
}

/// `heredocsFromLine` + `ParseHeredoc`: every word of the line of the form
/// `[digits]<<[-]WORD`, where WORD (quotes removed) is a single word without `<`.
pub fn heredoc_markers(line: &str, escape: char) -> Vec<HeredocMarker> {
    shell_words(line, escape)
        .iter()
        .filter_map(|w| heredoc_marker(w, escape))
        .collect()
}

/// Parses one word as a heredoc marker.
fn heredoc_marker(word: &str, escape: char) -> Option<HeredocMarker> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix("<<")?;
    let (chomp, raw) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if raw.is_empty() || raw.contains('<') {
        return None;
    }
    let name = unquote(raw, escape);
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    Some(HeredocMarker {
        name,
        chomp,
        expand: !raw.contains(['"', '\'']),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_respects_escaped_escape() {
        assert_eq!(strip_continuation("RUN a \\  ", '\\'), Some("RUN a "));
        assert_eq!(strip_continuation("\\", '\\'), Some(""));
        assert_eq!(strip_continuation("RUN echo \\\\", '\\'), None);
        assert_eq!(strip_continuation("RUN a `", '`'), Some("RUN a "));
        assert_eq!(strip_continuation("RUN a \\", '`'), None);
    }

    #[test]
    fn directives_need_name_equals_value() {
        assert_eq!(
            parse_directive("# syntax = docker/dockerfile:1.4 "),
            Some(("syntax".into(), "docker/dockerfile:1.4".into()))
        );
        assert_eq!(
            parse_directive("#escape=`"),
            Some(("escape".into(), "`".into()))
        );
        assert_eq!(parse_directive("# just a comment"), None);
        assert_eq!(parse_directive("# 1x=y"), None);
        assert_eq!(parse_directive("# x="), None);
    }

    #[test]
    fn shell_words_keep_quotes_until_unquoted() {
        let words = shell_words(r#"a="v 2" b='x y' c\ d"#, '\\');
        assert_eq!(words, vec![r#"a="v 2""#, "b='x y'", r"c\ d"]);
        let plain: Vec<String> = words.iter().map(|w| unquote(w, '\\')).collect();
        assert_eq!(plain, vec!["a=v 2", "b=x y", "c d"]);
        assert_eq!(unquote(r#""a\"b\n""#, '\\'), r#"a"b\n"#);
        assert_eq!(unquote(r#""unterminated"#, '\\'), "unterminated");
    }

    #[test]
    fn flags_stop_at_first_argument_or_double_dash() {
        let (flags, rest) = extract_flags("--mount=type=secret,id=api_key --link go build -o x");
        assert_eq!(flags.len(), 2);
        assert_eq!(flags[0].value.as_deref(), Some("type=secret,id=api_key"));
        assert_eq!(
            (flags[1].name.as_str(), flags[1].value.is_none()),
            ("link", true)
        );
        assert_eq!(rest, "go build -o x");
        let (flags, rest) = extract_flags(r#"--chown="app:app" -- --weird dest"#);
        assert_eq!(flags[0].value.as_deref(), Some("app:app"));
        assert_eq!(rest, "--weird dest");
    }

    #[test]
    fn heredoc_markers_on_a_line() {
        let m = heredoc_markers(r#"RUN <<EOF <<-"END" 3<<x cat"#, '\\');
        let names: Vec<_> = m
            .iter()
            .map(|h| (h.name.as_str(), h.chomp, h.expand))
            .collect();
        assert_eq!(
            names,
            vec![
                ("EOF", false, true),
                ("END", true, false),
                ("x", false, true)
            ]
        );
        assert!(heredoc_markers("RUN echo '<<EOF' a<<b <<<str", '\\').is_empty());
    }
}
