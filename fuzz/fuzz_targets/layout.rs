//! The OCI layout and docker-save readers on fuzzed manifest, index and
//! config JSON that still passes the digest checks, so mutations reach the
//! index walk (nesting, media types, attestations, platforms) and the
//! manifest/config cross-checks instead of stopping at "digest mismatch".
//!
//! The input is a list of documents separated by `SEP`. A document that
//! starts with a `@name:<member>` line is stored under that name (e.g.
//! `index.json`, `manifest.json`); any other is a blob stored under
//! `blobs/sha256/<its sha256>`. Inside document `i`, `@digest:N`, `@hex:N`
//! and `@size:N` (for `N > i`) become document N's `sha256:<hex>`, `<hex>`
//! and length, so documents can point at the ones after them. The script
//! turns the real layouts and archives into this form for the corpus.
//!
//! The documents are written as a directory (OCI layout) and audited, and
//! as a tar (docker save / OCI archive) and opened.
#![no_main]

mod audit_input;
mod common;

use audit_input::{options, rules};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use stowaway::audit::audit_source;
use stowaway::image::container::clean_name;
use stowaway::image::PlatformFilter;

const SEP: &[u8] = b"\n@@blob@@\n";
const MAX_DOCS: usize = 64;

fn work_dir() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("stowaway-fuzz-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fn split(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while out.len() < MAX_DOCS - 1 {
        match memchr::memmem::find(data, SEP) {
            Some(i) => {
                out.push(&data[..i]);
                data = &data[i + SEP.len()..];
            }
            None => break,
        }
    }
    out.push(data);
    out
}

/// The placeholder at the start of `s`: (kind, N, bytes used).
fn placeholder(s: &[u8]) -> Option<(&'static str, usize, usize)> {
    let (kind, rest) = [
        ("digest", &b"@digest:"[..]),
        ("hex", b"@hex:"),
        ("size", b"@size:"),
    ]
    .into_iter()
    .find_map(|(k, p)| s.strip_prefix(p).map(|r| (k, r)))?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 2 {
        return None;
    }
    let n = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    Some((kind, n, s.len() - rest.len() + digits))
}

fn substitute(doc: &[u8], i: usize, done: &[Option<(String, usize)>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(doc.len());
    let mut at = 0;
    while at < doc.len() {
        if doc[at] == b'@' {
            if let Some((kind, n, used)) = placeholder(&doc[at..]) {
                if let Some(Some((hex, len))) = done.get(n).filter(|_| n > i) {
                    match kind {
                        "digest" => out.extend_from_slice(format!("sha256:{hex}").as_bytes()),
                        "hex" => out.extend_from_slice(hex.as_bytes()),
                        _ => out.extend_from_slice(len.to_string().as_bytes()),
                    }
                    at += used;
                    continue;
                }
            }
        }
        out.push(doc[at]);
        at += 1;
    }
    out
}

/// (member name, bytes) of every document, placeholders resolved.
fn members(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let docs = split(data);
    let mut done: Vec<Option<(String, usize)>> = vec![None; docs.len()];
    let mut out = Vec::with_capacity(docs.len());
    for i in (0..docs.len()).rev() {
        let (name, body) = match docs[i].strip_prefix(b"@name:") {
            Some(rest) => {
                let nl = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
                let name = clean_name(&String::from_utf8_lossy(&rest[..nl]));
                (Some(name), &rest[(nl + 1).min(rest.len())..])
            }
            None => (None, docs[i]),
        };
        let body = substitute(body, i, &done);
        let hex = hex::encode(Sha256::digest(&body));
        done[i] = Some((hex.clone(), body.len()));
        let name = name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("blobs/sha256/{hex}"));
        out.push((name, body));
    }
    out.reverse();
    out
}

fn write_dir(dir: &Path, members: &[(String, Vec<u8>)]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    for (name, body) in members {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(p, body);
    }
}

fn write_tar(path: &Path, members: &[(String, Vec<u8>)]) {
    let mut b = tar::Builder::new(Vec::new());
    for (name, body) in members {
        let mut h = tar::Header::new_ustar();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        if b.append_data(&mut h, name, &body[..]).is_err() {
            continue;
        }
    }
    std::fs::write(path, b.into_inner().unwrap()).unwrap();
}

fuzz_target!(|data: &[u8]| {
    let members = members(data);
    let dir = work_dir().join("layout");
    write_dir(&dir, &members);
    let _ = audit_source(&dir, rules(), &options());
    let file = work_dir().join("image.tar");
    write_tar(&file, &members);
    let _ = stowaway::image::open(&file, &PlatformFilter::default());
});
