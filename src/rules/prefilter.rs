//! The keyword prefilter: which rules' keywords occur in a buffer, case
//! insensitively. It runs over every byte of every layer, so it is the
//! audit's hot loop.
//!
//! Teddy (SIMD, from aho-corasick's `packed` module) over a lowercased copy
//! of the buffer runs at several times the speed of an Aho-Corasick automaton
//! on these keywords, which are short, many and frequent in real images
//! (`token`, `secret`, `password`): the automaton's own prefilter gives up on
//! them and it falls back to a byte at a time. Teddy reports one match per
//! start position (the longest keyword starting there), so the search
//! resumes one byte after each match start and a hit also stands for every
//! keyword that is a prefix of it: no occurrence of any keyword is missed.
//! Where Teddy is unavailable (no SIMD), an overlapping Aho-Corasick search
//! gives the same answer.

use aho_corasick::packed::{self, Searcher};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind, Span};
use anyhow::{Context, Result};
use std::cell::RefCell;

pub struct Prefilter {
    teddy: Option<Searcher>,
    fallback: AhoCorasick,
    /// For each keyword, the keywords it implies (itself and its prefixes).
    implied: Vec<Vec<usize>>,
}

thread_local! {
    /// The lowercased copy of the buffer being searched, reused per thread.
    static LOWER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Prefilter {
    /// `keywords` must be lowercase ASCII-insensitive literals (any bytes).
    pub fn new(keywords: &[String]) -> Result<Prefilter> {
        let lower: Vec<Vec<u8>> = keywords
            .iter()
            .map(|k| k.as_bytes().to_ascii_lowercase())
            .collect();
        let mut b = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostLongest)
            .builder();
        b.extend(&lower);
        let teddy = if lower.is_empty() { None } else { b.build() };
        let fallback = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&lower)
            .context("building the keyword prefilter")?;
        let implied = lower
            .iter()
            .map(|k| {
                (0..lower.len())
                    .filter(|&j| k.starts_with(&lower[j]))
                    .collect()
            })
            .collect();
        Ok(Prefilter {
            teddy,
            fallback,
            implied,
        })
    }

    /// Calls `hit` with the index of each keyword found in `data` (perhaps
    /// several times).
    pub fn find(&self, data: &[u8], mut hit: impl FnMut(usize)) {
        let Some(teddy) = &self.teddy else {
            for m in self.fallback.find_overlapping_iter(data) {
                hit(m.pattern().as_usize());
            }
            return;
        };
        LOWER.with_borrow_mut(|lower| {
            lower.clear();
            lower.extend(data.iter().map(u8::to_ascii_lowercase));
            let mut at = 0;
            while let Some(m) = teddy.find_in(&lower[..], Span::from(at..lower.len())) {
                for &k in &self.implied[m.pattern().as_usize()] {
                    hit(k);
                }
                at = m.start() + 1;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn found(p: &Prefilter, data: &[u8]) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        p.find(data, |k| {
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

    #[test]
    fn the_fallback_gives_the_same_answer() {
        let kws = ["secret", "secret_access_key", "ab", "bcd"];
        let owned: Vec<String> = kws.iter().map(|s| s.to_string()).collect();
        let mut p = Prefilter::new(&owned).unwrap();
        p.teddy = None;
        let data = b"xx SECRET_ACCESS_KEY abcd";
        assert_eq!(found(&p, data), brute(&kws, data));
    }
}
