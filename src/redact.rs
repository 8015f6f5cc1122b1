//! The only way a matched secret leaves the matcher: a redacted excerpt and a
//! fingerprint. Nothing else in stowaway formats secret bytes.

use sha2::{Digest, Sha256};

/// A stable, non-reversible id of a secret: the first 16 hex digits of its
/// sha256 (`printf %s "$SECRET" | sha256sum | cut -c1-16` gives the same).
pub fn fingerprint(secret: &[u8]) -> String {
    hex::encode(&Sha256::digest(secret)[..8])
}

/// Escapes bytes for a one-line excerpt: UTF-8 text stays as it is but for
/// control characters; anything else is shown as `\xNN`.
fn printable(bytes: &[u8], out: &mut String) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        for c in text.chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        return;
    }
    for &b in bytes {
        match b {
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
}

/// `s` with control characters (escape sequences, newlines) written as
/// `\xNN`, so names from a hostile image cannot forge report lines or drive
/// the terminal.
pub fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                format!("\\x{:02x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// How many leading characters of a secret may be shown: a known literal
/// prefix (`sk_live_`, `AKIA`, `-----BEGIN ...`) is not secret; of the rest at
/// most 4 characters, and none of a short secret.
fn visible_prefix(secret: &[u8], keywords: &[String]) -> usize {
    if let Some(armor) = pem_armor(secret) {
        return armor;
    }
    let literal = keywords
        .iter()
        .filter(|k| {
            secret.len() >= k.len() + 8 && secret[..k.len()].eq_ignore_ascii_case(k.as_bytes())
        })
        .map(|k| k.len())
        .max()
        .unwrap_or(0);
    let rest = secret.len() - literal;
    let extra = if rest >= 24 {
        4
    } else if rest >= 12 {
        2
    } else {
        0
    };
    literal + extra
}

/// The length of a `-----BEGIN ...-----` armor line opening `secret`.
fn pem_armor(secret: &[u8]) -> Option<usize> {
    let rest = secret.strip_prefix(b"-----BEGIN ")?;
    let end = memchr::memmem::find(rest, b"-----")?;
    (end <= 64).then_some(11 + end + 5)
}

/// A safe one-line excerpt of a match: the context around the secret and the
/// secret cut down to a short prefix and its length.
pub fn redact(matched: &[u8], secret: std::ops::Range<usize>, keywords: &[String]) -> String {
    const CONTEXT: usize = 32;
    let s = &matched[secret.clone()];
    let before = &matched[..secret.start];
    let before = &before[before.len().saturating_sub(CONTEXT)..];
    let after = &matched[secret.end..];
    let after = &after[..after.len().min(CONTEXT)];
    let shown = visible_prefix(s, keywords);
    let mut out = String::new();
    printable(before, &mut out);
    printable(&s[..shown], &mut out);
    out.push_str(&format!("…[{} chars redacted]", s.len() - shown));
    printable(after, &mut out);
    out
}

/// `text` with each secret range cut down the way [`redact`] does, for lines
/// (history entries) that are shown whole.
pub fn mask(text: &[u8], ranges: &[std::ops::Range<usize>], keywords: &[String]) -> String {
    let mut ranges: Vec<_> = ranges.to_vec();
    ranges.sort_by_key(|r| r.start);
    let mut out = String::new();
    let mut at = 0;
    for r in ranges {
        if r.start < at {
            continue;
        }
        printable(&text[at..r.start], &mut out);
        let s = &text[r.clone()];
        let shown = visible_prefix(s, keywords);
        printable(&s[..shown], &mut out);
        out.push_str(&format!("…[{} chars redacted]", s.len() - shown));
        at = r.end;
    }
    printable(&text[at..], &mut out);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn mask_cuts_every_range() {
        let t = b"RUN |2 A=s3cr3tvalue99 B=x /bin/sh -c make";
        assert_eq!(
            mask(t, std::slice::from_ref(&(9..22)), &[]),
            "RUN |2 A=s3…[11 chars redacted] B=x /bin/sh -c make"
        );
    }

    use super::*;

    #[test]
    fn redaction_keeps_prefix_and_context_only() {
        let m = b"STRIPE=sk_live_4eC39HqLyjWDarjtT1zdp7dc";
        let r = redact(m, 7..m.len(), &["sk_live_".to_string()]);
        assert_eq!(r, "STRIPE=sk_live_4eC3…[20 chars redacted]");
    }

    #[test]
    fn short_secrets_show_nothing() {
        let r = redact(b"password=hunter22", 9..17, &[]);
        assert_eq!(r, "password=…[8 chars redacted]");
    }

    #[test]
    fn fingerprint_is_truncated_sha256() {
        // sha256("abc") = ba7816bf8f01cfea...
        assert_eq!(fingerprint(b"abc"), "ba7816bf8f01cfea");
    }
}
