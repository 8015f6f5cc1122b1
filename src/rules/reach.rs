//! How far around a keyword hit a rule's regex has to look. Every match of
//! a secret rule holds one of its keywords, and the prefilter reports every
//! keyword occurrence, so a match lies within `before` bytes before and
//! `after` bytes after the start of some hit: the regex runs in those
//! windows only, not over the whole chunk.
//!
//! `after` is the longest match. `before` is the longest match too, unless
//! the pattern shows better: when it is a sequence whose part `i` matches
//! only strings holding a keyword (a literal, or an alternation of literals
//! such as `(?i)(?:passwd|password|secret[_-]?key|…)`), a match starts at
//! most the longest of parts `0..i` plus the keyword's offset in part `i`
//! before that keyword (generic-password-assignment: 7 bytes, for
//! `access_token`, rather than 345).
//!
//! Better still, when the strings the pattern opens with can be listed and
//! each holds a keyword (`ghp_`; `-----BEGIN (?:RSA |EC )?PRIVATE KEY-----`;
//! the generic rule's alternation), a match can only start at the offsets of
//! the keyword in those strings, before a hit, and only where the bytes
//! before the hit are the ones those strings have there: `starts` lists
//! them per keyword and the regex runs anchored there, a few bytes per hit
//! (and not at all before a `token` that is not `access_token`). Each start
//! also knows the bytes that can follow the keyword in a match: the opening
//! string's next byte, or the first bytes of the rest of the pattern (the
//! generic rule's `token` must be followed by a quote, a blank, `:` or `=`,
//! so a `tokens` or `token.` runs no regex).

use regex_syntax::hir::{Class, Hir, HirKind};
use std::ops::{Range, RangeInclusive};

/// At most this many strings are enumerated for a part of a pattern.
const MOST_STRINGS: usize = 256;
/// Classes of more bytes than this are not enumerated.
const MOST_CLASS_BYTES: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    pub before: usize,
    pub after: usize,
    /// For each keyword (in the rule's order), where before its hits a
    /// match can start; `None` when the opening strings cannot be listed.
    pub starts: Option<Vec<Leads>>,
}

/// The leads of one keyword, and the bytes any of them allows after it:
/// one lookup turns away a hit none of them can start from (`tokens` for
/// the seven heads of the generic rule's `token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leads {
    list: Vec<Lead>,
    next: Option<Bytes>,
}

impl Leads {
    fn new(list: Vec<Lead>) -> Leads {
        let next = list
            .iter()
            .try_fold(Bytes::default(), |all, lead| any_of(Some(all), lead.next));
        Leads { list, next }
    }

    /// Where matches can start before the keyword hit at `hit` in `data`.
    pub fn starts<'a>(
        &'a self,
        data: &'a [u8],
        hit: &'a Range<usize>,
    ) -> impl Iterator<Item = usize> + 'a {
        let none =
            matches!((&self.next, data.get(hit.end)), (Some(next), Some(&b)) if !next.has(b));
        let list = if none { &[][..] } else { &self.list[..] };
        list.iter().filter_map(|lead| lead.start(data, hit))
    }
}

/// What an opening string holds before its first keyword (lowercased): a
/// match can start that many bytes before a hit of the keyword, where
/// these bytes are, and where the byte after the keyword is one of `next`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lead {
    head: Vec<u8>,
    /// The bytes (lowercased) that can follow the keyword in a match;
    /// `None`: any, or the match can end there.
    next: Option<Bytes>,
}

impl Lead {
    /// Where a match can start before the keyword hit at `hit` in `data`.
    /// The byte after the keyword is checked first: one lookup, and the
    /// check that turns most hits away.
    fn start(&self, data: &[u8], hit: &Range<usize>) -> Option<usize> {
        if let (Some(next), Some(&b)) = (&self.next, data.get(hit.end)) {
            if !next.has(b) {
                return None;
            }
        }
        let start = hit.start.checked_sub(self.head.len())?;
        data[start..hit.start]
            .eq_ignore_ascii_case(&self.head)
            .then_some(start)
    }
}

