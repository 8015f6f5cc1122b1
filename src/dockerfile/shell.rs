//! A small POSIX-shell reader for `RUN` scripts: enough to find simple
//! commands (with their leading `NAME=value` assignments), pipelines and
//! output redirections. It is a heuristic for linting, not a shell: command
//! substitutions stay inside their word, control keywords are skipped.

/// One simple command: `CGO_ENABLED=0 go build -o app > log`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Command {
    /// Leading `NAME=value` assignments (also those after an `env` wrapper).
    pub env: Vec<(String, String)>,
    /// The command and its arguments, quotes removed.
    pub argv: Vec<String>,
    /// Redirections: operator (`>`, `>>`, `<`, `2>`, `&>`, …) and target.
    pub redirects: Vec<(String, String)>,
}

/// Commands joined by `|`.
pub type Pipeline = Vec<Command>;

/// A lexical token.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    /// `|`
    Pipe,
    /// `&&`, `||`, `;`, `&`, newline, parentheses
    Separator,
    Redirect(String),
}

/// Words that open or close shell control structures; skipped at command start.
const CONTROL_WORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "!", "{", "}",
    "exec", "time",
];

/// Splits a script into pipelines of simple commands.
pub fn pipelines(script: &str) -> Vec<Pipeline> {
    let mut result = Vec::new();
    let mut pipeline = Pipeline::new();
    let mut command = Command::default();
    let mut tokens = tokenize(script).into_iter().peekable();
    while let Some(token) = tokens.next() {
        match token {
            Token::Word(word) => add_word(&mut command, word),
            Token::Redirect(op) => {
                if let Some(Token::Word(target)) = tokens.peek().cloned() {
                    tokens.next();
                    command.redirects.push((op, target));
                }
            }
            Token::Pipe => pipeline.push(std::mem::take(&mut command)),
            Token::Separator => {
                pipeline.push(std::mem::take(&mut command));
                result.push(std::mem::take(&mut pipeline));
            }
        }
    }
    pipeline.push(command);
    result.push(pipeline);
    for pipeline in &mut result {
        pipeline.retain(|c| !c.argv.is_empty() || !c.env.is_empty() || !c.redirects.is_empty());
    }
    result.retain(|p| !p.is_empty());
    result
}

/// All simple commands of a script, in order.
pub fn commands(script: &str) -> Vec<Command> {
    pipelines(script).into_iter().flatten().collect()
}

/// Adds a word to a command: an assignment while no command word was seen
/// (or right after `env`), a skipped control keyword, or an argument.
fn add_word(command: &mut Command, word: String) {
    let at_start = command.argv.is_empty() || command.argv == ["env"];
    if at_start {
        if let Some((name, value)) = assignment(&word) {
            command.env.push((name, value));
            return;
        }
        if command.argv.is_empty() && CONTROL_WORDS.contains(&word.as_str()) {
            return;
        }
        if command.argv == ["env"] {
            command.argv.clear();
        }
    }
    command.argv.push(word);
}

/// `NAME=value` with a valid variable name.
fn assignment(word: &str) -> Option<(String, String)> {
    let (name, value) = word.split_once('=')?;
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then(|| (name.to_string(), value.to_string()))
}

/// Turns a script into tokens, removing quotes (a word keeps `$(…)` and
/// backquoted substitutions whole, text and all).
fn tokenize(script: &str) -> Vec<Token> {
    let mut lexer = Lexer {
        chars: script.chars().collect(),
        pos: 0,
        tokens: Vec::new(),
        word: String::new(),
        in_word: false,
    };
    lexer.run();
    lexer.tokens
}

/// Tokenizer state.
struct Lexer {
    chars: Vec<char>,
    pos: usize,
    tokens: Vec<Token>,
    word: String,
    in_word: bool,
}

impl Lexer {
    /// Consumes the whole script.
    fn run(&mut self) {
        while let Some(&c) = self.chars.get(self.pos) {
            self.pos += 1;
            match c {
                '\\' if self.peek() == Some('\n') => self.pos += 1,
                '\\' => {
                    self.in_word = true;
                    let escaped = self.next();
                    self.word.extend(escaped);
                }
                '\'' => self.single_quoted(),
                '"' => self.double_quoted(),
                '$' if self.peek() == Some('(') => self.substitution(),
                '`' => self.backquoted(),
                '#' if !self.in_word => self.skip_comment(),
                '\n' | ';' | '(' | ')' => self.operator(Token::Separator, 0),
                '&' if self.peek() == Some('>') => self.redirect("&>"),
                '&' => self.operator(Token::Separator, usize::from(self.peek() == Some('&'))),
                '|' if self.peek() == Some('|') => self.operator(Token::Separator, 1),
                '|' => self.operator(Token::Pipe, 0),
                '>' | '<' => self.redirect_from_fd(c),
                c if c.is_whitespace() => self.end_word(),
                c => {
                    self.in_word = true;
                    self.word.push(c);
                }
            }
        }
        self.end_word();
    }

    /// The next unread character.
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    /// Reads the next character.
    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    /// Ends the current word, if any.
    fn end_word(&mut self) {
        if self.in_word {
            self.tokens
                .push(Token::Word(std::mem::take(&mut self.word)));
            self.in_word = false;
        }
    }

