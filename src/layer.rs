//! The streaming walk of one layer: tar entries in, file metadata and rule
//! hits out. File contents are scanned chunk by chunk and never kept.

use crate::dedupe::{record, SecretHit, Seen};
use crate::image::blob::{check_digest, open_layer};
use crate::image::LayerRef;
use crate::knownkey::{Found, KnownKeys};
use crate::limits::{Capped, Limits};
use crate::pipeline::pipelined;
use crate::redact::{fingerprint, redact};
use crate::rules::{ContentMatch, RuleSet, Scratch};
use crate::tarwalk::{walk, Meta};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::sync::atomic::AtomicU64;

/// Bytes scanned at a time, and bytes carried over between chunks so a secret
/// that straddles a chunk boundary is still seen whole.
const CHUNK: usize = 1 << 20;
const OVERLAP: usize = 64 << 10;
/// Files larger than this are never kept in memory for the policy checks.
pub const MAX_CAPTURE: u64 = 512 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Other,
    /// `.wh.NAME`: hides `path` (and below) from earlier layers.
    Whiteout,
    /// `.wh..wh..opq`: hides everything below directory `path` from earlier layers.
    Opaque,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    /// Absolute path in the image (`/etc/passwd`).
    pub path: String,
    pub size: u64,
    pub mode: u32,
    pub kind: EntryKind,
    pub link: Option<String>,
    /// The residue rule this file counts toward.
    pub residue: Option<usize>,
}

/// A secret or secret-path rule hit in one file of the layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hit {
    pub rule: usize,
    pub path: String,
    /// Index of the file's entry in [`LayerScan::entries`].
    pub entry: usize,
    pub offset: Option<u64>,
    pub line: Option<u64>,
    pub redacted: String,
    pub fingerprint: String,
    pub occurrences: u32,
}

impl SecretHit for Hit {
    fn rule(&self) -> usize {
        self.rule
    }
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
    fn bump(&mut self) {
        self.occurrences += 1;
    }
}

/// The layer cache stores this without `captured` (file contents, which
/// may hold secrets, never go to disk).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerScan {
    pub entries: Vec<FileEntry>,
    pub hits: Vec<Hit>,
    /// Contents of the files the caller asked to keep, by path.
    #[serde(skip)]
    pub captured: HashMap<String, Vec<u8>>,
    /// Known secrets found in the layer's files.
    pub known: Vec<KnownHit>,
    #[serde(deserialize_with = "crate::cache::compression_name")]
    pub compression: &'static str,
    /// sha256 of the blob as stored.
    pub digest: String,
    /// sha256 of the uncompressed tar.
    pub diff_id: String,
    /// Uncompressed size.
    pub size: u64,
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn newlines(data: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', data).count() as u64
}

/// What a layer scan looks for.
pub struct Spec<'a> {
    pub rules: &'a RuleSet,
    /// sha256s of secrets to find in any form (`--known-secret-sha256`).
    pub known: &'a KnownKeys,
    /// Files whose bytes the policy checks will read.
    pub capture: &'a (dyn Fn(&str) -> bool + Sync),
    pub limits: &'a Limits,
    /// Decompressed bytes of the whole source so far (for `limits.image_bytes`).
    pub image_bytes: &'a AtomicU64,
}

/// A known secret found in a file of the layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KnownHit {
    pub key: usize,
    pub path: String,
    /// Index of the file's entry in [`LayerScan::entries`].
    pub entry: usize,
    #[serde(deserialize_with = "crate::cache::known_form")]
    pub form: &'static str,
    pub offset: Option<u64>,
}

struct FileScanner<'r> {
    rules: &'r RuleSet,
    known: &'r KnownKeys,
    buf: Vec<u8>,
    matches: Vec<ContentMatch>,
    scratch: Scratch,
    found: Vec<Found>,
    known_hits: Vec<KnownHit>,
    /// Index the file being scanned will have among the layer's entries.
    entry: usize,
}

