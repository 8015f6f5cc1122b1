//! The line-level Dockerfile parser: parser directives, comments, line
//! continuations, heredoc bodies and stage assembly, following BuildKit's
//! `parser.Parse` and `instructions.Parse`.
//!
//! Where BuildKit stops at the first error, this parser records the error
//! with its line, skips the offending instruction and carries on, so a
//! linter can still judge the rest of the file. Heredocs are always parsed
//! (the Dockerfile 1.4+ frontend does; Docker 20.10's built-in frontend does
//! not and reports the heredoc body's first word as an unknown instruction).

use super::ast::{Directive, Dockerfile, Heredoc, Instruction, ParseError, Stage};
use super::instruction::parse_line;
use super::lexer::{heredoc_markers, is_comment, parse_directive, strip_continuation};

/// Parser directives BuildKit recognises; any other `# name=value` line ends
/// the directive block like a comment does.
const DIRECTIVES: &[&str] = &["syntax", "escape", "check"];

/// Parses a Dockerfile. Never fails: problems are listed in `errors`.
pub fn parse(text: &str) -> Dockerfile {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut parser = Parser {
        lines: &lines,
        next: 0,
        directives_open: true,
        df: Dockerfile {
            escape: '\\',
            ..Dockerfile::default()
        },
    };
    parser.run();
    parser.df
}

/// Parser state: the lines, the next line to read and the result so far.
struct Parser<'a> {
    lines: &'a [&'a str],
    /// 0-based index of the next unread line (= 1-based number of the last read one).
    next: usize,
    /// Still at the top of the file, where parser directives may appear.
    directives_open: bool,
    df: Dockerfile,
}

