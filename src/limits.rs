//! Resource limits for hostile images: decompressed bytes per layer and per
//! image, entries per layer, path length. Hitting one stops the audit with
//! an error that names the limit and its flag, never a silent skip. (JSON
//! documents are capped at 64 MiB, index nesting at 8, tar extension
//! headers at 64 KiB / 1 MiB: see the readers.)

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone)]
pub struct Limits {
    /// Decompressed bytes of one layer (`--max-layer-size`).
    pub layer_bytes: u64,
    /// Decompressed bytes of all layers of a source (`--max-image-size`).
    pub image_bytes: u64,
    /// Tar entries in one layer (`--max-entries`).
    pub entries: u64,
    /// Bytes in one path (`--max-path-length`).
    pub path_length: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            layer_bytes: 64 << 30,
            image_bytes: 256 << 30,
            entries: 5_000_000,
            path_length: 4096,
        }
    }
}

/// Counts decompressed bytes and fails past the layer or image limit.
pub struct Capped<'a, R> {
    inner: R,
    layer: u64,
    limits: &'a Limits,
    image: &'a AtomicU64,
}

impl<'a, R: Read> Capped<'a, R> {
    pub fn new(inner: R, limits: &'a Limits, image: &'a AtomicU64) -> Self {
        Capped {
            inner,
            layer: 0,
            limits,
            image,
        }
    }
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.layer += n as u64;
        if self.layer > self.limits.layer_bytes {
            return Err(io::Error::other(format!(
                "the layer decompresses to more than {} bytes (--max-layer-size)",
                self.limits.layer_bytes
            )));
        }
        let total = self.image.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if total > self.limits.image_bytes {
            return Err(io::Error::other(format!(
                "the image decompresses to more than {} bytes (--max-image-size)",
                self.limits.image_bytes
            )));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_layer_and_image_bytes() {
        let limits = Limits {
            layer_bytes: 10,
            image_bytes: 15,
            ..Limits::default()
        };
        let image = AtomicU64::new(0);
        let mut out = Vec::new();
        let err = Capped::new(&[0u8; 11][..], &limits, &image)
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(err.to_string().contains("--max-layer-size"), "{err}");
        let image = AtomicU64::new(0);
        Capped::new(&[0u8; 8][..], &limits, &image)
            .read_to_end(&mut out)
            .unwrap();
        let err = Capped::new(&[0u8; 8][..], &limits, &image)
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(err.to_string().contains("--max-image-size"), "{err}");
    }
}
