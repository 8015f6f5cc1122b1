//! The scan cache: per-layer scan results and per-image policy results on
//! disk, so a layer shared by many images is scanned once and a rescan of
//! an unchanged image reads no layer at all.
//!
//! - `layers/`: a [`LayerScan`] keyed by (blob digest, rule set, scan
//!   options: known-secret hashes and limits). It holds file metadata, rule
//!   hits with their redacted excerpts and fingerprints, never file contents
//!   (`captured` is not serialized).
//! - `policy/`: an image's policy results keyed by (manifest digest, rule
//!   set, scan options, policy options); the same text the report shows.
//!
//! Entries are zstd-compressed JSON that repeat their own key. A write goes
//! to a temporary file in the entry's directory, is synced, then renamed into
//! place, so a killed process leaves a stray temporary file (removed by a
//! later eviction) but never a torn entry; an entry that cannot be read,
//! decompressed, parsed or whose key differs is a miss and is removed. A hit
//! refreshes the entry's mtime, and eviction removes the oldest entries
//! until the cache is under its size bound.

use crate::audit::Options;
use crate::image::blob::Compression;
use crate::layer::LayerScan;
use crate::report::PolicyResult;
use crate::rules::RuleSet;
use anyhow::{Context, Result};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

const SCHEMA: &str = "stowaway/cache-v1";
/// An entry decompresses to at most this much (a damaged file cannot
/// make a reader allocate without bound).
const MAX_ENTRY: u64 = 4 << 30;
/// Temporary files older than this are leftovers of a killed writer.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// What the cache did in one run.
#[derive(Debug, Default)]
pub struct Stats {
    /// Layers read and scanned.
    pub layers_scanned: AtomicU64,
    /// Layers whose scan came from the cache.
    pub layers_cached: AtomicU64,
    /// Cached layers read again for the policy checks' files.
    pub layers_reread: AtomicU64,
    /// Images whose policy results came from the cache.
    pub policies_cached: AtomicU64,
}

impl Stats {
    pub fn get(n: &AtomicU64) -> u64 {
        n.load(Ordering::Relaxed)
    }
    pub fn add(n: &AtomicU64) {
        n.fetch_add(1, Ordering::Relaxed);
    }
}

pub struct Cache {
    root: PathBuf,
    max_size: u64,
    /// Also cache the layers of local image files (not only registry images).
    pub local_files: bool,
    inflight: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    warned: AtomicBool,
    counter: AtomicU64,
}

#[derive(Serialize, Deserialize)]
struct Entry<T> {
    schema: String,
    key: String,
    value: T,
}

/// `$XDG_CACHE_HOME/stowaway`, else `~/.cache/stowaway`.
pub fn default_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("stowaway"))
}

fn key_of(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(SCHEMA.as_bytes());
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    for p in parts {
        h.update([0]);
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The rule set as the cache sees it: its source hash plus the ids of the
/// rules kept (hits refer to rules by index).
fn rules_part(rules: &RuleSet) -> String {
    let ids: Vec<&str> = rules.rules().iter().map(|r| r.def.id.as_str()).collect();
    format!("{}|{}", rules.hash(), ids.join(","))
}

/// What else decides a layer's scan: the known-secret hashes and the limits.
fn scan_part(opts: &Options) -> String {
    format!("{}|{:?}", opts.known.hexes.join(","), opts.limits)
}

/// The key of a layer blob's scan.
pub fn layer_key(digest: &str, rules: &RuleSet, opts: &Options) -> String {
    key_of(&["layer", digest, &rules_part(rules), &scan_part(opts)])
}

/// The key of an image's policy results.
pub fn policy_key(manifest_digest: &str, rules: &RuleSet, opts: &Options) -> String {
    let p = &opts.policy;
    let policy = format!(
        "{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}",
        p.enabled, p.max_size.bytes, p.size_basis, p.expect_ports, p.expect_base, p.allow, p.skip
    );
    key_of(&[
        "policy",
        manifest_digest,
        &rules_part(rules),
        &scan_part(opts),
        &policy,
    ])
}

/// `deserialize_with` for [`LayerScan::compression`].
pub(crate) fn compression_name<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let s = String::deserialize(d)?;
    [Compression::None, Compression::Gzip, Compression::Zstd]
        .into_iter()
        .map(Compression::name)
        .find(|n| *n == s)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown compression {s:?}")))
}

/// `deserialize_with` for [`crate::layer::KnownHit::form`].
pub(crate) fn known_form<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let s = String::deserialize(d)?;
    crate::knownkey::FORMS
        .iter()
        .copied()
        .find(|f| *f == s)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown form {s:?}")))
}

/// Holds a layer key while one thread scans it; others wait, then hit.
pub struct Claim {
    lock: Arc<Mutex<()>>,
}