/// A set of bytes, lowercased.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Bytes([u64; 4]);

impl Bytes {
    fn add(&mut self, b: u8) {
        let b = b.to_ascii_lowercase();
        self.0[usize::from(b / 64)] |= 1 << (b % 64);
    }

    fn has(&self, b: u8) -> bool {
        let b = b.to_ascii_lowercase();
        self.0[usize::from(b / 64)] & 1 << (b % 64) != 0
    }

    fn union(&mut self, other: &Bytes) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }
}

/// What either of two next-byte sets allows (`None`: any byte).
fn any_of(a: Option<Bytes>, b: Option<Bytes>) -> Option<Bytes> {
    let (mut a, b) = (a?, b?);
    a.union(&b);
    Some(a)
}

/// The reach of a pattern whose matches hold one of `keywords` (lowercase),
/// or `None` if its matches are unbounded.
pub fn reach(hir: &Hir, keywords: &[Vec<u8>]) -> Option<Reach> {
    let longest = hir.properties().maximum_len()?;
    let before = lead(hir, keywords).map_or(longest, |l| l.min(longest));
    Some(Reach {
        before,
        after: longest,
        starts: starts(hir, keywords),
    })
}

/// `hir` as a sequence of parts, groups and nested sequences flattened.
fn parts(hir: &Hir) -> Vec<&Hir> {
    match hir.kind() {
        HirKind::Concat(parts) => parts.iter().flat_map(self::parts).collect(),
        HirKind::Capture(group) => parts(&group.sub),
        _ => vec![hir],
    }
}

/// The first keyword in `s` (lowest offset, then lowest index): (keyword, offset).
fn first_keyword(s: &[u8], keywords: &[Vec<u8>]) -> Option<(usize, usize)> {
    keywords
        .iter()
        .enumerate()
        .filter_map(|(k, kw)| memchr::memmem::find(s, kw).map(|at| (at, k)))
        .min()
        .map(|(at, k)| (k, at))
}

/// Where matches start before a hit of each keyword, when the strings the
/// pattern opens with can be listed and each holds a keyword: the first
/// keyword of every such string is reported, so trying its offset, where
/// the string's head is there, finds every match.
fn starts(hir: &Hir, keywords: &[Vec<u8>]) -> Option<Vec<Leads>> {
    let parts = parts(hir);
    let mut opening: Vec<Vec<u8>> = vec![Vec::new()];
    for (i, part) in parts.iter().enumerate() {
        opening = concat(&opening, &strings(part)?)?;
        let firsts: Option<Vec<(usize, usize)>> =
            opening.iter().map(|s| first_keyword(s, keywords)).collect();
        if let Some(firsts) = firsts {
            let rest = first_bytes(&parts[i + 1..]);
            let mut starts: Vec<Vec<Lead>> = vec![Vec::new(); keywords.len()];
            for (s, (k, offset)) in opening.iter().zip(firsts) {
                let end = offset + keywords[k].len();
                let next = match s.get(end) {
                    Some(&b) => {
                        let mut one = Bytes::default();
                        one.add(b);
                        Some(one)
                    }
                    None => rest,
                };
                starts[k].push(Lead {
                    head: s[..offset].to_vec(),
                    next,
                });
            }
            for leads in &mut starts {
                leads
                    .sort_unstable_by(|a, b| (a.head.len(), &a.head).cmp(&(b.head.len(), &b.head)));
                // One lead per head, allowing what any of them allows next.
                leads.dedup_by(|later, kept| {
                    if later.head != kept.head {
                        return false;
                    }
                    kept.next = any_of(kept.next, later.next);
                    true
                });
            }
            return Some(starts.into_iter().map(Leads::new).collect());
        }
    }
    None
}