    /// Emits an operator token, skipping `extra` more characters.
    fn operator(&mut self, token: Token, extra: usize) {
        self.end_word();
        self.pos += extra;
        self.tokens.push(token);
    }

    /// A redirection; a word of digits right before it is its descriptor.
    fn redirect_from_fd(&mut self, c: char) {
        let fd = if self.in_word && self.word.chars().all(|d| d.is_ascii_digit()) {
            self.in_word = false;
            std::mem::take(&mut self.word)
        } else {
            self.end_word();
            String::new()
        };
        let mut op = format!("{fd}{c}");
        while let Some(next @ ('>' | '&' | '|')) = self.peek() {
            op.push(next);
            self.pos += 1;
        }
        self.redirect(&op);
    }

    /// Emits a redirection token (`&>` is read here in full).
    fn redirect(&mut self, op: &str) {
        self.end_word();
        if op == "&>" {
            self.pos += 1;
        }
        self.tokens.push(Token::Redirect(op.to_string()));
    }

    /// `'…'`: everything literal.
    fn single_quoted(&mut self) {
        self.in_word = true;
        while let Some(c) = self.next() {
            if c == '\'' {
                return;
            }
            self.word.push(c);
        }
    }

    /// `"…"`: backslash escapes `"`, `\`, `$`, `` ` ``; substitutions kept.
    fn double_quoted(&mut self) {
        self.in_word = true;
        while let Some(c) = self.next() {
            match c {
                '"' => return,
                '\\' if matches!(self.peek(), Some('"' | '\\' | '$' | '`')) => {
                    let escaped = self.next();
                    self.word.extend(escaped);
                }
                '$' if self.peek() == Some('(') => self.substitution(),
                c => self.word.push(c),
            }
        }
    }

    /// `$(…)` kept verbatim inside the word, nesting included.
    fn substitution(&mut self) {
        self.in_word = true;
        self.word.push('$');
        let mut depth = 0usize;
        while let Some(c) = self.next() {
            self.word.push(c);
            match c {
                '(' => depth += 1,
                ')' if depth <= 1 => return,
                ')' => depth -= 1,
                _ => {}
            }
        }
    }

    /// `` `…` `` kept verbatim inside the word.
    fn backquoted(&mut self) {
        self.in_word = true;
        self.word.push('`');
        while let Some(c) = self.next() {
            self.word.push(c);
            if c == '`' {
                return;
            }
        }
    }

    /// `# …` up to the end of the line.
    fn skip_comment(&mut self) {
        while self.peek().is_some_and(|c| c != '\n') {
            self.pos += 1;
        }
    }
}

/// The program name of a command (`/usr/local/go/bin/go` → `go`).
pub fn program(command: &Command) -> &str {
    command
        .argv
        .first()
        .map_or("", |p| p.rsplit('/').next().unwrap_or(p))
}

/// True if the command is `<program> <sub>` (e.g. `go build`, `npm ci`).
pub fn is_invocation(command: &Command, program_name: &str, sub: Option<&str>) -> bool {
    program(command) == program_name
        && sub.is_none_or(|s| command.argv.get(1).map(String::as_str) == Some(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_pipelines_and_redirects() {
        let p = pipelines(
            "CGO_ENABLED=0 GOOS=linux go build -ldflags=\"-s -w\" -o app && \
             cat /run/secrets/k | base64 >> /out 2>/dev/null; env A=1 make # done",
        );
        assert_eq!(p.len(), 3);
        let build = &p[0][0];
        assert_eq!(
            build.env,
            vec![
                ("CGO_ENABLED".into(), "0".into()),
                ("GOOS".into(), "linux".into())
            ]
        );
        assert_eq!(
            build.argv,
            vec!["go", "build", "-ldflags=-s -w", "-o", "app"]
        );
        assert_eq!(p[1].len(), 2);
        assert_eq!(
            p[1][1].redirects,
            vec![
                (">>".into(), "/out".into()),
                ("2>".into(), "/dev/null".into())
            ]
        );
        assert_eq!(
            (p[2][0].env.len(), p[2][0].argv.clone()),
            (1, vec!["make".to_string()])
        );
    }

    #[test]
    fn substitutions_stay_in_their_word() {
        let c = commands("echo \"KEY=$(cat /run/secrets/api_key | tr -d '\\n')\" > .env");
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].argv[1],
            "KEY=$(cat /run/secrets/api_key | tr -d '\\n')"
        );
        assert_eq!(c[0].redirects, vec![(">".into(), ".env".into())]);
        let c = commands("if [ -f x ]; then `cat y` > z; fi\n\\\nls &>log");
        assert_eq!(c[1].argv, vec!["`cat y`"]);
        assert_eq!(c[2].redirects, vec![("&>".into(), "log".into())]);
    }

    #[test]
    fn invocations() {
        let c = &commands("/usr/local/go/bin/go build ./...")[0];
        assert!(is_invocation(c, "go", Some("build")));
        assert!(!is_invocation(c, "go", Some("test")));
        assert!(is_invocation(c, "go", None));
    }
}
