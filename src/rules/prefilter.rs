//! The keyword prefilter: which rules' keywords occur in a buffer, case
//! insensitively, and where. It runs over every byte of every layer, so it
//! is the audit's hot loop.
//!
//! Teddy (SIMD, from aho-corasick's `packed` module) over a lowercased copy
//! of the buffer runs at several times the speed of an Aho-Corasick automaton
//! on these keywords, which are short, many and frequent in real images
//! (`token`, `secret`, `password`): the automaton's own prefilter gives up on
//! them and it falls back to a byte at a time.
//!
//! Teddy's speed falls off a cliff when its 8 buckets hold many literals or
//! its fingerprint is short: measured on the go-single-stage bench layers,
//! 29 literals with a 3-byte fingerprint ran at 1.7 GB/s, 31 literals of 4
//! bytes or more at 3.9 GB/s, 16 of them at 11.7 GB/s and 3 short ones at
//! 23 GB/s. So the search is for *needles* in several passes:
//! - a small set of substrings such that every keyword holds one (`private`
//!   for the six PEM, PGP and key-id keywords), none shorter than 4 bytes
//!   unless a keyword is;
//! - needles in groups of at most 16, one Teddy searcher per group; a
//!   shorter needle shortens its group's fingerprint, so at most 8 go to a
//!   group, the rest of it filled with long ones (the built-in rules' 2
//!   short and 30 long needles take two passes).
//!
//! Where the CPU has AVX-512BW, one case-folding pass over the buffer
//! itself replaces the copy and the passes (see `nibble`). It takes up to
//! 48 needles, so keywords are merged less for it: the built-in rules' 47
//! keywords are its 41 needles as they are, `_auth` and `"auth"` included
//! (merged into `auth` for Teddy, they matched every `author`).
//!
//! A needle found is verified against the keywords that hold it. No needle
//! is a substring of another, so at most one starts at any position; each
//! search resumes one byte after a match start and so sees every needle
//! occurrence, hence every keyword occurrence. Where Teddy is unavailable
//! (no SIMD), or would take more than 8 passes (hundreds of keywords from
//! extra rule files), an overlapping Aho-Corasick search over the keywords
//! themselves gives the same answer.

use super::nibble::{self, Nibble};
use aho_corasick::packed::{self, Searcher};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind, Span};
use anyhow::{Context, Result};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;

/// Needles are merged until there are at most this many (two full groups).
const MERGE_TO: usize = 32;
/// Needles at least this long are rare enough to merge keywords into freely.
const RARE: usize = 5;
/// Teddy's longest fingerprint: no needle is made shorter than this (a
/// shorter keyword is its own needle, searched in a group of short ones).
const FINGERPRINT: usize = 4;
/// Needles per searcher, and short ones among them (each shortens the
/// group's fingerprint and so lets more false candidates through).
const GROUP: usize = 16;
const SHORT_GROUP: usize = 8;
/// Beyond this many needles (big extra rule files), merging is not tried
/// (it enumerates every substring, again per merge), and beyond this many
/// passes one Aho-Corasick automaton beats Teddy.
const MOST_TO_MERGE: usize = 128;
const MOST_GROUPS: usize = 8;

pub struct Prefilter {
    search: Search,
    keywords: Vec<Vec<u8>>,
    /// For each needle, the keywords holding it, the needle's offset in
    /// each, and whether the keyword is the needle (found, so no check).
    holders: Vec<Vec<(usize, usize, bool)>>,
}

/// How the needles (or keywords) are searched for, fastest first.
enum Search {
    /// One AVX-512 pass over all needles, where the CPU has it.
    Nibble(Box<Nibble>),
    /// One searcher per group, with the needle of each of its patterns.
    Teddy(Vec<(Searcher, Vec<usize>)>),
    /// An overlapping automaton over the keywords themselves.
    Keywords(AhoCorasick),
}