impl Parser<'_> {
    /// Reads every instruction, then checks the file built anything.
    fn run(&mut self) {
        let mut seen_instruction = false;
        while let Some((start, line)) = self.next_logical_line() {
            seen_instruction = true;
            let end = self.next;
            match parse_line(&line, self.df.escape) {
                Ok(parsed) => {
                    let mut instruction = parsed.instruction;
                    instruction.line = start;
                    instruction.end_line = end;
                    if parsed.heredoc_capable {
                        self.read_heredocs(&mut instruction);
                    }
                    self.place(instruction);
                }
                Err(message) => self.error(start, message),
            }
        }
        if self.df.stages.is_empty() {
            let message = if seen_instruction {
                "dockerfile contains no stages to build"
            } else {
                "file with no instructions"
            };
            self.error(self.lines.len().max(1), message.to_string());
        }
    }

    /// Records an error.
    fn error(&mut self, line: usize, message: String) {
        self.df.errors.push(ParseError { line, message });
    }

    /// The next instruction line with continuations joined, and its first
    /// line number. Comment and blank lines are skipped, also inside a
    /// continuation (as BuildKit does, with a warning for blank ones).
    fn next_logical_line(&mut self) -> Option<(usize, String)> {
        while let Some(raw) = self.lines.get(self.next) {
            self.next += 1;
            let start = self.next;
            let first = raw.trim_start();
            self.directive(first, start);
            if is_comment(first) {
                continue;
            }
            let mut line = String::new();
            let mut continued = self.append(&mut line, first);
            while continued {
                let Some(raw) = self.lines.get(self.next) else {
                    break;
                };
                self.next += 1;
                if is_comment(raw) || raw.trim().is_empty() {
                    continue;
                }
                continued = self.append(&mut line, raw);
            }
            if !line.trim().is_empty() {
                return Some((start, line));
            }
        }
        None
    }

    /// Appends a physical line to a logical one; true if it continues.
    fn append(&self, line: &mut String, raw: &str) -> bool {
        match strip_continuation(raw, self.df.escape) {
            Some(body) => {
                line.push_str(body);
                true
            }
            None => {
                line.push_str(raw);
                false
            }
        }
    }

    /// Handles a possible parser directive at the top of the file. The first
    /// line that is not a known directive (comment, blank line, instruction)
    /// closes the directive block.
    fn directive(&mut self, line: &str, number: usize) {
        if !self.directives_open {
            return;
        }
        let Some((name, value)) = parse_directive(line) else {
            self.directives_open = false;
            return;
        };
        if !DIRECTIVES.contains(&name.as_str()) {
            self.directives_open = false;
            return;
        }
        if self.df.directives.iter().any(|d| d.name == name) {
            self.error(
                number,
                format!("only one {name} parser directive can be used"),
            );
            return;
        }
        if name == "escape" {
            match value.as_str() {
                "`" => self.df.escape = '`',
                "\\" => self.df.escape = '\\',
                _ => self.error(
                    number,
                    format!("invalid escape token '{value}' does not match ` or \\"),
                ),
            }
        }
        self.df.directives.push(Directive {
            name,
            value,
            line: number,
        });
    }

    /// Reads the bodies of the heredocs named on the instruction's line, in
    /// order, each up to its terminator line (leading tabs ignored for `<<-`).
    fn read_heredocs(&mut self, instruction: &mut Instruction) {
        for marker in heredoc_markers(&instruction.original, self.df.escape) {
            let mut content = String::new();
            let mut terminated = false;
            while let Some(raw) = self.lines.get(self.next) {
                self.next += 1;
                let candidate = if marker.chomp {
                    raw.trim_start_matches('\t')
                } else {
                    raw
                };
                if candidate == marker.name {
                    terminated = true;
                    break;
                }
                content.push_str(raw);
                content.push('\n');
            }
            instruction.end_line = self.next;
            if !terminated {
                self.error(instruction.line, "unterminated heredoc".to_string());
            }
            instruction.heredocs.push(Heredoc {
                name: marker.name,
                content,
                chomp: marker.chomp,
                expand: marker.expand,
            });
        }
    }

    /// Puts an instruction where it belongs: a new stage for `FROM`, the
    /// current stage, or the global `ARG`s before the first `FROM`.
    fn place(&mut self, instruction: Instruction) {
        if instruction.keyword == "FROM" {
            self.open_stage(instruction);
        } else if let Some(stage) = self.df.stages.last_mut() {
            stage.instructions.push(instruction);
        } else if instruction.keyword == "ARG" {
            self.df.global_args.push(instruction);
        } else {
            self.error(
                instruction.line,
                "no build stage in current context".to_string(),
            );
        }
    }

    /// Starts a stage. A malformed `FROM` is reported but still starts a
    /// stage (with what could be read), so later instructions are not
    /// attributed to the previous stage.
    fn open_stage(&mut self, from: Instruction) {
        let (name, problem) = match from.words() {
            [_] => (None, None),
            [_, r#as, name] if r#as.eq_ignore_ascii_case("as") => match valid_stage_name(name) {
                Some(name) => (Some(name), None),
                None => (
                    None,
                    Some(format!(
                        "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                    )),
                ),
            },
            _ => (
                None,
                Some("FROM requires either one or three arguments".to_string()),
            ),
        };
        if let Some(message) = problem {
            self.error(from.line, message);
        }
        self.df.stages.push(Stage {
            index: self.df.stages.len(),
            name,
            base: from.words().first().cloned().unwrap_or_default(),
            platform: from.flag_value("platform").map(str::to_string),
            from_line: from.line,
            instructions: Vec::new(),
        });
    }
}

/// A stage name lower-cased, if it matches `^[a-z][a-z0-9-_\.]*$`.
fn valid_stage_name(name: &str) -> Option<String> {
    let name = name.to_ascii_lowercase();
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    (first_ok && rest_ok).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::super::ast::Args;
    use super::*;

    fn only_stage(text: &str) -> Stage {
        let df = parse(text);
        assert!(df.errors.is_empty(), "{:?}", df.errors);
        assert_eq!(df.stages.len(), 1);
        df.stages.into_iter().next().unwrap()
    }

    #[test]
    fn continuation_with_comments_and_blank_lines_inside() {
        let stage = only_stage(
            "FROM alpine\nRUN apk add \\\n# a comment\n    curl \\\n\n  # indented comment\n    git\nUSER app\n",
        );
        let run = &stage.instructions[0];
        assert_eq!((run.line, run.end_line), (2, 7));
        assert_eq!(run.args, Args::Shell("apk add     curl     git".into()));
        assert_eq!(stage.instructions[1].line, 8);
    }

    #[test]
    fn escape_directive_switches_to_backtick() {
        let df =
            parse("# escape=`\nFROM mcr.microsoft.com/windows\nCOPY C:\\src\\ `\n    C:\\app\\\n");
        assert_eq!(df.escape, '`');
        let copy = &df.stages[0].instructions[0];
        assert_eq!(copy.words(), [r"C:\src\", r"C:\app\"].map(String::from));
        assert_eq!((copy.line, copy.end_line), (3, 4));
    }

    #[test]
    fn directives_only_at_the_top() {
        let df = parse("# syntax=docker/dockerfile:1.4\n# escape=\\\n\n# escape=`\nFROM scratch\n");
        let names: Vec<_> = df
            .directives
            .iter()
            .map(|d| (d.name.as_str(), d.line))
            .collect();
        assert_eq!(names, vec![("syntax", 1), ("escape", 2)]);
        assert_eq!(df.escape, '\\');
        let df = parse("# syntax=a\n# syntax=b\nFROM scratch\n");
        assert_eq!(df.errors[0].line, 2);
        let df = parse("# escape=x\nFROM scratch\n");
        assert!(df.errors[0].message.contains("invalid escape token"));
        let df = parse("\u{feff}# syntax=a\nFROM scratch\n");
        assert_eq!(df.directives.len(), 1);
    }

    #[test]
    fn heredocs_single_multiple_chomped_quoted() {
        let text = "FROM alpine\nRUN <<EOF\necho one\nEOF\nRUN <<-A cat - <<\"B\" > /x\n\tfirst\n\tA\nsecond $HOME\nB\nCOPY <<conf /etc/app.conf\nkey=1\nconf\nUSER app\n";
        let stage = only_stage(text);
        let [one, two, copy, user] = &stage.instructions[..] else {
            panic!("expected four instructions")
        };
        assert_eq!((one.line, one.end_line), (2, 4));
        assert_eq!(one.heredocs[0].content, "echo one\n");
        assert_eq!((two.line, two.end_line), (5, 9));
        assert!(two.heredocs[0].chomp && two.heredocs[0].expand);
        assert_eq!(two.heredocs[1].content, "second $HOME\n");
        assert!(!two.heredocs[1].expand);
        assert_eq!(copy.words(), ["<<conf", "/etc/app.conf"].map(String::from));
        assert_eq!(copy.heredocs[0].content, "key=1\n");
        assert_eq!(user.line, 13);
    }

    #[test]
    fn json_form_has_no_heredoc_and_unterminated_is_an_error() {
        let stage = only_stage("FROM alpine\nRUN [\"sh\", \"-c\", \"cat <<EOF\"]\nUSER x\n");
        assert!(stage.instructions[0].heredocs.is_empty());
        let df = parse("FROM alpine\nRUN <<EOF\necho\n");
        assert_eq!(
            df.errors[0],
            ParseError {
                line: 2,
                message: "unterminated heredoc".into()
            }
        );
        assert_eq!(df.stages[0].instructions[0].end_line, 3);
    }

    #[test]
    fn stages_names_platform_and_global_args() {
        let df = parse("ARG GO=1.22 BASE\nFROM --platform=$BUILDPLATFORM golang:${GO} AS Build\nRUN go build\nFROM scratch\nCOPY --from=build /a /a\n");
        assert!(df.errors.is_empty());
        assert_eq!(df.global_args.len(), 1);
        let build = &df.stages[0];
        assert_eq!(build.name.as_deref(), Some("build"));
        assert_eq!(build.platform.as_deref(), Some("$BUILDPLATFORM"));
        assert_eq!((build.from_line, df.stages[1].from_line), (2, 4));
        assert_eq!(df.root_image(build), "golang:1.22");
        assert_eq!(df.stage_ref("BUILD", 1).map(|s| s.index), Some(0));
        assert_eq!(df.stage_ref("0", 1).map(|s| s.index), Some(0));
        assert!(df.stage_ref("build", 0).is_none());
    }

    #[test]
    fn errors_are_recovered_with_line_numbers() {
        let df = parse("FROM golang AS b\nRUN go build\n\n---\n\nFROM alpine:3.19\nBOGUS x\nCOPY --from=b /app /app\n");
        let errors: Vec<_> = df
            .errors
            .iter()
            .map(|e| (e.line, e.message.as_str()))
            .collect();
        assert_eq!(
            errors,
            vec![
                (4, "unknown instruction: ---"),
                (7, "unknown instruction: BOGUS")
            ]
        );
        assert_eq!(df.stages.len(), 2);
        assert_eq!(df.stages[1].instructions[0].line, 8);
    }

    #[test]
    fn malformed_from_still_opens_a_stage() {
        let df = parse("FROM golang AS 1bad\nRUN x\nFROM a b\nRUN y\n");
        assert_eq!(df.errors.len(), 2);
        assert_eq!(df.stages.len(), 2);
        assert_eq!(df.stages[1].instructions[0].line, 4);
    }

    #[test]
    fn instructions_before_from_and_empty_files() {
        let df = parse("RUN x\nFROM scratch\n");
        assert_eq!(
            df.errors[0],
            ParseError {
                line: 1,
                message: "no build stage in current context".into()
            }
        );
        assert_eq!(parse("").errors[0].message, "file with no instructions");
        assert_eq!(
            parse("# only\n\n").errors[0].message,
            "file with no instructions"
        );
        assert_eq!(
            parse("ARG X\n").errors[0].message,
            "dockerfile contains no stages to build"
        );
    }

    #[test]
    fn crlf_and_case_insensitive_keywords() {
        let stage = only_stage(
            "from alpine as Base\r\nrun echo hi \\\r\n  there\r\nexpose 8080 8081/udp\r\n",
        );
        assert_eq!(stage.name.as_deref(), Some("base"));
        assert_eq!(
            stage.instructions[0].args,
            Args::Shell("echo hi   there".into())
        );
        assert_eq!(
            stage.instructions[1].words(),
            ["8080", "8081/udp"].map(String::from)
        );
    }
}
