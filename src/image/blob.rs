//! Blob streams: compression sniffed from magic bytes, digests computed while
//! the bytes stream past.

use anyhow::{bail, Result};
use sha2::{Digest, Sha256};
use std::io::{self, BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// What a media type claims (`+gzip`, `.tar.gzip`, `+zstd`...).
    pub fn from_media_type(mt: &str) -> Option<Compression> {
        if mt.ends_with("gzip") {
            Some(Compression::Gzip)
        } else if mt.ends_with("zstd") {
            Some(Compression::Zstd)
        } else if mt.ends_with("tar") || mt.ends_with(".rootfs.diff.tar") {
            Some(Compression::None)
        } else {
            None
        }
    }

    /// Wraps `r` in the matching decoder. Gzip streams may hold several
    /// members (eStargz does), so all of them are read.
    pub fn decoder<'a, R: BufRead + 'a>(self, r: R) -> Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::None => Box::new(r),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        })
    }
}

/// Compressions recognised but not read: magic bytes, name, the command
/// that undoes them.
const UNREAD: &[(&[u8], &str, &str)] = &[
    (b"\xfd7zXZ\x00", "xz", "xz -dk"),
    (b"BZh", "bzip2", "bzip2 -dk"),
];

/// The compression a stream starts with, by its magic bytes; xz and bzip2
/// are named rather than taken for a tar that fails to parse.
pub fn sniff(head: &[u8]) -> Result<Compression> {
    if let Some((_, name, tool)) = UNREAD.iter().find(|(magic, ..)| head.starts_with(magic)) {
        bail!(
            "compressed with {name}, which stowaway does not read (it reads plain tar, gzip and zstd): decompress it first ({tool} FILE)"
        );
    }
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    })
}

/// A running sha256 and byte count shared between a reader and its owner.
#[derive(Clone, Default)]
pub struct Tally(Arc<Mutex<(Sha256, u64)>>);

impl Tally {
    pub fn finish(&self) -> (String, u64) {
        let g = self.0.lock().expect("tally lock");
        (
            format!("sha256:{}", hex::encode(g.0.clone().finalize())),
            g.1,
        )
    }
}

/// Hashes and counts everything read through it; calls `progress` with the
/// number of bytes of each read.
pub struct Hashing<R, P: Fn(u64)> {
    inner: R,
    tally: Tally,
    progress: P,
}

impl<R: Read, P: Fn(u64)> Hashing<R, P> {
    pub fn new(inner: R, tally: Tally, progress: P) -> Self {
        Hashing {
            inner,
            tally,
            progress,
        }
    }
}

impl<R: Read, P: Fn(u64)> Read for Hashing<R, P> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            let mut g = self.tally.0.lock().expect("tally lock");
            g.0.update(&buf[..n]);
            g.1 += n as u64;
            drop(g);
            (self.progress)(n as u64);
        }
        Ok(n)
    }
}

/// A layer blob opened for reading: the decompressed tar stream, plus tallies
/// of the raw (compressed) and decompressed bytes to verify once it is drained.
pub struct LayerStream<'a> {
    pub reader: Box<dyn Read + 'a>,
    pub raw: Tally,
    pub plain: Tally,
    pub compression: Compression,
}

pub fn open_layer<'a, P: Fn(u64) + 'a>(
    raw: &'a mut dyn Read,
    progress: P,
) -> Result<LayerStream<'a>> {
    let raw_tally = Tally::default();
    let mut buffered =
        BufReader::with_capacity(256 << 10, Hashing::new(raw, raw_tally.clone(), progress));
    let compression = sniff(buffered.fill_buf()?)?;
    if compression == Compression::None {
        // The blob is the tar: one hash serves as digest and diff_id.
        return Ok(LayerStream {
            reader: Box::new(buffered),
            raw: raw_tally.clone(),
            plain: raw_tally,
            compression,
        });
    }
    let plain_tally = Tally::default();
    let decoded = compression.decoder(buffered)?;
    Ok(LayerStream {
        reader: Box::new(Hashing::new(decoded, plain_tally.clone(), |_| {})),
        raw: raw_tally,
        plain: plain_tally,
        compression,
    })
}

/// Checks a computed digest against the expected one (`sha256:<hex>`).
pub fn check_digest(what: &str, expected: &str, actual: &str) -> Result<()> {
    if !expected.starts_with("sha256:") {
        bail!("{what}: unsupported digest algorithm in {expected}");
    }
    if !expected.eq_ignore_ascii_case(actual) {
        bail!("{what}: digest mismatch: expected {expected}, got {actual}");
    }
    Ok(())
}

/// Checks a `sha256:<64 hex>` digest and returns it in lowercase.
pub fn parse_digest(d: &str) -> Result<String> {
    let Some((algo, hex)) = d.split_once(':') else {
        bail!("malformed digest {d:?} (expected sha256:<64 hex digits>)");
    };
    if algo != "sha256" {
        bail!("unsupported digest algorithm in {d:?} (only sha256)");
    }
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("malformed digest {d:?} (expected sha256:<64 hex digits>)");
    }
    Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
}

pub fn sha256_hex(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}