impl FileScanner<'_> {
    /// Scans one file's contents; returns its sha256 when `want_hash`, and
    /// its bytes when `want_copy`.
    fn scan(
        &mut self,
        path: &str,
        r: &mut dyn Read,
        (want_hash, want_copy): (bool, bool),
        hits: &mut Vec<Hit>,
    ) -> Result<(Option<String>, Option<Vec<u8>>)> {
        let want_hash = want_hash || !self.known.is_empty();
        let mut hasher = want_hash.then(Sha256::new);
        let first_known = self.known_hits.len();
        let mut copy = want_copy.then(Vec::new);
        let mut keep = 0usize;
        let mut base = 0u64;
        let mut lines_before = 0u64;
        let mut binary = None;
        let mut previous: HashSet<(usize, u64)> = HashSet::new();
        let mut seen = Seen::new();
        loop {
            let n = read_full(r, &mut self.buf[keep..keep + CHUNK])
                .with_context(|| format!("reading {path}"))?;
            let len = keep + n;
            let data = &self.buf[..len];
            if let Some(h) = hasher.as_mut() {
                h.update(&data[keep..]);
            }
            if let Some(c) = copy.as_mut() {
                c.extend_from_slice(&data[keep..]);
            }
            let is_binary =
                *binary.get_or_insert_with(|| memchr::memchr(0, &data[..len.min(8192)]).is_some());
            self.matches.clear();
            if n > 0 {
                self.rules
                    .scan_with(&mut self.scratch, data, Some(path), &mut self.matches);
            }
            let mut current = HashSet::new();
            for m in &self.matches {
                let abs = base + m.span.start as u64;
                if m.span.end <= keep || previous.contains(&(m.rule, abs)) {
                    continue;
                }
                current.insert((m.rule, abs));
                let secret = &data[m.secret.clone()];
                let fp = fingerprint(secret);
                let rule = self.rules.rule(m.rule);
                let line = (!is_binary).then(|| lines_before + newlines(&data[..m.span.start]) + 1);
                let local = m.secret.start - m.span.start..m.secret.end - m.span.start;
                let hit = Hit {
                    rule: m.rule,
                    path: path.to_string(),
                    entry: self.entry,
                    offset: Some(base + m.secret.start as u64),
                    line,
                    redacted: redact(&data[m.span.clone()], local, &rule.def.keywords),
                    fingerprint: fp,
                    occurrences: 1,
                };
                record(self.rules, hits, &mut seen, hit);
            }
            previous = current;
            self.found.clear();
            self.known.search(data, &mut self.found);
            for f in &self.found {
                let seen = self.known_hits[first_known..]
                    .iter()
                    .any(|k| k.key == f.key && k.form == f.form);
                if !seen {
                    self.known_hits.push(KnownHit {
                        key: f.key,
                        path: path.to_string(),
                        entry: self.entry,
                        form: f.form,
                        offset: Some(base + f.offset as u64),
                    });
                }
            }
            if n < CHUNK {
                break;
            }
            let new_keep = OVERLAP.min(len);
            if !is_binary {
                lines_before += newlines(&data[..len - new_keep]);
            }
            base += (len - new_keep) as u64;
            self.buf.copy_within(len - new_keep..len, 0);
            keep = new_keep;
        }
        let digest: Option<[u8; 32]> = hasher.map(|h| h.finalize().into());
        if let Some(key) = digest.as_ref().and_then(|d| self.known.whole(d)) {
            // The whole file is the secret: one hit says it all.
            self.known_hits.truncate(first_known);
            self.known_hits.push(KnownHit {
                key,
                path: path.to_string(),
                entry: self.entry,
                form: "file",
                offset: None,
            });
        }
        Ok((digest.map(hex::encode), copy))
    }
}

