//! A bounded walk over a layer's tar stream. GNU long names and links and
//! PAX headers are decoded here, each under a size limit, instead of being
//! read whole by the tar crate (a hostile header could claim gigabytes).
//! Sparse files are read as stored: their holes are never expanded.

use crate::image::container::clean_name;
use crate::layer::EntryKind;
use anyhow::{bail, Context, Result};
use std::io::Read;

/// Longest GNU long name or link accepted.
pub const MAX_LONG_NAME: u64 = 64 << 10;
/// Largest PAX extended header accepted.
pub const MAX_PAX: u64 = 1 << 20;

/// What a tar entry is, with whiteouts decoded: `.wh.NAME` hides NAME,
/// `.wh..wh..opq` hides the directory's lower contents.
pub struct Meta {
    pub path: String,
    pub size: u64,
    pub mode: u32,
    pub kind: EntryKind,
    pub link: Option<String>,
}

/// Maps a tar entry name to an absolute image path, control characters
/// escaped.
pub fn image_path(raw: &[u8]) -> String {
    let path = format!("/{}", clean_name(&String::from_utf8_lossy(raw)));
    crate::redact::escape_controls(&path)
}

/// `LEN key=value\n` records of a PAX header; parsing stops at the first
/// malformed record.
fn pax_records(data: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let Some(space) = rest.iter().position(|&b| b == b' ') else {
            break;
        };
        let Some(len) = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            break;
        };
        if len <= space + 1 || len > rest.len() {
            break;
        }
        let record = &rest[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            out.push((record[..eq].to_vec(), record[eq + 1..].to_vec()));
        }
        rest = &rest[len..];
    }
    out
}

/// Extension headers seen since the last real entry.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Pending {
    fn pax(&self, key: &[u8]) -> Option<&[u8]> {
        self.pax
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

fn classify<R: Read>(entry: &tar::Entry<R>, p: &Pending) -> Meta {
    let header_path = entry.path_bytes();
    // PAX `path` wins, then the PAX 1.0 sparse file's real name, then a GNU
    // long name, then the header's own name.
    let raw_path = p
        .pax(b"path")
        .or_else(|| p.pax(b"GNU.sparse.name"))
        .or(p.long_name.as_deref())
        .unwrap_or(&header_path);
    let path = image_path(raw_path);
    let header = entry.header();
    let etype = header.entry_type();
    let raw_link = p
        .pax(b"linkpath")
        .map(|l| l.to_vec())
        .or_else(|| p.long_link.clone())
        .or_else(|| entry.link_name_bytes().map(|l| l.into_owned()));
    let mut link = raw_link.map(|l| String::from_utf8_lossy(&l).into_owned());
    let (dir, base) = path.rsplit_once('/').unwrap_or(("", &path));
    let (kind, path) = if base == ".wh..wh..opq" {
        let dir = if dir.is_empty() { "/" } else { dir };
        (EntryKind::Opaque, dir.to_string())
    } else if let Some(hidden) = base.strip_prefix(".wh.") {
        (EntryKind::Whiteout, format!("{dir}/{hidden}"))
    } else if etype.is_dir() {
        (EntryKind::Dir, path)
    } else if etype.is_symlink() {
        (EntryKind::Symlink, path)
    } else if etype.is_hard_link() {
        // Hard link targets are archive paths: make them image paths.
        link = link.map(|l| image_path(l.as_bytes()));
        (EntryKind::Hardlink, path)
    } else if etype.is_file() || etype == tar::EntryType::Continuous || etype.is_gnu_sparse() {
        (EntryKind::File, path)
    } else {
        (EntryKind::Other, path)
    };
    Meta {
        path,
        size: entry.size(),
        mode: header.mode().unwrap_or(0),
        kind,
        link,
    }
}

/// Calls `f` for every entry of the tar stream with its metadata and a
/// reader of its bytes; `f` returns `false` to stop early.
pub fn walk<R: Read>(
    reader: R,
    mut f: impl FnMut(Meta, &mut dyn Read) -> Result<bool>,
) -> Result<()> {
    let mut ar = tar::Archive::new(reader);
    let mut pending = Pending::default();
    for entry in ar.entries().context("not a tar stream")?.raw(true) {
        let mut entry = entry.context("corrupt tar entry")?;
        let t = entry.header().entry_type();
        let limit = if t.is_gnu_longname() || t.is_gnu_longlink() {
            Some(MAX_LONG_NAME)
        } else if t.is_pax_local_extensions() || t.is_pax_global_extensions() {
            Some(MAX_PAX)
        } else {
            None
        };
        if let Some(limit) = limit {
            let size = entry.size();
            if size > limit {
                bail!("a tar extension header claims {size} bytes, over the {limit}-byte limit");
            }
            let mut data = Vec::with_capacity(size as usize);
            entry
                .read_to_end(&mut data)
                .context("truncated tar extension header")?;
            if t.is_gnu_longname() || t.is_gnu_longlink() {
                while data.last() == Some(&0) {
                    data.pop();
                }
                if t.is_gnu_longname() {
                    pending.long_name = Some(data);
                } else {
                    pending.long_link = Some(data);
                }
            } else if t.is_pax_local_extensions() {
                pending.pax = pax_records(&data);
            }
            continue;
        }
        let meta = classify(&entry, &pending);
        pending = Pending::default();
        if !f(meta, &mut entry)? {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::pax_records;

    #[test]
    fn pax_records_parse_and_stop_at_garbage() {
        let data = b"29 path=opt/a/very/long/name\n19 linkpath=x/y/zz\nGARBAGE";
        let r = pax_records(data);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0], (b"path".to_vec(), b"opt/a/very/long/name".to_vec()));
        assert_eq!(r[1].0, b"linkpath".to_vec());
        assert!(pax_records(b"99999 path=x\n").is_empty());
        assert!(pax_records(b"1 x").is_empty());
    }
}
