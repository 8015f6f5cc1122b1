//! Known-secret search: given only the sha256 of a real key (never the key),
//! find that exact key anywhere, whatever form it took: the key file itself,
//! a PEM block, its DER body, base64 or hex of either. A search that finds
//! nothing is reported too, which turns "no leak" into evidence.

use anyhow::{bail, Result};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The forms a known secret is recognised in.
pub const FORMS: &[&str] = &["file", "pem", "der", "base64", "hex"];

/// Shortest base64 / hex run worth decoding (a P-256 key's DER is 138 bytes).
const MIN_BASE64: usize = 64;
const MIN_HEX: usize = 128;
/// Longest PEM block or DER object considered.
const MAX_BLOCK: usize = 64 << 10;

#[derive(Debug, Default, Clone)]
pub struct KnownKeys {
    by_hash: HashMap<[u8; 32], usize>,
    /// The hashes as given (lowercase hex), in order.
    pub hexes: Vec<String>,
}

/// A known secret found at `offset` of a buffer, in `form`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub key: usize,
    pub form: &'static str,
    pub offset: usize,
}

fn sha(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

impl KnownKeys {
    pub fn new(hexes: &[String]) -> Result<KnownKeys> {
        let mut k = KnownKeys::default();
        for h in hexes {
            let h = h.trim().to_ascii_lowercase();
            let h = h.strip_prefix("sha256:").unwrap_or(&h).to_string();
            let Ok(bytes) = hex::decode(&h) else {
                bail!("known secret {h:?}: not hex");
            };
            let Ok(arr) = <[u8; 32]>::try_from(bytes.as_slice()) else {
                bail!("known secret {h:?}: a sha256 is 64 hex digits");
            };
            if k.by_hash.insert(arr, k.hexes.len()).is_none() {
                k.hexes.push(h);
            }
        }
        Ok(k)
    }

    /// Reads one sha256 per line (`#` comments and blank lines skipped; a
    /// `sha256sum` line works too).
    pub fn parse_file(text: &str) -> Vec<String> {
        text.lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.hexes.is_empty()
    }

    /// The key a whole file's sha256 is, if any.
    pub fn whole(&self, digest: &[u8; 32]) -> Option<usize> {
        self.by_hash.get(digest).copied()
    }

    fn check(&self, data: &[u8], form: &'static str, offset: usize, out: &mut Vec<Found>) {
        if let Some(&key) = self.by_hash.get(&sha(data)) {
            out.push(Found { key, form, offset });
        }
    }

    /// Every known secret in `data`, in every form.
    pub fn search(&self, data: &[u8], out: &mut Vec<Found>) {
        if self.is_empty() {
            return;
        }
        self.search_at(data, 0, 0, out);
    }

    fn search_at(&self, data: &[u8], base: usize, depth: usize, out: &mut Vec<Found>) {
        self.pem_blocks(data, base, out);
        self.der_objects(data, base, out);
        if depth < 2 {
            self.encoded_runs(data, base, depth, out);
        }
    }

    /// `-----BEGIN ...-----` blocks: the block as written (with and without
    /// a final newline) and the DER its body decodes to.
    fn pem_blocks(&self, data: &[u8], base: usize, out: &mut Vec<Found>) {
        // The first `-----END ` at or after each BEGIN, found once for all
        // the BEGINs before it (a run of BEGINs without an END stays linear).
        let mut end: Option<usize> = None;
        for start in memchr::memmem::find_iter(data, b"-----BEGIN ") {
            if end.is_none_or(|e| e < start) {
                end = memchr::memmem::find(&data[start..], b"-----END ").map(|e| start + e);
            }
            let Some(end_at) = end.map(|e| e - start) else {
                return;
            };
            let window = &data[start..data.len().min(start + MAX_BLOCK)];
            if end_at + 9 > window.len() {
                continue;
            }
            let after = &window[end_at + 9..];
            let Some(close) = memchr::memmem::find(&after[..after.len().min(80)], b"-----") else {
                continue;
            };
            let block_end = end_at + 9 + close + 5;
            let block = &window[..block_end];
            self.check(block, "pem", base + start, out);
            let mut with_nl = block.to_vec();
            with_nl.push(b'\n');
            self.check(&with_nl, "pem", base + start, out);
            let body: Vec<u8> = block
                .split(|&b| b == b'\n')
                .skip(1)
                .filter(|l| !l.starts_with(b"-----") && !l.contains(&b':'))
                .flat_map(|l| l.iter().copied().filter(|b| !b.is_ascii_whitespace()))
                .collect();
            if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&body) {
                self.check(&der, "der", base + start, out);
            }
        }
    }

    /// Raw DER private keys: every [`der_key`] not inside an earlier one.
    fn der_objects(&self, data: &[u8], base: usize, out: &mut Vec<Found>) {
        for key in der_keys(data) {
            self.check(&data[key.clone()], "der", base + key.start, out);
        }
    }

    /// A decoded run: the secret itself, else searched again inside.
    fn decoded(
        &self,
        bytes: &[u8],
        form: &'static str,
        at: usize,
        depth: usize,
        out: &mut Vec<Found>,
    ) {
        let before = out.len();
        self.check(bytes, form, at, out);
        if out.len() == before {
            self.search_at(bytes, at, depth + 1, out);
        }
    }

    /// Long base64 and hex runs, decoded and searched again (a base64 PEM
    /// in an ENV value, a hex DER in a config file).
    fn encoded_runs(&self, data: &[u8], base: usize, depth: usize, out: &mut Vec<Found>) {
        // `=` only pads the end of a run, so `NAME=<base64>` splits at it.
        let is_b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
        let mut i = 0;
        while i < data.len() {
            if !is_b64(data[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < data.len() && is_b64(data[i]) {
                i += 1;
            }
            let run = &data[start..i];
            if run.len() >= MIN_HEX
                && run.len().is_multiple_of(2)
                && run.iter().all(u8::is_ascii_hexdigit)
            {
                if let Ok(bytes) = hex::decode(run) {
                    self.decoded(&bytes, "hex", base + start, depth, out);
                }
            } else if run.len() >= MIN_BASE64 {
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(run) {
                    self.decoded(&bytes, "base64", base + start, depth, out);
                }
            }
        }
    }
}

/// A DER element's header at the start of `data`: (tag, header length,
/// content length), definite lengths up to 64 KiB.
fn der_header(data: &[u8]) -> Option<(u8, usize, usize)> {
    let (&tag, rest) = data.split_first()?;
    match *rest {
        [l, ..] if l < 0x80 => Some((tag, 2, l as usize)),
        [0x81, l, ..] if l >= 0x80 => Some((tag, 3, l as usize)),
        [0x82, h, l, ..] if h > 0 => Some((tag, 4, (h as usize) << 8 | l as usize)),
        _ => None,
    }
}

/// The length of the private key at the start of `data`, if it is one by
/// shape: a SEQUENCE of at most 16 elements that fill it exactly, the first
/// `INTEGER 0` or `1` (the version of PKCS#1, PKCS#8 and SEC1 keys), at
/// least 32 bytes in all.
fn der_key(data: &[u8]) -> Option<usize> {
    let (tag, header, len) = der_header(data)?;
    let total = header + len;
    if tag != 0x30 || !(32..=MAX_BLOCK).contains(&total) || total > data.len() {
        return None;
    }
    if !matches!(data.get(header..header + 3)?, [0x02, 0x01, 0 | 1]) {
        return None;
    }
    let mut at = header;
    for _ in 0..16 {
        let (_, h, l) = der_header(&data[at..total])?;
        at += h + l;
        if at >= total {
            return (at == total).then_some(total);
        }
    }
    None
}

/// Where [`der_key`]s are in `data`: each byte is hashed at most once, as
/// a candidate starting inside a key already taken is skipped.
fn der_keys(data: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut keys: Vec<std::ops::Range<usize>> = Vec::new();
    for pos in memchr::memchr_iter(0x30, data) {
        if keys.last().is_some_and(|k| pos < k.end) {
            continue;
        }
        if let Some(len) = der_key(&data[pos..]) {
            keys.push(pos..pos + len);
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg398cPeA97CUv/spI\nTSn8m/7w1dCrJewg+MeVXvvoOD6hRANCAATVGn4Z9B5IL3MhJ12aij+Wv4jxpGpH\nKTerWqRGWoe621Kt2FZC4JdVbYu50JVfO/TXsC4DpYqzdpvxplZN2EmR\n-----END PRIVATE KEY-----\n";

    fn der() -> Vec<u8> {
        let body: String = PEM.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    }

    fn keys(data: &[u8]) -> KnownKeys {
        KnownKeys::new(&[hex::encode(sha(data))]).unwrap()
    }

    fn forms(k: &KnownKeys, data: &[u8]) -> Vec<&'static str> {
        let mut out = Vec::new();
        k.search(data, &mut out);
        let mut f: Vec<_> = out.iter().map(|f| f.form).collect();
        f.dedup();
        f
    }

    #[test]
    fn finds_the_key_file_hash_in_every_form() {
        let k = keys(PEM.as_bytes());
        assert_eq!(forms(&k, format!("junk\n{PEM}junk").as_bytes()), ["pem"]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(PEM);
        assert_eq!(forms(&k, format!("KEY_B64={b64}\n").as_bytes()), ["base64"]);
        let hx = hex::encode(PEM);
        assert!(forms(&k, hx.as_bytes()).contains(&"hex"));
    }

    #[test]
    fn finds_the_der_hash_raw_and_encoded() {
        let der = der();
        let k = keys(&der);
        assert_eq!(forms(&k, PEM.as_bytes()), ["der"]);
        let mut bin = vec![0u8; 1000];
        bin.extend_from_slice(&der);
        bin.extend_from_slice(&[0xcc; 500]);
        assert_eq!(forms(&k, &bin), ["der"]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        assert!(forms(&k, b64.as_bytes()).contains(&"base64"));
    }

    #[test]
    fn other_keys_and_bad_hashes() {
        let k = keys(b"some other key");
        assert!(forms(&k, PEM.as_bytes()).is_empty());
        assert!(KnownKeys::new(&["abc".into()]).is_err());
        assert!(KnownKeys::new(&["zz".repeat(32)]).is_err());
        assert_eq!(
            KnownKeys::parse_file("# ours\nABCD  key.pem\n\n"),
            vec!["ABCD".to_string()]
        );
    }

    #[test]
    fn der_candidates_are_keys_by_shape_and_never_overlap() {
        let der = der();
        let mut bin = vec![0x30u8; 100];
        bin.extend_from_slice(&der);
        bin.extend_from_slice(&[0x30, 0x82, 0xff, 0x00]);
        assert_eq!(der_keys(&bin), vec![100..100 + der.len()]);
        // Crafted: a SEQUENCE header at every 4th byte, and a chain of
        // nested version-0 SEQUENCEs. Each byte is hashed at most once.
        let headers = [0x30, 0x82, 0xff, 0x00].repeat(1 << 18);
        assert!(der_keys(&headers).is_empty());
        let wrap = |content: Vec<u8>| {
            let n = content.len();
            let mut out = match n {
                0..=127 => vec![0x30, n as u8],
                128..=255 => vec![0x30, 0x81, n as u8],
                _ => vec![0x30, 0x82, (n >> 8) as u8, n as u8],
            };
            out.extend(content);
            out
        };
        let mut chain = wrap(
            vec![0x02, 0x01, 0x00, 0x04, 0x1c, 0xaa]
                .into_iter()
                .chain([0xbb; 27])
                .collect(),
        );
        for _ in 0..9000 {
            chain = wrap([vec![0x02, 0x01, 0x00], chain].concat());
        }
        let keys = der_keys(&chain);
        assert_eq!(keys, vec![0..chain.len()], "the outermost, once");
        let hashed: usize = keys.iter().map(|k| k.len()).sum();
        assert!(
            hashed <= chain.len(),
            "{hashed} bytes hashed of {}",
            chain.len()
        );
    }
}