/// Streams one layer blob: decompresses, walks the tar, runs the rules, keeps
/// the bytes of the files `capture` asks for (the policy checks read them),
/// then verifies the blob digest and size (the caller checks the diff_id
/// against every image that uses the layer). `progress` sees raw bytes read.
pub fn scan_layer(
    spec: &Spec,
    layer: &LayerRef,
    raw: &mut dyn Read,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<LayerScan> {
    let mut stream = open_layer(raw, progress)?;
    let mut capped = Capped::new(&mut stream.reader, spec.limits, spec.image_bytes);
    // This thread decompresses and hashes; another walks the tar and matches.
    let walked = pipelined(&mut capped, |tar| walk_layer(spec, tar))?;
    let (diff_id, size) = stream.plain.finish();
    let (digest, raw_size) = stream.raw.finish();
    if let Some(expected) = &layer.digest {
        check_digest("blob", expected, &digest)?;
    }
    if raw_size != layer.compressed_size {
        bail!(
            "blob is {} bytes but only {raw_size} were part of the compressed stream (trailing data)",
            layer.compressed_size
        );
    }
    Ok(LayerScan {
        entries: walked.entries,
        hits: walked.hits,
        captured: walked.captured,
        known: walked.known,
        compression: stream.compression.name(),
        digest,
        diff_id,
        size,
    })
}

/// What the walk of a layer's tar found.
struct Walked {
    entries: Vec<FileEntry>,
    hits: Vec<Hit>,
    captured: HashMap<String, Vec<u8>>,
    known: Vec<KnownHit>,
}

/// Walks the decompressed tar of a layer to its very end: entries, path and
/// content rules, captured files.
fn walk_layer(spec: &Spec, tar: &mut dyn Read) -> Result<Walked> {
    let rules = spec.rules;
    let mut scanner = FileScanner {
        rules,
        known: spec.known,
        buf: vec![0u8; CHUNK + OVERLAP],
        matches: Vec::new(),
        scratch: Scratch::default(),
        found: Vec::new(),
        known_hits: Vec::new(),
        entry: 0,
    };
    let mut entries = Vec::new();
    let mut hits = Vec::new();
    let mut captured = HashMap::new();
    walk(&mut *tar, |meta, entry| {
        let Meta {
            path,
            size,
            mode,
            kind,
            link,
        } = meta;
        if entries.len() as u64 >= spec.limits.entries {
            bail!(
                "more than {} entries in one layer (--max-entries)",
                spec.limits.entries
            );
        }
        if path.len() > spec.limits.path_length {
            bail!(
                "an entry's path is {} bytes long, over {} (--max-path-length)",
                path.len(),
                spec.limits.path_length
            );
        }
        let mut residue = None;
        if kind == EntryKind::File {
            residue = rules.residue_rule(&path);
            let path_rule = (size > 0).then(|| rules.path_rule(&path)).flatten();
            let want_copy = size <= MAX_CAPTURE && (spec.capture)(&path);
            scanner.entry = entries.len();
            let (hash, copy) = scanner
                .scan(&path, entry, (path_rule.is_some(), want_copy), &mut hits)
                .with_context(|| format!("layer file {path}"))?;
            if let Some(copy) = copy {
                captured.insert(path.clone(), copy);
            }
            if let (Some(rule), Some(hash)) = (path_rule, hash) {
                hits.push(Hit {
                    rule,
                    path: path.clone(),
                    entry: entries.len(),
                    offset: None,
                    line: None,
                    redacted: format!("(whole file, {size} bytes)"),
                    fingerprint: hash[..16].to_string(),
                    occurrences: 1,
                });
            }
        }
        entries.push(FileEntry {
            path,
            size,
            mode,
            kind,
            link,
            residue,
        });
        Ok(true)
    })?;
    // Whatever follows the end-of-archive blocks still counts for the digests.
    io::copy(tar, &mut io::sink()).context("reading past the tar end")?;
    Ok(Walked {
        entries,
        hits,
        captured,
        known: scanner.known_hits,
    })
}

/// Reads the named regular files out of one layer blob (a second, targeted
/// pass for files the first pass did not keep, e.g. behind a symlink).
pub fn extract_files(
    raw: &mut dyn Read,
    paths: &HashSet<String>,
) -> Result<HashMap<String, Vec<u8>>> {
    let mut stream = open_layer(raw, |_| {})?;
    let mut out = HashMap::new();
    walk(&mut stream.reader, |m, entry| {
        if m.kind == EntryKind::File && m.size <= MAX_CAPTURE && paths.contains(&m.path) {
            let mut data = Vec::with_capacity(m.size as usize);
            entry
                .read_to_end(&mut data)
                .with_context(|| format!("layer file {}", m.path))?;
            out.insert(m.path, data);
        }
        Ok(out.len() < paths.len())
    })?;
    Ok(out)
}
