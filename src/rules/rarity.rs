//! How often a byte pattern turns up in the files of an image, estimated
//! from byte frequencies alone: what the AVX-512 pass uses to give each
//! needle a rare fingerprint and to share its buckets out so that they let
//! few false candidates through (see `buckets`).
//!
//! The model is crude on purpose: each byte independent, letters by their
//! English frequency (lower case ten times as common as upper), blanks and
//! code punctuation common, control and non-ASCII bytes rare. It tells
//! `proc` (part of `process`) from `: 4,`, and `p[wy][dp]?` (which passes
//! `python`) from `pwd`, and that is what it is for.

/// English letter frequencies, per mille, `a` to `z`.
const LETTERS: [u16; 26] = [
    82, 15, 28, 43, 127, 22, 20, 61, 70, 2, 8, 40, 24, 67, 75, 19, 1, 60, 63, 91, 28, 10, 24, 2,
    20, 1,
];

/// The estimated share of byte `b` among the bytes of text and source files.
pub fn share(b: u8) -> f64 {
    SHARES[usize::from(b)]
}

const SHARES: [f64; 256] = {
    let mut t = [0.0; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = estimate(b as u8);
        b += 1;
    }
    t
};

const fn estimate(b: u8) -> f64 {
    // Computed for any byte (wrapped into range), used for letters only.
    let letter = LETTERS[(b.to_ascii_lowercase().wrapping_sub(b'a') % 26) as usize] as f64 / 1000.0;
    match b {
        b'a'..=b'z' => 0.55 * letter,
        b'A'..=b'Z' => 0.055 * letter,
        b' ' => 0.12,
        b'\n' => 0.025,
        b'\t' => 0.01,
        b'0'..=b'9' => 0.01,
        b'_' | b'.' | b',' | b':' | b';' | b'=' | b'"' | b'\'' | b'(' | b')' | b'/' | b'-' => 0.008,
        0x21..=0x7e => 0.002,
        _ => 0.0002,
    }
}

/// How often `window` occurs, in any case (the needles match ASCII case
/// insensitively), per byte of data.
fn rate(window: &[u8]) -> f64 {
    window
        .iter()
        .map(|&b| {
            if b.is_ascii_alphabetic() {
                share(b.to_ascii_lowercase()) + share(b.to_ascii_uppercase())
            } else {
                share(b)
            }
        })
        .product()
}

/// Where the `width`-byte window of `needle` to fingerprint it by starts:
/// its first, unless a later one that is not all letters is at least
/// [`CLEARLY_RARER`] times rarer (`ub_p` for `github_pat_`, `-typ` for
/// `proc-type: 4,encrypted`). Within a run of letters the model cannot be
/// trusted: `cryp` looks rarer than `encr`, but Go's toolchain is full of
/// `crypto`, and `oken` than `toke`, but `broken` is common.
pub fn fingerprint_at(needle: &[u8], width: usize) -> usize {
    if needle.len() <= width {
        return 0;
    }
    let first = rate(&needle[..width]);
    let (at, best) = (1..=needle.len() - width)
        .filter(|&i| !needle[i..i + width].iter().all(u8::is_ascii_alphabetic))
        .map(|i| (i, rate(&needle[i..i + width])))
        .fold(
            (0, first),
            |(a, ra), (b, rb)| if rb < ra { (b, rb) } else { (a, ra) },
        );
    if best * CLEARLY_RARER <= first {
        at
    } else {
        0
    }
}

/// See [`fingerprint_at`].
const CLEARLY_RARER: f64 = 4.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_their_first_window_and_punctuated_needles_move_to_a_rare_one() {
        assert_eq!(fingerprint_at(b"token", 4), 0);
        assert_eq!(fingerprint_at(b"secret", 4), 0);
        assert_eq!(fingerprint_at(b"pwd", 4), 0, "shorter than a window");
        assert_eq!(fingerprint_at(b"ghp_", 4), 0, "one window");
        assert_eq!(fingerprint_at(b"encrypted private key", 4), 0, "not `cryp`");
        let at = fingerprint_at(b"github_pat_", 4);
        assert!(b"github_pat_"[at..at + 4].contains(&b'_'), "{at}");
        let at = fingerprint_at(b"proc-type: 4,encrypted", 4);
        assert!(at > 0 && at < 12, "{at}");
    }

    #[test]
    fn letters_are_commoner_than_punctuation_and_lower_case_than_upper() {
        assert!(share(b'e') > share(b't') && share(b't') > share(b'q'));
        assert!(share(b'e') > 5.0 * share(b'E'));
        assert!(share(b'q') > share(b'\x01') && share(b'q') > share(0xe9));
        assert!(share(b'_') > share(b'~'));
        // Every byte, counted once: the shares sum to about one.
        let all: f64 = (0..=255).map(share).sum();
        assert!((0.9..1.1).contains(&all), "{all}");
    }
}
