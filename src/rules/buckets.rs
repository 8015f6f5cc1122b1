//! How the AVX-512 pass shares its needles out among its 8 buckets.
//!
//! A bucket's tables pass a byte at a fingerprint position when some needle
//! of the bucket has a byte with the same low bits there and some needle a
//! byte with the same high bits (any combination: `pwd` with `pypi` passes
//! `pyth`). So needles are grouped by the share of positions their union
//! would pass, estimated with `rarity`'s byte model: each needle alone,
//! then the two groups whose union costs the least more than they do apart
//! merged until the buckets suffice (families such as `ghp_`/`gho_` share
//! one for free), then single needles moved while a move helps.

use super::rarity;

pub const BUCKETS: usize = 8;
pub const FINGERPRINT: usize = 4;
/// Rounds of single-needle moves at most (each strictly lowers the total).
const MOST_SWEEPS: usize = 8;

/// How the tables split a byte: the index of its low `bits` bits, and of
/// its high `bits` bits (4 and 4: nibbles; 6 and 6 with VBMI, overlapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub bits: u32,
}

impl Split {
    pub fn low(self, b: u8) -> usize {
        usize::from(b) & ((1 << self.bits) - 1)
    }

    pub fn high(self, b: u8) -> usize {
        usize::from(b) >> (8 - self.bits)
    }

    /// Every index of a table.
    fn all(self) -> u64 {
        u64::MAX >> (64 - (1 << self.bits))
    }
}

/// The table indexes a bucket lets through at each fingerprint position
/// (bit `i` for index `i`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Masks {
    pub low: [u64; FINGERPRINT],
    pub high: [u64; FINGERPRINT],
}

impl Masks {
    /// What the fingerprint `fp` needs: its bytes in either case, any byte
    /// past its end.
    pub fn of(fp: &[u8], split: Split) -> Masks {
        let mut m = Masks::default();
        for k in 0..FINGERPRINT {
            match fp.get(k) {
                None => {
                    m.low[k] = split.all();
                    m.high[k] = split.all();
                }
                Some(&c) => {
                    for c in [c, c.to_ascii_uppercase()] {
                        m.low[k] |= 1 << split.low(c);
                        m.high[k] |= 1 << split.high(c);
                    }
                }
            }
        }
        m
    }

    pub fn with(mut self, other: &Masks) -> Masks {
        for k in 0..FINGERPRINT {
            self.low[k] |= other.low[k];
            self.high[k] |= other.high[k];
        }
        self
    }

    /// The estimated share of positions these masks pass (0 for none).
    fn rate(&self, split: Split) -> f64 {
        (0..FINGERPRINT)
            .map(|k| {
                let mut sum = 0.0;
                let mut lows = self.low[k];
                while lows != 0 {
                    let low = lows.trailing_zeros();
                    lows &= lows - 1;
                    for top in 0..1u32 << (8 - split.bits) {
                        let b = (top << split.bits | low) as u8;
                        if self.high[k] & 1 << split.high(b) != 0 {
                            sum += rarity::share(b);
                        }
                    }
                }
                sum
            })
            .product()
    }
}

/// A bucket: its needles and what their union lets through.
#[derive(Clone, Default)]
pub struct Group {
    masks: Masks,
    pub needles: Vec<usize>,
    rate: f64,
}

impl Group {
    fn of(needles: Vec<usize>, masks: &[Masks], split: Split) -> Group {
        let union = needles
            .iter()
            .fold(Masks::default(), |u, &n| u.with(&masks[n]));
        Group {
            rate: if needles.is_empty() {
                0.0
            } else {
                union.rate(split)
            },
            masks: union,
            needles,
        }
    }
}

/// The needles (by their masks) in [`BUCKETS`] groups, some maybe empty.
pub fn assign(masks: &[Masks], split: Split) -> Vec<Group> {
    let group = |needles: Vec<usize>| Group::of(needles, masks, split);
    let mut groups = merge(masks, split);
    groups.resize(BUCKETS, Group::default());
    for _ in 0..MOST_SWEEPS {
        let mut moved = false;
        for from in 0..BUCKETS {
            let mut k = 0;
            while k < groups[from].needles.len() {
                let n = groups[from].needles[k];
                let mut rest = groups[from].needles.clone();
                rest.remove(k);
                let left = group(rest);
                let gain = groups[from].rate - left.rate;
                let target = (0..BUCKETS)
                    .filter(|&to| to != from)
                    .map(|to| {
                        let joined = groups[to].masks.with(&masks[n]).rate(split);
                        (joined - groups[to].rate, to)
                    })
                    .filter(|&(cost, _)| cost < gain * (1.0 - 1e-9))
                    .min_by(|a, b| a.0.total_cmp(&b.0));
                match target {
                    Some((_, to)) => {
                        groups[from] = left;
                        groups[to] = group([&groups[to].needles[..], &[n]].concat());
                        moved = true;
                    }
                    None => k += 1,
                }
            }
        }
        if !moved {
            break;
        }
    }
    groups
}

