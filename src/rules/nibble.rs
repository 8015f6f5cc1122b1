//! One pass, case-insensitive, for up to [`MOST_NEEDLES`] needles, with
//! AVX-512: Teddy's idea (bucket bits looked up by parts of each byte) with
//! 8 buckets over 64 bytes at a time, no lowercased copy of the data.
//!
//! Each needle goes to one of the buckets (see `buckets`). For each of 4
//! bytes of the needle (its fingerprint: the first 4, or a rarer window
//! further in, see `rarity`) the tables of that position mark the bucket
//! under the index of the byte's low bits and under that of its high bits,
//! for both cases of a letter. A position is a candidate for a bucket when
//! its next 4 bytes all pass that bucket's tables; candidates are then
//! verified against the bucket's needles, each placed back by its
//! fingerprint's offset. Positions past a short needle's end match any byte.
//!
//! With VBMI the tables have 64 entries, indexed by a byte's low 6 bits and
//! by its high 6 bits (`vpermb`); with AVX-512BW alone, 16, by its nibbles
//! (`vpshufb`), and a bucket passes more combinations of its needles' bytes.
//! Measured on mixed-1g (1.16 GB) with the built-in 41 needles: 35-38 ms of
//! CPU with 6-bit tables, 46 ms with nibbles (0.17 s/GB before needles had rare
//! fingerprints and buckets were shared out by the byte model), against 0.32
//! s/GB for a lowercased copy and two slim AVX2 Teddy passes (aho-corasick's
//! `packed`, which has no AVX-512 and no case folding). Without AVX-512BW
//! the prefilter keeps those passes.

