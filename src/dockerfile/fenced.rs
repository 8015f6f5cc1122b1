//! Pulling Dockerfiles out of Markdown (seed documents, READMEs).

/// The bodies of fenced code blocks whose info string is `dockerfile`
/// (case-insensitive; `Dockerfile`, `dockerfile title="x"` too), each with the
/// line number of its opening fence: line `n` of a body is line `offset + n`
/// of the Markdown. Fences are ```` ``` ```` or `~~~` (three or more, up to
/// three spaces of indentation); the closing fence must use the same
/// character and be at least as long. An unclosed block runs to the end.
pub fn extract_fenced(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(Fence, usize, String)> = None;
    for (index, line) in markdown.lines().enumerate() {
        match open.take() {
            None => {
                open = Fence::opening(line)
                    .filter(|f| f.is_dockerfile)
                    .map(|f| (f, index + 1, String::new()));
            }
            Some((fence, start, body)) if fence.closes(line) => blocks.push((start, body)),
            Some((fence, start, mut body)) => {
                body.push_str(fence.dedent(line));
                body.push('\n');
                open = Some((fence, start, body));
            }
        }
    }
    blocks.extend(open.map(|(_, start, body)| (start, body)));
    blocks
}

/// An opening code fence.
struct Fence {
    marker: char,
    len: usize,
    indent: usize,
    is_dockerfile: bool,
}

impl Fence {
    /// Parses an opening fence line.
    fn opening(line: &str) -> Option<Fence> {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[indent..];
        let marker = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
        let len = rest.len() - rest.trim_start_matches(marker).len();
        if indent > 3 || len < 3 {
            return None;
        }
        let info = rest[len..].trim();
        let language = info.split(|c: char| c.is_whitespace() || c == '{').next();
        Some(Fence {
            marker,
            len,
            indent,
            is_dockerfile: language.is_some_and(|l| l.eq_ignore_ascii_case("dockerfile")),
        })
    }

    /// True if `line` closes this fence.
    fn closes(&self, line: &str) -> bool {
        let trimmed = line.trim_start_matches(' ');
        let run = trimmed.len() - trimmed.trim_start_matches(self.marker).len();
        line.len() - trimmed.len() <= 3 && run >= self.len && trimmed[run..].trim().is_empty()
    }

    /// Removes up to the fence's indentation from a body line.
    fn dedent<'a>(&self, line: &'a str) -> &'a str {
        let spaces = line.len() - line.trim_start_matches(' ').len();
        &line[spaces.min(self.indent)..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_dockerfile_blocks_with_line_offsets() {
        let md = "# Title\n\n```bash\ndocker build .\n```\n\n```dockerfile\nFROM scratch\n---\n```\n  ~~~~Dockerfile\n  FROM alpine\n  ~~~\n  ~~~~\ntext\n```dockerfile\nFROM tail";
        let blocks = extract_fenced(md);
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[0], (7, "FROM scratch\n---\n".to_string()));
        let (offset, body) = &blocks[0];
        let dash_line = body.lines().position(|l| l == "---").unwrap() + 1;
        assert_eq!(md.lines().nth(offset + dash_line - 1), Some("---"));
        assert_eq!(blocks[1], (11, "FROM alpine\n~~~\n".to_string()));
        assert_eq!(blocks[2], (16, "FROM tail\n".to_string()));
    }
}