/// The bytes a match of `parts`, one after the other, can start with, or
/// `None` when that match can be empty or its first bytes are not known.
fn first_bytes(parts: &[&Hir]) -> Option<Bytes> {
    match first_of_sequence(parts.iter().copied())? {
        (set, false) => Some(set),
        (_, true) => None,
    }
}

/// [`first_of`] for parts one after the other.
fn first_of_sequence<'h>(parts: impl IntoIterator<Item = &'h Hir>) -> Option<(Bytes, bool)> {
    let mut set = Bytes::default();
    for part in parts {
        let (first, empty) = first_of(part)?;
        set.union(&first);
        if !empty {
            return Some((set, false));
        }
    }
    Some((set, true))
}

/// The bytes a match of `hir` can start with, and whether it can be empty.
fn first_of(hir: &Hir) -> Option<(Bytes, bool)> {
    let mut set = Bytes::default();
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Some((set, true)),
        HirKind::Literal(lit) => match lit.0.first() {
            Some(&b) => {
                set.add(b);
                Some((set, false))
            }
            None => Some((set, true)),
        },
        HirKind::Class(class) => {
            class_ranges(class)?
                .into_iter()
                .flatten()
                .for_each(|b| set.add(b));
            Some((set, false))
        }
        HirKind::Capture(group) => first_of(&group.sub),
        HirKind::Repetition(rep) => {
            let (first, empty) = first_of(&rep.sub)?;
            Some((first, empty || rep.min == 0))
        }
        HirKind::Concat(parts) => first_of_sequence(parts),
        HirKind::Alternation(branches) => {
            let mut any_empty = false;
            for b in branches {
                let (first, empty) = first_of(b)?;
                set.union(&first);
                any_empty |= empty;
            }
            Some((set, any_empty))
        }
    }
}