/// Each needle alone, then the two groups whose union costs the least
/// more than they do apart merged, until at most [`BUCKETS`] are left.
fn merge(masks: &[Masks], split: Split) -> Vec<Group> {
    let group = |needles: Vec<usize>| Group::of(needles, masks, split);
    let mut groups: Vec<Group> = (0..masks.len()).map(|n| group(vec![n])).collect();
    // What merging groups i < j would add, kept up to date as groups merge.
    let more = |groups: &[Group], i: usize, j: usize| {
        groups[i].masks.with(&groups[j].masks).rate(split) - groups[i].rate - groups[j].rate
    };
    let mut cost: Vec<Vec<f64>> = (0..groups.len())
        .map(|i| (0..i).map(|j| more(&groups, j, i)).collect())
        .collect();
    while groups.len() > BUCKETS {
        let (mut best, mut i, mut j) = (f64::INFINITY, 0, 0);
        for (b, row) in cost.iter().enumerate() {
            for (a, &c) in row.iter().enumerate() {
                if c < best {
                    (best, i, j) = (c, a, b);
                }
            }
        }
        // Group j (the later) goes into group i; the last takes j's place.
        let taken = groups.swap_remove(j);
        groups[i] = group([groups[i].needles.clone(), taken.needles].concat());
        let tail = cost.pop().expect("a row per group");
        if j < tail.len() {
            cost[j].copy_from_slice(&tail[..j]);
            for (b, row) in cost.iter_mut().enumerate().skip(j + 1) {
                row[j] = tail[b];
            }
        }
        for a in (0..groups.len()).filter(|&a| a != i) {
            let (x, y) = (a.min(i), a.max(i));
            cost[y][x] = more(&groups, x, y);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups_of(needles: &[&str], split: Split) -> Vec<Vec<String>> {
        let masks: Vec<Masks> = needles
            .iter()
            .map(|n| Masks::of(n.as_bytes(), split))
            .collect();
        assign(&masks, split)
            .into_iter()
            .map(|g| g.needles.iter().map(|&n| needles[n].to_string()).collect())
            .collect()
    }

    #[test]
    fn families_share_a_bucket_and_common_words_keep_apart() {
        for bits in [4, 6] {
            let split = Split { bits };
            let needles = [
                "gho_", "ghp_", "ghr_", "ghs_", "ghu_", "xoxa", "xoxb", "xoxp", "xoxr", "xoxs",
                "toke", "secr", "pass", "pwd", "pypi", "akia", "asia", "npm_", "glpa", "apik",
            ];
            let groups = groups_of(&needles, split);
            assert_eq!(groups.len(), BUCKETS);
            let bucket_of = |n: &str| groups.iter().position(|g| g.iter().any(|x| x == n));
            for family in [["gho_", "ghu_"], ["xoxa", "xoxs"]] {
                assert_eq!(
                    bucket_of(family[0]),
                    bucket_of(family[1]),
                    "{bits}: {groups:?}"
                );
            }
            assert_ne!(bucket_of("pwd"), bucket_of("pypi"), "{bits}: {groups:?}");
            assert_ne!(bucket_of("toke"), bucket_of("pass"), "{bits}: {groups:?}");
        }
    }

    #[test]
    fn merging_keeps_its_costs_as_a_full_recount_would() {
        // The merge phase alone (no moves), recounting every pair each time.
        fn naive(masks: &[Masks], split: Split) -> Vec<Vec<usize>> {
            let group = |needles: Vec<usize>| Group::of(needles, masks, split);
            let mut groups: Vec<Group> = (0..masks.len()).map(|n| group(vec![n])).collect();
            while groups.len() > BUCKETS {
                let (mut best, mut i, mut j) = (f64::INFINITY, 0, 0);
                for b in 0..groups.len() {
                    for a in 0..b {
                        let union = groups[a].masks.with(&groups[b].masks).rate(split);
                        let more = union - groups[a].rate - groups[b].rate;
                        if more < best {
                            (best, i, j) = (more, a, b);
                        }
                    }
                }
                let taken = groups.swap_remove(j);
                groups[i] = group([groups[i].needles.clone(), taken.needles].concat());
            }
            groups.into_iter().map(|g| g.needles).collect()
        }
        let needles = [
            "://", "pwd", "akia", "asia", "gho_", "ghp_", "ghr_", "npm_", "_aut", "toke", "xapp",
            "xoxa", "xoxb", "\"aut", "apik", "glpa", "pass", "secr", "pi-k", "pi_k", "sk_l",
            "rk_t", "ub_p", "priv", "5vcm", "encr", "begi", "-typ", "ck.c", "9yzw", "key=",
        ];
        let split = Split { bits: 4 };
        let masks: Vec<Masks> = needles
            .iter()
            .map(|n| Masks::of(n.as_bytes(), split))
            .collect();
        let got: Vec<Vec<usize>> = merge(&masks, split)
            .into_iter()
            .map(|g| g.needles)
            .collect();
        assert_eq!(got, naive(&masks, split));
    }

    #[test]
    fn masks_pass_exactly_the_split_bits_of_both_cases() {
        let split = Split { bits: 6 };
        let m = Masks::of(b"a", split);
        for b in 0..=255u8 {
            let pass = m.low[0] & 1 << split.low(b) != 0 && m.high[0] & 1 << split.high(b) != 0;
            assert_eq!(pass, b == b'a' || b == b'A', "{b:#x}");
        }
        // Past a short fingerprint's end, any byte.
        assert_eq!(m.low[1], u64::MAX);
        let nibbles = Split { bits: 4 };
        assert_eq!(Masks::of(b"", nibbles).high[0], 0xffff);
    }
}