impl Claim {
    pub fn hold(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What an eviction pass found and did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Usage {
    pub entries: u64,
    pub bytes: u64,
    pub removed: u64,
}

impl Cache {
    /// Opens (creating) a cache directory.
    pub fn open(root: &Path, max_size: u64, local_files: bool) -> Result<Cache> {
        for sub in ["layers", "policy"] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).with_context(|| {
                format!("--cache-dir {}: cannot create the cache", root.display())
            })?;
        }
        Ok(Cache {
            root: root.to_path_buf(),
            max_size,
            local_files,
            inflight: Mutex::new(HashMap::new()),
            warned: AtomicBool::new(false),
            counter: AtomicU64::new(0),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.root
    }

    fn path(&self, kind: &str, key: &str) -> PathBuf {
        self.root
            .join(kind)
            .join(&key[..2])
            .join(format!("{key}.zst"))
    }

    fn warn(&self, e: &anyhow::Error) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            let line = crate::redact::escape_controls(&format!("{e:#}"));
            eprintln!(
                "stowaway: warning: cache {}: {line}; going on without writing to it",
                self.root.display()
            );
        }
    }

    /// `T` only needs `Deserialize<'static>` (scans hold `&'static str`
    /// names, matched against known ones): the JSON is read from a reader.
    fn read<T: Deserialize<'static>>(&self, kind: &str, key: &str) -> Option<T> {
        let path = self.path(kind, key);
        let file = File::open(&path).ok()?;
        let parsed = (|| -> Result<T> {
            let mut data = Vec::new();
            zstd::stream::read::Decoder::new(&file)?
                .take(MAX_ENTRY)
                .read_to_end(&mut data)?;
            let mut de = serde_json::Deserializer::from_reader(std::io::Cursor::new(data));
            let entry = Entry::<T>::deserialize(&mut de)?;
            de.end()?;
            anyhow::ensure!(entry.schema == SCHEMA && entry.key == key, "not this entry");
            Ok(entry.value)
        })();
        match parsed {
            Ok(v) => {
                // Recently used entries survive eviction.
                let _ = file.set_modified(SystemTime::now());
                Some(v)
            }
            Err(_) => {
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    fn write<T: Serialize>(&self, kind: &str, key: &str, value: &T) {
        let path = self.path(kind, key);
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp-{}-{n}", std::process::id()));
        let result = (|| -> Result<()> {
            let dir = path.parent().expect("entry has a directory");
            fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
            let entry = Entry {
                schema: SCHEMA.to_string(),
                key: key.to_string(),
                value,
            };
            let json = serde_json::to_vec(&entry).context("serializing")?;
            let mut file =
                File::create(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?;
            file.write_all(&zstd::encode_all(&json[..], 3)?)
                .and_then(|_| file.sync_all())
                .with_context(|| format!("{}: cannot write", tmp.display()))?;
            fs::rename(&tmp, &path).with_context(|| format!("{}: cannot rename", tmp.display()))
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            self.warn(&e);
        }
    }

    pub fn layer(&self, key: &str) -> Option<LayerScan> {
        self.read("layers", key)
    }

    pub fn put_layer(&self, key: &str, scan: &LayerScan) {
        self.write("layers", key, scan)
    }

    pub fn policy(&self, key: &str) -> Option<Vec<PolicyResult>> {
        self.read("policy", key)
    }

    pub fn put_policy(&self, key: &str, results: &[PolicyResult]) {
        self.write("policy", key, &results)
    }

    /// The in-process lock for a layer key, so two images of one run that
    /// share a layer do not both scan it.
    pub fn claim(&self, key: &str) -> Claim {
        let mut map = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        Claim {
            lock: map.entry(key.to_string()).or_default().clone(),
        }
    }

    /// Removes leftover temporary files, then the least recently used
    /// entries until the cache is at most 90% of its bound when it was over.
    pub fn evict(&self) -> Result<Usage> {
        let now = SystemTime::now();
        let mut files = Vec::new();
        let mut usage = Usage::default();
        for kind in ["layers", "policy"] {
            let Ok(shards) = fs::read_dir(self.root.join(kind)) else {
                continue;
            };
            for shard in shards.flatten() {
                let Ok(entries) = fs::read_dir(shard.path()) else {
                    continue;
                };
                for e in entries.flatten() {
                    let Ok(meta) = e.metadata() else { continue };
                    let mtime = meta.modified().unwrap_or(now);
                    let path = e.path();
                    let is_entry = path.extension().is_some_and(|x| x == "zst");
                    if !is_entry {
                        let age = now.duration_since(mtime).unwrap_or_default();
                        if age > STALE_TMP && fs::remove_file(&path).is_ok() {
                            usage.removed += 1;
                        }
                        continue;
                    }
                    usage.entries += 1;
                    usage.bytes += meta.len();
                    files.push((mtime, meta.len(), path));
                }
            }
        }
        if usage.bytes > self.max_size {
            files.sort();
            let target = self.max_size / 10 * 9;
            for (_, len, path) in files {
                if usage.bytes <= target {
                    break;
                }
                if fs::remove_file(&path).is_ok() {
                    usage.bytes -= len;
                    usage.entries -= 1;
                    usage.removed += 1;
                }
            }
        }
        Ok(usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{EntryKind, FileEntry, Hit};

    fn scan() -> LayerScan {
        LayerScan {
            entries: vec![FileEntry {
                path: "/app/key.pem".into(),
                size: 1700,
                mode: 0o600,
                kind: EntryKind::File,
                link: None,
                residue: None,
            }],
            hits: vec![Hit {
                rule: 3,
                path: "/app/key.pem".into(),
                entry: 0,
                offset: Some(0),
                line: Some(1),
                redacted: "-----BEGIN PRIVATE KEY-----MIIE…".into(),
                fingerprint: "0123456789abcdef".into(),
                occurrences: 1,
            }],
            captured: HashMap::from([(
                "/app/key.pem".to_string(),
                b"THE-RAW-SECRET-BYTES".to_vec(),
            )]),
            known: vec![],
            compression: "gzip",
            digest: "sha256:aa".into(),
            diff_id: "sha256:bb".into(),
            size: 2048,
        }
    }

    fn decompressed(path: &Path) -> Vec<u8> {
        zstd::decode_all(&fs::read(path).unwrap()[..]).unwrap()
    }

    #[test]
    fn round_trip_without_file_contents() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), 1 << 30, false).unwrap();
        let key = "ab".repeat(32);
        assert!(cache.layer(&key).is_none());
        cache.put_layer(&key, &scan());
        let back = cache.layer(&key).unwrap();
        assert_eq!(back.hits[0].fingerprint, "0123456789abcdef");
        assert_eq!(back.compression, "gzip");
        assert!(back.captured.is_empty());
        let raw = decompressed(&cache.path("layers", &key));
        let text = String::from_utf8_lossy(&raw);
        assert!(!text.contains("THE-RAW-SECRET-BYTES"), "{text}");
    }

    #[test]
    fn policy_results_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), 1 << 30, false).unwrap();
        let key = "12".repeat(32);
        let results = vec![
            PolicyResult {
                check: "user".into(),
                status: "warn".into(),
                measured: serde_json::json!("root (default)"),
                limit: serde_json::json!("non-root"),
                message: "runs as root".into(),
                details: vec![],
            },
            PolicyResult {
                check: "size-budget".into(),
                status: "fail".into(),
                measured: serde_json::json!({"bytes": 16_000_000}),
                limit: serde_json::json!({"bytes": 15_000_000}),
                message: "over".into(),
                details: vec!["layer 0: 16 MB".into()],
            },
        ];
        cache.put_policy(&key, &results);
        let back = cache.policy(&key).expect("a hit");
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&results).unwrap()
        );
    }

    #[test]
    fn torn_or_foreign_entries_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), 1 << 30, false).unwrap();
        let key = "cd".repeat(32);
        cache.put_layer(&key, &scan());
        let path = cache.path("layers", &key);
        let full = fs::read(&path).unwrap();
        // A truncated entry (as a non-atomic writer killed mid-write would leave).
        fs::write(&path, &full[..full.len() / 2]).unwrap();
        assert!(cache.layer(&key).is_none());
        assert!(!path.exists(), "a damaged entry is removed");
        // An entry stored under another key.
        let other = "ef".repeat(32);
        cache.put_layer(&other, &scan());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::copy(cache.path("layers", &other), &path).unwrap();
        assert!(cache.layer(&key).is_none());
        // Garbage.
        fs::write(&path, b"not zstd").unwrap();
        assert!(cache.layer(&key).is_none());
        assert!(cache.layer(&other).is_some());
    }

    #[test]
    fn eviction_drops_the_least_recently_used_and_stale_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<String> = (0..4).map(|i| format!("{i:02}").repeat(32)).collect();
        let cache = Cache::open(dir.path(), 1 << 30, false).unwrap();
        for (i, k) in keys.iter().enumerate() {
            cache.put_layer(k, &scan());
            let old = SystemTime::now() - Duration::from_secs(1000 * (10 - i as u64));
            File::options()
                .write(true)
                .open(cache.path("layers", k))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        // Reading the oldest makes it the most recent.
        assert!(cache.layer(&keys[0]).is_some());
        let tmp = cache.path("layers", &keys[1]).with_extension("tmp-1-1");
        fs::write(&tmp, b"half").unwrap();
        File::options()
            .write(true)
            .open(&tmp)
            .unwrap()
            .set_modified(SystemTime::now() - 2 * STALE_TMP)
            .unwrap();
        let one = fs::metadata(cache.path("layers", &keys[0])).unwrap().len();
        let small = Cache::open(dir.path(), one * 2 + one / 2, false).unwrap();
        let usage = small.evict().unwrap();
        assert!(!tmp.exists());
        assert_eq!(usage.entries, 2, "{usage:?}");
        assert!(small.layer(&keys[0]).is_some(), "recently read: kept");
        assert!(small.layer(&keys[3]).is_some(), "newest: kept");
        assert!(small.layer(&keys[1]).is_none() && small.layer(&keys[2]).is_none());
    }
}