use super::buckets::{assign, Masks, Split, BUCKETS, FINGERPRINT};
use super::rarity;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Needles per filter: six to a bucket on average (the built-in rules have
/// 41, in families such as `ghp_`, `gho_`... that share a bucket well).
pub const MOST_NEEDLES: usize = 48;
/// Bytes a vector step examines, and bytes it loads past its start.
const STEP: usize = 64;
const LOOKAHEAD: usize = STEP + FINGERPRINT - 1;
/// Steps whose candidates are verified together (at most 32).
const BLOCK_STEPS: usize = 16;

/// Bucket bits, per fingerprint position, per table index.
type Table = [[u8; 64]; FINGERPRINT];

pub struct Nibble {
    split: Split,
    low: Table,
    high: Table,
    buckets: [Vec<usize>; BUCKETS],
    needles: Vec<Needle>,
}

/// A needle, where its fingerprint starts in it, and its first 8 bytes as
/// a word to compare a candidate's with in one go.
struct Needle {
    bytes: Vec<u8>,
    offset: usize,
    head: Head,
}

/// `(word | fold) & keep == value` for the 8 bytes at a place holding the
/// needle's head: `fold` sets the case bit of letters, `keep` drops the
/// bytes past a short needle's end.
#[derive(Default)]
struct Head {
    fold: u64,
    keep: u64,
    value: u64,
}

impl Head {
    fn of(needle: &[u8]) -> Head {
        let mut h = Head::default();
        for (i, &c) in needle.iter().take(8).enumerate() {
            let shift = 8 * i;
            h.keep |= 0xff << shift;
            h.value |= u64::from(c) << shift;
            if c.is_ascii_lowercase() {
                h.fold |= 0x20 << shift;
            }
        }
        h
    }
}

impl Needle {
    /// Whether the needle occurs at `start` of `hay` (ASCII case-insensitively).
    fn at(&self, hay: &[u8], start: usize) -> bool {
        let Some(place) = hay.get(start..start + self.bytes.len()) else {
            return false;
        };
        match hay.get(start..start + 8) {
            Some(word) => {
                let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
                (word | self.head.fold) & self.head.keep == self.head.value
                    && place[place.len().min(8)..]
                        .eq_ignore_ascii_case(&self.bytes[place.len().min(8)..])
            }
            None => place.eq_ignore_ascii_case(&self.bytes),
        }
    }
}

/// The loop both vector searches share, over the positions of `$hay` a
/// whole step can examine, 64 at a time; gives the first it did not.
/// `$pass` gives the bucket bits the byte parts of the 64 bytes `$v` at
/// fingerprint position `$k` look up, low and high.
///
/// Steps are taken in blocks, their bucket bits stored as they come and the
/// candidates verified after the block: a branch on each step's candidates
/// (taken about one step in five in the bench images) was mispredicted
/// often enough to be what bounded this loop.
#[cfg(target_arch = "x86_64")]
macro_rules! steps {
    ($self:ident, $hay:ident, $found:ident, |$v:ident, $k:ident| $pass:expr) => {{
        let mut bits = [[0u8; STEP]; BLOCK_STEPS];
        let mut masks = [0u64; BLOCK_STEPS];
        let mut at = 0;
        while at + LOOKAHEAD <= $hay.len() {
            let steps = (($hay.len() - LOOKAHEAD - at) / STEP + 1).min(BLOCK_STEPS);
            let mut with_candidates = 0u32;
            for j in 0..steps {
                let base = at + j * STEP;
                let mut acc = _mm512_set1_epi8(-1);
                for $k in 0..FINGERPRINT {
                    // SAFETY: base + k + 64 <= base + LOOKAHEAD <= hay.len().
                    let $v = unsafe { _mm512_loadu_si512($hay.as_ptr().add(base + $k).cast()) };
                    let (low, high) = $pass;
                    // acc & low & high
                    acc = _mm512_ternarylogic_epi64(acc, low, high, 0x80);
                }
                masks[j] = _mm512_test_epi8_mask(acc, acc);
                with_candidates |= u32::from(masks[j] != 0) << j;
                // SAFETY: 64 bytes into a 64-byte array.
                unsafe { _mm512_storeu_si512(bits[j].as_mut_ptr().cast(), acc) };
            }
            while with_candidates != 0 {
                let j = with_candidates.trailing_zeros() as usize;
                with_candidates &= with_candidates - 1;
                let mut positions = masks[j];
                while positions != 0 {
                    let i = positions.trailing_zeros() as usize;
                    positions &= positions - 1;
                    $self.verify($hay, at + j * STEP + i, bits[j][i], $found);
                }
            }
            at += steps * STEP;
        }
        at
    }};
}

impl Nibble {
    /// A filter for `needles` (lowercase, none empty), or `None` when the CPU
    /// lacks AVX-512BW or there are too many needles.
    pub fn new(needles: &[Vec<u8>]) -> Option<Nibble> {
        Nibble::with(needles, lookup()?)
    }

    /// [`Nibble::new`] with tables split as `split` says (the CPU allowing).
    fn with(needles: &[Vec<u8>], split: Split) -> Option<Nibble> {
        if needles.len() > MOST_NEEDLES || needles.iter().any(Vec::is_empty) {
            return None;
        }
        let needles: Vec<Needle> = needles
            .iter()
            .map(|n| Needle {
                offset: rarity::fingerprint_at(n, FINGERPRINT),
                head: Head::of(n),
                bytes: n.clone(),
            })
            .collect();
        let masks = |split: Split| -> Vec<Masks> {
            needles
                .iter()
                .map(|n| Masks::of(&n.bytes[n.offset..], split))
                .collect()
        };
        // Grouped by nibbles whatever the tables: see `buckets`.
        let by_nibbles = masks(NIBBLES);
        let by_split = if split == NIBBLES {
            by_nibbles.clone()
        } else {
            masks(split)
        };
        let (mut low, mut high) = ([[0; 64]; FINGERPRINT], [[0; 64]; FINGERPRINT]);
        let mut buckets: [Vec<usize>; BUCKETS] = Default::default();
        for (bucket, group) in assign(&by_nibbles, NIBBLES).into_iter().enumerate() {
            let masks = group
                .needles
                .iter()
                .fold(Masks::default(), |m, &n| m.with(&by_split[n]));
            for k in 0..FINGERPRINT {
                for i in 0..64 {
                    if masks.low[k] & 1 << i != 0 {
                        low[k][i] |= 1 << bucket;
                    }
                    if masks.high[k] & 1 << i != 0 {
                        high[k][i] |= 1 << bucket;
                    }
                }
            }
            buckets[bucket] = group.needles;
        }
        Some(Nibble {
            split,
            low,
            high,
            buckets,
            needles,
        })
    }

    /// Calls `found` with the needle and the position of every occurrence
    /// of a needle in `hay` (ASCII case-insensitively).
    pub fn find(&self, hay: &[u8], mut found: impl FnMut(usize, usize)) {
        // SAFETY: `lookup` chose the split by what the CPU has.
        #[cfg(target_arch = "x86_64")]
        let at = unsafe {
            if self.split == SIXES {
                self.find_sixes(hay, &mut found)
            } else {
                self.find_nibbles(hay, &mut found)
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        let at = 0;
        for p in at..hay.len() {
            let bits = (0..FINGERPRINT).fold(u8::MAX, |bits, k| {
                bits & hay.get(p + k).map_or(u8::MAX, |&b| self.buckets_of(k, b))
            });
            self.verify(hay, p, bits, &mut found);
        }
    }

    /// The buckets whose tables let byte `b` through at fingerprint position `k`.
    fn buckets_of(&self, k: usize, b: u8) -> u8 {
        self.low[k][self.split.low(b)] & self.high[k][self.split.high(b)]
    }

    /// Reports the needles of the buckets in `bits` that occur at `p`. The
    /// caller checks the keywords holding them again, but this check is the
    /// cheap early exit: handing every candidate to the keyword check was
    /// measured slower (mixed-1g/docker audit CPU 2.65 -> 2.72 s).
    fn verify(&self, hay: &[u8], p: usize, mut bits: u8, found: &mut impl FnMut(usize, usize)) {
        while bits != 0 {
            let bucket = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            for &n in &self.buckets[bucket] {
                let needle = &self.needles[n];
                if let Some(start) = p.checked_sub(needle.offset) {
                    if needle.at(hay, start) {
                        found(n, start);
                    }
                }
            }
        }
    }

    /// [`Nibble::find`]'s vector part with 16-entry tables (`vpshufb`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn find_nibbles(&self, hay: &[u8], found: &mut impl FnMut(usize, usize)) -> usize {
        let nibble = _mm512_set1_epi8(0x0f);
        // SAFETY: the first 16 bytes of each table, read unaligned.
        let table =
            |t: &[u8; 64]| _mm512_broadcast_i32x4(unsafe { _mm_loadu_si128(t.as_ptr().cast()) });
        let low = self.low.each_ref().map(table);
        let high = self.high.each_ref().map(table);
        steps!(self, hay, found, |v, k| (
            _mm512_shuffle_epi8(low[k], _mm512_and_si512(v, nibble)),
            _mm512_shuffle_epi8(high[k], _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble)),
        ))
    }

    /// [`Nibble::find`]'s vector part with 64-entry tables (`vpermb`, which
    /// reads only the low 6 bits of each index byte: no masking).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    unsafe fn find_sixes(&self, hay: &[u8], found: &mut impl FnMut(usize, usize)) -> usize {
        // SAFETY: 64 bytes, read unaligned.
        let table = |t: &[u8; 64]| unsafe { _mm512_loadu_si512(t.as_ptr().cast()) };
        let low = self.low.each_ref().map(table);
        let high = self.high.each_ref().map(table);
        steps!(self, hay, found, |v, k| (
            _mm512_permutexvar_epi8(v, low[k]),
            _mm512_permutexvar_epi8(_mm512_srli_epi16(v, 2), high[k]),
        ))
    }
}

