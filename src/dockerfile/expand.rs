//! `$VAR` / `${VAR}` substitution as the Dockerfile frontend does it for
//! `FROM`, `ENV`, `EXPOSE` and friends (a small subset: `${VAR:-word}`,
//! `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`; other modifiers expand to the
//! variable's value).

/// Expands variables in `text`; `lookup` gives a variable's value (`None` when
/// unset). Unset variables expand to nothing. `\$` keeps a literal `$`.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if chars.get(i + 1) == Some(&'$') => {
                out.push('$');
                i += 2;
            }
            '$' if chars.get(i + 1) == Some(&'{') => {
                let close = chars[i..].iter().position(|&c| c == '}').map(|p| p + i);
                let Some(close) = close else {
                    out.extend(&chars[i..]);
                    break;
                };
                let body: String = chars[i + 2..close].iter().collect();
                out.push_str(&expand_braced(&body, lookup));
                i = close + 1;
            }
            '$' if chars.get(i + 1).is_some_and(|c| is_name_char(*c)) => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|c| !is_name_char(*c))
                    .map_or(chars.len(), |p| p + i + 1);
                let name: String = chars[i + 1..end].iter().collect();
                out.push_str(&lookup(&name).unwrap_or_default());
                i = end;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Expands the inside of `${…}`.
fn expand_braced(body: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let name_len = body.chars().take_while(|c| is_name_char(*c)).count();
    let (name, modifier) = body.split_at(name_len);
    let value = lookup(name);
    let operator_len = if modifier.starts_with(':') { 2 } else { 1 };
    let word = || expand(modifier.get(operator_len..).unwrap_or(""), lookup);
    match (modifier.get(..2), modifier.get(..1), value) {
        (Some(":-"), _, Some(v)) if !v.is_empty() => v,
        (Some(":-"), _, _) => word(),
        (_, Some("-"), None) => word(),
        (Some(":+"), _, Some(v)) if !v.is_empty() => word(),
        (Some(":+"), _, _) => String::new(),
        (_, Some("+"), Some(_)) => word(),
        (_, Some("+"), None) => String::new(),
        (_, _, v) => v.unwrap_or_default(),
    }
}

/// Characters allowed in a variable name.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "GO" => Some("1.22".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_plain_braced_and_defaults() {
        assert_eq!(expand("golang:${GO}-alpine", &vars), "golang:1.22-alpine");
        assert_eq!(expand("golang:$GO", &vars), "golang:1.22");
        assert_eq!(
            expand("${NOPE:-alpine}:${EMPTY:-3.19}", &vars),
            "alpine:3.19"
        );
        assert_eq!(expand("${EMPTY-x}${NOPE-y}", &vars), "y");
        assert_eq!(expand("${GO:+set}${NOPE:+set}", &vars), "set");
        assert_eq!(
            expand(r"\$GO $ ${unterminated", &vars),
            "$GO $ ${unterminated"
        );
    }
}