/// The searches by rank, to start below the best in tests.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Way {
    Nibble,
    Teddy,
    #[cfg(test)]
    Keywords,
}

thread_local! {
    /// The lowercased copy of the buffer being searched, reused per thread.
    static LOWER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Whether `needle` occurs in `hay`, and where first.
fn position(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Drops every needle that holds another: whatever holds it holds the other.
fn without_holders(mut needles: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    needles.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    needles.dedup();
    let mut kept: Vec<Vec<u8>> = Vec::new();
    for n in needles {
        if !kept.iter().any(|k| position(&n, k).is_some()) {
            kept.push(n);
        }
    }
    kept
}

/// The substring shared by the most needles (at least two) among those of
/// length `min_len` or more, the longest first when `longest_first`; ties go
/// to the other measure, then to the smallest bytes (deterministic).
fn best_shared(needles: &[Vec<u8>], min_len: usize, longest_first: bool) -> Option<Vec<u8>> {
    let mut count: HashMap<&[u8], usize> = HashMap::new();
    for n in needles {
        let mut subs: Vec<&[u8]> = (0..n.len())
            .flat_map(|i| (i + min_len..=n.len()).map(move |j| &n[i..j]))
            .collect();
        subs.sort_unstable();
        subs.dedup();
        for s in subs {
            *count.entry(s).or_default() += 1;
        }
    }
    count
        .into_iter()
        .filter(|&(_, c)| c >= 2)
        .max_by(|(a, ca), (b, cb)| {
            let (first, second) = if longest_first {
                (a.len().cmp(&b.len()), ca.cmp(cb))
            } else {
                (ca.cmp(cb), a.len().cmp(&b.len()))
            };
            first.then(second).then_with(|| b.cmp(a))
        })
        .map(|(s, _)| s.to_vec())
}

/// The needles for `keywords`: at most `most` where shared substrings
/// allow, preferring long (rare) ones, none a substring of another.
fn needles(keywords: &[Vec<u8>], most: usize) -> Vec<Vec<u8>> {
    let mut needles = without_holders(keywords.to_vec());
    if needles.len() > MOST_TO_MERGE {
        return needles;
    }
    for (min_len, longest_first) in [(RARE, true), (FINGERPRINT, false)] {
        while needles.len() > most {
            let Some(shared) = best_shared(&needles, min_len, longest_first) else {
                break;
            };
            needles.retain(|n| position(n, &shared).is_none());
            needles.push(shared);
            needles = without_holders(needles);
        }
    }
    needles
}

/// Needle indexes in search groups of at most [`GROUP`]. Short needles come
/// first, at most [`SHORT_GROUP`] to a group; the last of their groups is
/// topped up with long needles (a pass costs about the same whatever it
/// holds), and the other long ones are split evenly.
///
/// The short needles' group has the shorter fingerprint, so more false
/// candidates: it takes the long needles that are not words (`ghp_`,
/// `xoxb-`, `glpat-`: rare in text), shortest first, and words (`token`,
/// `secret`, `passw`: common) go with the long fingerprint. On the bench
/// layers that made the two passes 22-27% faster than a split in needle order.
fn groups(needles: &[Vec<u8>]) -> Vec<Vec<usize>> {
    let (short, mut long): (Vec<usize>, Vec<usize>) =
        (0..needles.len()).partition(|&n| needles[n].len() < FINGERPRINT);
    long.sort_by_key(|&n| {
        (
            needles[n].iter().all(u8::is_ascii_alphabetic),
            needles[n].len(),
        )
    });
    let mut out: Vec<Vec<usize>> = short.chunks(SHORT_GROUP).map(<[usize]>::to_vec).collect();
    if let Some(last) = out.last_mut() {
        let room = (GROUP - last.len()).min(long.len());
        last.extend(long.drain(..room));
    }
    let count = long.len().div_ceil(GROUP);
    for g in 0..count {
        out.push(long.iter().copied().skip(g).step_by(count).collect());
    }
    out
}

/// One Teddy searcher per group of `needles`, unless too many are needed.
fn teddy(needles: &[Vec<u8>]) -> Option<Vec<(Searcher, Vec<usize>)>> {
    groups(needles)
        .into_iter()
        .map(|group| {
            let mut b = packed::Config::new()
                .match_kind(packed::MatchKind::LeftmostLongest)
                .builder();
            b.extend(group.iter().map(|&n| &needles[n]));
            b.build().map(|searcher| (searcher, group))
        })
        .collect::<Option<Vec<_>>>()
        .filter(|groups| !groups.is_empty() && groups.len() <= MOST_GROUPS)
}

impl Prefilter {
    /// `keywords` match ASCII-case-insensitively (any bytes).
    pub fn new(keywords: &[String]) -> Result<Prefilter> {
        Prefilter::from(keywords, Way::Nibble)
    }

    /// The prefilter with the best search from `way` down. The AVX-512 pass
    /// takes more needles than Teddy, so fewer keywords share one (`_auth`
    /// and `"auth"` are two needles there, not `auth`, which `author` holds).
    fn from(keywords: &[String], way: Way) -> Result<Prefilter> {
        let keywords: Vec<Vec<u8>> = keywords
            .iter()
            .map(|k| k.as_bytes().to_ascii_lowercase())
            .collect();
        let mut chosen = None;
        if way <= Way::Nibble {
            let needles = needles(&keywords, nibble::MOST_NEEDLES);
            chosen = Nibble::new(&needles).map(|f| (Search::Nibble(Box::new(f)), needles));
        }
        if chosen.is_none() && way <= Way::Teddy {
            let needles = needles(&keywords, MERGE_TO);
            chosen = teddy(&needles).map(|t| (Search::Teddy(t), needles));
        }
        let (search, needles) = match chosen {
            Some(chosen) => chosen,
            None => {
                let automaton = AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&keywords)
                    .context("building the keyword prefilter")?;
                (Search::Keywords(automaton), Vec::new())
            }
        };
        let mut holders = vec![Vec::new(); needles.len()];
        if !needles.is_empty() {
            for (k, kw) in keywords.iter().enumerate() {
                let (n, at) = needles
                    .iter()
                    .enumerate()
                    .find_map(|(n, needle)| position(kw, needle).map(|at| (n, at)))
                    .expect("every keyword holds a needle");
                holders[n].push((k, at, kw == &needles[n]));
            }
        }
        Ok(Prefilter {
            search,
            keywords,
            holders,
        })
    }

    /// Calls `hit` with the index and the place of every occurrence of a
    /// keyword in `data`, in no particular order.
    pub fn find(&self, data: &[u8], mut hit: impl FnMut(usize, Range<usize>)) {
        match &self.search {
            Search::Nibble(nibble) => {
                nibble.find(data, |needle, at| self.report(data, needle, at, &mut hit));
            }
            Search::Teddy(groups) => LOWER.with_borrow_mut(|lower| {
                lower.clear();
                lower.extend(data.iter().map(u8::to_ascii_lowercase));
                for (teddy, needles) in groups {
                    let mut at = 0;
                    while let Some(m) = teddy.find_in(&lower[..], Span::from(at..lower.len())) {
                        self.report(data, needles[m.pattern().as_usize()], m.start(), &mut hit);
                        at = m.start() + 1;
                    }
                }
            }),
            Search::Keywords(automaton) => {
                for m in automaton.find_overlapping_iter(data) {
                    hit(m.pattern().as_usize(), m.range());
                }
            }
        }
    }

    /// Reports each keyword holding `needle` that occurs where the needle
    /// does, at `at`.
    fn report(
        &self,
        data: &[u8],
        needle: usize,
        at: usize,
        hit: &mut impl FnMut(usize, Range<usize>),
    ) {
        for &(k, offset, itself) in &self.holders[needle] {
            let Some(start) = at.checked_sub(offset) else {
                continue;
            };
            let keyword = &self.keywords[k];
            let place = start..start + keyword.len();
            if itself
                || data
                    .get(place.clone())
                    .is_some_and(|w| w.eq_ignore_ascii_case(keyword))
            {
                hit(k, place);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn found(p: &Prefilter, data: &[u8]) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        p.find(data, |k, at| {
            assert_eq!(
                data[at].to_ascii_lowercase(),
                p.keywords[k],
                "reported place"
            );
            out.insert(k);
        });
        out
    }

    /// Every keyword occurrence, by brute force.
    fn brute(keywords: &[&str], data: &[u8]) -> BTreeSet<usize> {
        let lower = data.to_ascii_lowercase();
        (0..keywords.len())
            .filter(|&k| {
                let kw = keywords[k].as_bytes();
                lower.windows(kw.len()).any(|w| w == kw)
            })
            .collect()
    }

    #[test]
    fn overlapping_nested_and_mixed_case_keywords_are_all_found() {
        let kws = [
            "secret",
            "secret_access_key",
            "aws_secret_key",
            "key",
            "ab",
            "bcd",
            "token",
        ];
        let owned: Vec<String> = kws.iter().map(|s| s.to_string()).collect();
        let p = Prefilter::new(&owned).unwrap();
        for text in [
            &b"AWS_SECRET_KEY=1"[..],
            b"Secret_Access_Key",
            b"xabcdx",
            b"no keyword here",
            b"tok en TOKEN\x00\xffkEy",
            b"",
            b"ab",
        ] {
            // Long enough for Teddy's fast path, and short (its fallback).
            let mut long = vec![b'.'; 300];
            long.extend_from_slice(text);
            long.extend_from_slice(&[b'.'; 300]);
            for data in [text, &long[..]] {
                assert_eq!(
                    found(&p, data),
                    brute(&kws, data),
                    "{:?}",
                    String::from_utf8_lossy(data)
                );
            }
        }
    }

    /// Every keyword of the built-in rules, as the rule set gathers them.
    fn builtin_keywords() -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, text) in crate::rules::builtin_sources() {
            let file: crate::rules::model::RuleFile = toml::from_str(&text).unwrap();
            for def in file.rule {
                for k in def.keywords {
                    let k = k.to_ascii_lowercase();
                    if !out.contains(&k) {
                        out.push(k);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_builtin_keywords_fit_slim_teddy_with_long_needles() {
        let kws = builtin_keywords();
        assert!(
            kws.len() > MERGE_TO,
            "{} keywords: the reduction is not exercised",
            kws.len()
        );
        let lower: Vec<Vec<u8>> = kws.iter().map(|k| k.as_bytes().to_vec()).collect();
        let n = needles(&lower, MERGE_TO);
        assert!(n.len() <= MERGE_TO, "{} needles", n.len());
        for a in &n {
            // Short needles are short keywords, not merges.
            assert!(a.len() >= FINGERPRINT || lower.contains(a), "{a:?}");
            for b in &n {
                assert!(a == b || position(b, a).is_none(), "{a:?} is inside {b:?}");
            }
        }
        for k in &lower {
            assert!(
                n.iter().any(|x| position(k, x).is_some()),
                "{k:?} holds no needle"
            );
        }
        let shown: Vec<String> = n
            .iter()
            .map(|x| String::from_utf8_lossy(x).into())
            .collect();
        assert!(shown.contains(&"private".to_string()), "{shown:?}");
        let sizes: Vec<usize> = groups(&n).iter().map(Vec::len).collect();
        assert_eq!(sizes.len(), 2, "two passes: {sizes:?}");
        for members in groups(&n) {
            let short = members
                .iter()
                .filter(|&&m| n[m].len() < FINGERPRINT)
                .count();
            assert!(members.len() <= GROUP && short <= SHORT_GROUP, "{sizes:?}");
        }
    }

    /// A deterministic pseudo-random text sprinkled with keywords, their
    /// fragments and their needles, in mixed case.
    fn sprinkled(kws: &[String], len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut out = Vec::new();
        while out.len() < len {
            let r = next();
            let k = kws[(r % kws.len() as u64) as usize].as_bytes();
            let piece: &[u8] = match (r >> 8) % 4 {
                0 => k,
                1 => &k[..k.len() / 2],
                2 => &k[k.len() / 3..],
                _ => b" \n\0abc=",
            };
            for (i, &b) in piece.iter().enumerate() {
                let upper = (r >> (16 + i % 40)) & 1 == 1;
                out.push(if upper { b.to_ascii_uppercase() } else { b });
            }
        }
        out
    }

    #[test]
    fn reduced_needles_find_exactly_the_keywords_present() {
        let kws = builtin_keywords();
        let refs: Vec<&str> = kws.iter().map(String::as_str).collect();
        // The AVX-512 pass (where the CPU has it), the Teddy passes, the
        // automaton.
        let paths: Vec<Prefilter> = [Way::Nibble, Way::Teddy, Way::Keywords]
            .into_iter()
            .map(|way| Prefilter::from(&kws, way).unwrap())
            .collect();
        assert!(matches!(paths[1].search, Search::Teddy(_)));
        for seed in 1..40u64 {
            for len in [40, 700, 5000] {
                let data = sprinkled(&kws, len, seed);
                for (path, p) in paths.iter().enumerate() {
                    assert_eq!(
                        found(p, &data),
                        brute(&refs, &data),
                        "path {path} seed {seed} len {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn many_unrelated_keywords_are_searched_in_groups() {
        // 70 keywords with little to share: five groups of long needles
        // and every one of them searched.
        let kws: Vec<String> = (0..70u32)
            .map(|i| format!("{}{}q", (b'a' + (i % 26) as u8) as char, i))
            .collect();
        let lower: Vec<Vec<u8>> = kws.iter().map(|k| k.as_bytes().to_vec()).collect();
        let n = needles(&lower, MERGE_TO);
        let mut grouped: Vec<usize> = groups(&n).concat();
        grouped.sort_unstable();
        assert_eq!(
            grouped,
            (0..n.len()).collect::<Vec<_>>(),
            "each needle in one group"
        );
        let refs: Vec<&str> = kws.iter().map(String::as_str).collect();
        let p = Prefilter::new(&kws).unwrap();
        for seed in 1..10u64 {
            let data = sprinkled(&kws, 3000, seed);
            assert_eq!(found(&p, &data), brute(&refs, &data), "seed {seed}");
        }
    }

    #[test]
    fn hundreds_of_keywords_use_the_automaton_and_stay_correct() {
        let kws: Vec<String> = (0..300u32).map(|i| format!("kw{i:03}x")).collect();
        let refs: Vec<&str> = kws.iter().map(String::as_str).collect();
        let p = Prefilter::new(&kws).unwrap();
        assert!(
            matches!(p.search, Search::Keywords(_)),
            "{} groups",
            groups(&needles(&p.keywords, MERGE_TO)).len()
        );
        for seed in 1..5u64 {
            let data = sprinkled(&kws, 3000, seed);
            assert_eq!(found(&p, &data), brute(&refs, &data), "seed {seed}");
        }
    }

    #[test]
    fn the_fallback_gives_the_same_answer() {
        let kws = ["secret", "secret_access_key", "ab", "bcd"];
        let owned: Vec<String> = kws.iter().map(|s| s.to_string()).collect();
        let p = Prefilter::from(&owned, Way::Keywords).unwrap();
        let data = b"xx SECRET_ACCESS_KEY abcd";
        assert_eq!(found(&p, data), brute(&kws, data));
    }
}