/// Tables indexed by a byte's nibbles, and by its low and high 6 bits.
const NIBBLES: Split = Split { bits: 4 };
const SIXES: Split = Split { bits: 6 };

/// The table split the CPU allows, or `None` without AVX-512BW.
#[cfg(target_arch = "x86_64")]
fn lookup() -> Option<Split> {
    if !(is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")) {
        return None;
    }
    Some(if is_x86_feature_detected!("avx512vbmi") {
        SIXES
    } else {
        NIBBLES
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn lookup() -> Option<Split> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `f` reports, by position then needle.
    fn found(f: &Nibble, hay: &[u8]) -> Vec<(usize, usize)> {
        let mut got = Vec::new();
        f.find(hay, |n, p| got.push((n, p)));
        got.sort_unstable_by_key(|&(n, p)| (p, n));
        got
    }

    /// Every (needle, position), by brute force, by position then needle.
    fn brute(needles: &[Vec<u8>], hay: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for p in 0..hay.len() {
            for (n, needle) in needles.iter().enumerate() {
                if hay
                    .get(p..p + needle.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(needle))
                {
                    out.push((n, p));
                }
            }
        }
        out
    }

    /// A filter for `needles` with each table split the CPU allows (none
    /// without AVX-512BW: the prefilter's Teddy path is what runs there).
    fn filters(needles: &[Vec<u8>]) -> Vec<Nibble> {
        let best = lookup();
        [NIBBLES, SIXES]
            .into_iter()
            .filter(|&split| best.is_some_and(|b| split.bits <= b.bits))
            .map(|split| Nibble::with(needles, split).expect("a filter"))
            .collect()
    }

    fn lower(words: &[&str]) -> Vec<Vec<u8>> {
        words
            .iter()
            .map(|w| w.as_bytes().to_ascii_lowercase())
            .collect()
    }

    #[test]
    fn every_occurrence_at_every_offset_in_any_case() {
        // `github_pat_` and `proc-type: 4,...` are fingerprinted further in.
        let needles = lower(&[
            "token",
            "ab",
            "x",
            "secret_key",
            "_pwd",
            "@`[{",
            "ghp_",
            "gho_",
            "github_pat_",
            "proc-type: 4,encrypted",
        ]);
        assert!(needles
            .iter()
            .any(|n| rarity::fingerprint_at(n, FINGERPRINT) > 0));
        for f in filters(&needles) {
            for needle in [
                "TOKEN",
                "ToKeN",
                "aB",
                "X",
                "SECRET_KEY",
                "_PWD",
                "@`[{",
                "GHP_",
                "ghO_",
                "GitHub_Pat_",
                "Proc-Type: 4,ENCRYPTED",
            ] {
                // Around both edges of a step, and in the scalar tail.
                for at in [0, 1, 59, 60, 61, 62, 63, 64, 65, 120, 127, 128, 130, 190] {
                    for len in [at + needle.len(), at + needle.len() + 1, 200, 260] {
                        let mut hay = vec![b'.'; len.max(at + needle.len())];
                        hay[at..at + needle.len()].copy_from_slice(needle.as_bytes());
                        assert_eq!(
                            found(&f, &hay),
                            brute(&needles, &hay),
                            "{needle} at {at} of {len}, {:?}",
                            f.split
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn near_misses_are_not_reported() {
        // Case folds letters only: '@' is not '`', '[' is not '{'.
        let needles = lower(&["@`[{", "token"]);
        let mut hay = b"`@{[ tokem toke_n `@[{ @`{[ 0123 TOKEN".repeat(5);
        hay.extend_from_slice(&[0xff; 70]);
        for f in filters(&needles) {
            let got = found(&f, &hay);
            assert_eq!(got, brute(&needles, &hay));
            assert_eq!(got.len(), 5, "one TOKEN a line");
        }
    }

    #[test]
    fn pseudo_random_text_agrees_with_brute_force() {
        let needles = lower(&[
            "://",
            "pwd",
            "gho_",
            "ghp_",
            "xoxb-",
            "glpat-",
            "api-key",
            "api_key",
            "k_live_",
            "pypi-age",
            "accountkey=",
            "akia",
            "auth",
            "passw",
            "token",
            "secret",
            "private",
            "github_pat_",
        ]);
        let alphabet = b"tokenTOKENsecrtSECRpwdPWD:/_-aAkKiIgGhHpPxXbBuU=. \n\0\xff";
        for f in filters(&needles) {
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            for len in [0, 1, 3, 66, 67, 68, 131, 1000, 4097] {
                let hay: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        alphabet[(x % alphabet.len() as u64) as usize]
                    })
                    .collect();
                assert_eq!(found(&f, &hay), brute(&needles, &hay), "length {len}");
            }
        }
    }

    #[test]
    fn too_many_needles_are_left_to_teddy() {
        let many: Vec<Vec<u8>> = (0..=MOST_NEEDLES)
            .map(|i| format!("n{i:03}").into_bytes())
            .collect();
        assert!(Nibble::new(&many).is_none());
        assert!(Nibble::new(&[Vec::new()]).is_none(), "an empty needle");
    }
}