/// Every `head` followed by every `tail`, if not too many.
fn concat(heads: &[Vec<u8>], tails: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    if heads.len() * tails.len() > MOST_STRINGS {
        return None;
    }
    let mut out: Vec<Vec<u8>> = heads
        .iter()
        .flat_map(|head| {
            tails
                .iter()
                .map(move |tail| [head.as_slice(), tail].concat())
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// How far before a keyword it holds a match of `hir` can start, when its
/// shape says (see the module documentation).
fn lead(hir: &Hir, keywords: &[Vec<u8>]) -> Option<usize> {
    let mut before = 0usize;
    for part in parts(hir) {
        let offset = strings(part).and_then(|strings| {
            strings
                .iter()
                .map(|s| first_keyword(s, keywords).map(|(_, at)| at))
                .try_fold(0, |most, at| Some(most.max(at?)))
        });
        if let Some(offset) = offset {
            return Some(before + offset);
        }
        before = before.checked_add(part.properties().maximum_len()?)?;
    }
    None
}

/// Every string (lowercased) `hir` matches, if they are few.
fn strings(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    let mut out = match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => vec![Vec::new()],
        HirKind::Literal(lit) => vec![lit.0.to_ascii_lowercase()],
        HirKind::Class(class) => class_bytes(class)?.into_iter().map(|b| vec![b]).collect(),
        HirKind::Capture(group) => strings(&group.sub)?,
        HirKind::Repetition(rep) if rep.max == Some(1) => {
            let mut once = strings(&rep.sub)?;
            if rep.min == 0 {
                once.push(Vec::new());
            }
            once
        }
        HirKind::Concat(parts) => {
            let mut acc = vec![Vec::new()];
            for part in parts {
                acc = concat(&acc, &strings(part)?)?;
            }
            acc
        }
        HirKind::Alternation(branches) => {
            let mut all = Vec::new();
            for b in branches {
                all.extend(strings(b)?);
                if all.len() > MOST_STRINGS {
                    return None;
                }
            }
            all
        }
        HirKind::Repetition(_) => return None,
    };
    out.sort_unstable();
    out.dedup();
    (out.len() <= MOST_STRINGS).then_some(out)
}

/// The byte ranges of a class, `None` for one that reaches past ASCII in
/// Unicode (over bytes, as the rules are parsed, classes are bytes).
fn class_ranges(class: &Class) -> Option<Vec<RangeInclusive<u8>>> {
    Some(match class {
        Class::Bytes(c) => c.ranges().iter().map(|r| r.start()..=r.end()).collect(),
        Class::Unicode(c) => c
            .ranges()
            .iter()
            .map(|r| {
                let (start, end) = (u8::try_from(r.start()).ok()?, u8::try_from(r.end()).ok()?);
                end.is_ascii().then_some(start..=end)
            })
            .collect::<Option<_>>()?,
    })
}

/// The bytes (lowercased) of a small class: `[pP]`, `[_.;-]`.
fn class_bytes(class: &Class) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    for r in class_ranges(class)? {
        if usize::from(r.end() - r.start()) >= MOST_CLASS_BYTES {
            return None;
        }
        bytes.extend(r.map(|b| b.to_ascii_lowercase()));
    }
    bytes.sort_unstable();
    bytes.dedup();
    (bytes.len() <= MOST_CLASS_BYTES).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(pattern: &str, keywords: &[&str]) -> Option<Reach> {
        let hir = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(pattern)
            .unwrap();
        let kws: Vec<Vec<u8>> = keywords.iter().map(|k| k.as_bytes().to_vec()).collect();
        reach(&hir, &kws)
    }

    /// The offsets of `starts`, per keyword.
    fn offsets(r: &Reach) -> Option<Vec<Vec<usize>>> {
        r.starts.as_ref().map(|per_keyword| {
            per_keyword
                .iter()
                .map(|leads| {
                    let mut at: Vec<usize> = leads.list.iter().map(|l| l.head.len()).collect();
                    at.dedup();
                    at
                })
                .collect()
        })
    }

    fn heads(leads: &Leads) -> Vec<&str> {
        leads
            .list
            .iter()
            .map(|l| std::str::from_utf8(&l.head).unwrap())
            .collect()
    }

    #[test]
    fn a_keyword_prefix_bounds_the_lead() {
        let r = of("ghp_[A-Za-z0-9]{36}", &["ghp_"]).unwrap();
        assert_eq!(
            (r.before, r.after, offsets(&r)),
            (0, 40, Some(vec![vec![0]]))
        );
        // Case-insensitive alternatives, optional separators, a class prefix.
        let r = of(
            r"(?i)(?:passwd|secret[_-]?key|access[_-]?token|[_.;-]pwd)\s?=(?P<secret>[a-z]{8,20})",
            &["passwd", "secret", "token", "pwd"],
        )
        .unwrap();
        assert_eq!(r.before, 7, "access_token: 'token' at 7");
        assert_eq!(r.after, 12 + 1 + 1 + 20);
        // passwd, secret (secretkey...), token (token... access-token), pwd (_pwd).
        assert_eq!(
            offsets(&r),
            Some(vec![vec![0], vec![0], vec![6, 7], vec![1]]),
            "accesstoken, access_token; .pwd"
        );
        let leads = r.starts.as_ref().unwrap();
        assert_eq!(heads(&leads[2]), ["access", "access-", "access_"]);
        assert_eq!(heads(&leads[3]), ["-", ".", ";", "_"]);
        // Only where the head is there, in any case.
        let data = b"x ACCESS_token Access-Token AccessTOKEN my_token .pwd";
        let found = |k: usize, hit: usize| -> Vec<usize> {
            let hit = hit..hit + [6, 6, 5, 3][k];
            leads[k].starts(data, &hit).collect()
        };
        assert_eq!(found(2, 9), [2], "access_ before the hit");
        assert_eq!(found(2, 22), [15], "access-");
        assert_eq!(found(2, 34), [28], "access");
        assert_eq!(found(2, 43), Vec::<usize>::new(), "my_ is no head");
        assert_eq!(found(3, 50), [49], ". before pwd");
        assert_eq!(found(2, 3), Vec::<usize>::new(), "before the buffer");
        // Parts before the keyword part add their longest match.
        let r = of(
            "(?P<secret>-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[A-Z]{4})",
            &["private key-----"],
        )
        .unwrap();
        assert_eq!(r.before, "-----BEGIN RSA ".len());
        assert_eq!(offsets(&r), Some(vec![vec![11, 14, 15]]));
        assert_eq!(
            heads(&r.starts.as_ref().unwrap()[0]),
            ["-----begin ", "-----begin ec ", "-----begin rsa "]
        );
        // A big class opens the pattern: windows, no listed starts.
        let r = of(r"\b[a-z][a-z0-9+.-]{1,15}://[a-z]{1,9}@", &["://"]).unwrap();
        assert_eq!(r.before, 16);
        assert_eq!(r.starts, None);
    }

    #[test]
    fn a_start_needs_a_byte_the_pattern_allows_after_the_keyword() {
        let r = of(
            r"(?i)(?:passwd|secret[_-]?key|secret|access[_-]?token|token)[ \t]?=(?P<secret>[a-z]{8})",
            &["passwd", "secret", "token"],
        )
        .unwrap();
        let leads = r.starts.as_ref().unwrap();
        let found = |k: usize, data: &[u8], hit: usize| -> Vec<usize> {
            let hit = hit..hit + [6, 6, 5][k];
            leads[k].starts(data, &hit).collect()
        };
        // After `token`: a blank or `=` (the rest of the pattern).
        assert_eq!(found(2, b"token=", 0), [0]);
        assert_eq!(found(2, b"TOKEN\t", 0), [0]);
        assert_eq!(found(2, b"tokens", 0), Vec::<usize>::new());
        assert_eq!(found(2, b"token.x", 0), Vec::<usize>::new());
        assert_eq!(
            found(2, b"access_token =", 7),
            [7, 0],
            "token =, access_token ="
        );
        assert_eq!(found(2, b"access_tokens", 7), Vec::<usize>::new());
        // After `secret`: `_`, `-` or `k` (secret_key...), or what follows
        // a bare `secret`, in any case.
        assert_eq!(found(1, b"secretKey=", 0), [0]);
        assert_eq!(found(1, b"secret-key=", 0), [0]);
        assert_eq!(found(1, b"secret =", 0), [0]);
        assert_eq!(found(1, b"secrets", 0), Vec::<usize>::new());
        // At the end of the buffer nothing is known: the search runs.
        assert_eq!(found(2, b"token", 0), [0]);
        // A pattern that can end right after the keyword allows anything.
        let r = of("(?:x|y)?token(?:=[a-z]{4})?", &["token"]).unwrap();
        let leads = &r.starts.as_ref().unwrap()[0];
        assert!(leads.starts(b"tokens", &(0..5)).any(|s| s == 0));
    }

    #[test]
    fn without_a_keyword_part_the_longest_match_bounds_both_sides() {
        // `tok` alone is not a keyword: the alternation does not always hold one.
        let r = of("(?:token|tok)=[a-z]{4}", &["token"]).unwrap();
        assert_eq!((r.before, r.after, offsets(&r)), (10, 10, None));
        // Too many strings to enumerate (2^9 in the first alternative).
        let r = of(
            "(?:[ab][ab][ab][ab][ab][ab][ab][ab][ab]token|x)=",
            &["token"],
        )
        .unwrap();
        assert_eq!((r.before, r.after, offsets(&r)), (15, 15, None));
        // Big classes are not enumerated, but a later keyword part still counts.
        let r = of("[a-z][a-z][a-z]token", &["token"]).unwrap();
        assert_eq!((r.before, r.after, offsets(&r)), (3, 8, None));
    }

    #[test]
    fn unbounded_matches_have_no_reach() {
        assert_eq!(of("token=[a-z]+", &["token"]), None);
    }
}
