#![allow(dead_code, unused_imports)]
//! Test fixture builder: writes real, spec-conformant, byte-deterministic
//! container image files (docker save tarballs, OCI layouts and archives).
//!
//! Every integration test compiles this module separately (`mod common;`),
//! so unused helpers are allowed.

pub mod formats;
pub mod registry;
pub mod scenario;
pub mod tarball;

pub use formats::*;
pub use scenario::*;
pub use tarball::*;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// Timestamp used for `created` fields everywhere.
pub const CREATED: &str = "1970-01-01T00:00:00Z";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaFamily {
    Oci,
    Docker,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    File {
        path: String,
        data: Vec<u8>,
        mode: u32,
    },
    Dir {
        path: String,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
    Hardlink {
        path: String,
        target: String,
    },
    /// Writes `<parent>/.wh.<name>` (an empty regular file).
    Whiteout {
        path: String,
    },
    /// Writes `<dir>/.wh..wh..opq`.
    Opaque {
        dir: String,
    },
}

impl Entry {
    /// Regular file, mode 0644.
    pub fn file(path: impl Into<String>, data: impl AsRef<[u8]>) -> Self {
        Self::file_mode(path, data, 0o644)
    }
    pub fn file_mode(path: impl Into<String>, data: impl AsRef<[u8]>, mode: u32) -> Self {
        Entry::File {
            path: path.into(),
            data: data.as_ref().to_vec(),
            mode,
        }
    }
    /// Regular file, mode 0755.
    pub fn exec(path: impl Into<String>, data: impl AsRef<[u8]>) -> Self {
        Self::file_mode(path, data, 0o755)
    }
    /// Directory, mode 0755.
    pub fn dir(path: impl Into<String>) -> Self {
        Self::dir_mode(path, 0o755)
    }
    pub fn dir_mode(path: impl Into<String>, mode: u32) -> Self {
        Entry::Dir {
            path: path.into(),
            mode,
        }
    }
    pub fn symlink(path: impl Into<String>, target: impl Into<String>) -> Self {
        Entry::Symlink {
            path: path.into(),
            target: target.into(),
        }
    }
    /// `target` is an archive path (it gets the layer's `./` prefix if `dot_slash`).
    pub fn hardlink(path: impl Into<String>, target: impl Into<String>) -> Self {
        Entry::Hardlink {
            path: path.into(),
            target: target.into(),
        }
    }
    pub fn whiteout(path: impl Into<String>) -> Self {
        Entry::Whiteout { path: path.into() }
    }
    pub fn opaque(dir: impl Into<String>) -> Self {
        Entry::Opaque { dir: dir.into() }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub entries: Vec<Entry>,
    pub compression: Compression,
    /// History `created_by` for this layer (omitted from the history entry when empty).
    pub created_by: String,
    /// Name entries `./app/x` instead of `app/x` (and, with `parent_dirs`, emit a `./` root entry first).
    pub dot_slash: bool,
    /// Emit Dir entries (0755) for missing parents before their children.
    pub parent_dirs: bool,
    /// Write the two 512-byte zero end-of-archive blocks.
    pub end_blocks: bool,
    /// Encode names/targets > 100 bytes as PAX records (Go/Docker style) instead of GNU long names.
    pub pax: bool,
}

impl Layer {
    /// Uncompressed, no `./`, parent dirs on, end blocks on, GNU long names, empty created_by.
    pub fn new(entries: Vec<Entry>) -> Self {
        Layer {
            entries,
            compression: Compression::None,
            created_by: String::new(),
            dot_slash: false,
            parent_dirs: true,
            end_blocks: true,
            pax: false,
        }
    }
    pub fn with_compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }
    pub fn gzip(self) -> Self {
        self.with_compression(Compression::Gzip)
    }
    pub fn zstd(self) -> Self {
        self.with_compression(Compression::Zstd)
    }
    pub fn with_created_by(mut self, s: impl Into<String>) -> Self {
        self.created_by = s.into();
        self
    }
    pub fn with_dot_slash(mut self, v: bool) -> Self {
        self.dot_slash = v;
        self
    }
    pub fn with_parent_dirs(mut self, v: bool) -> Self {
        self.parent_dirs = v;
        self
    }
    pub fn with_end_blocks(mut self, v: bool) -> Self {
        self.end_blocks = v;
        self
    }
    pub fn with_pax(mut self, v: bool) -> Self {
        self.pax = v;
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub layers: Vec<Layer>,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    /// e.g. "8080/tcp"
    pub exposed_ports: Vec<String>,
    /// (position in the final history list, created_by), written with `"empty_layer": true`.
    pub extra_history: Vec<(usize, String)>,
    /// e.g. ["leaky:latest"]
    pub repo_tags: Vec<String>,
}

impl Default for Image {
    fn default() -> Self {
        Self::new()
    }
}

impl Image {
    /// linux/amd64, no layers, no tags.
    pub fn new() -> Self {
        Image {
            layers: Vec::new(),
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
            env: Vec::new(),
            labels: BTreeMap::new(),
            cmd: None,
            entrypoint: None,
            working_dir: None,
            user: None,
            exposed_ports: Vec::new(),
            extra_history: Vec::new(),
            repo_tags: Vec::new(),
        }
    }
    pub fn with_layer(mut self, l: Layer) -> Self {
        self.layers.push(l);
        self
    }
    pub fn with_layers(mut self, ls: Vec<Layer>) -> Self {
        self.layers.extend(ls);
        self
    }
    pub fn with_tag(mut self, t: impl Into<String>) -> Self {
        self.repo_tags.push(t.into());
        self
    }
    pub fn with_platform(mut self, os: &str, arch: &str, variant: Option<&str>) -> Self {
        self.os = os.into();
        self.architecture = arch.into();
        self.variant = variant.map(str::to_string);
        self
    }
    pub fn with_env(mut self, kv: impl Into<String>) -> Self {
        self.env.push(kv.into());
        self
    }
    pub fn with_label(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.labels.insert(k.into(), v.into());
        self
    }
    pub fn with_cmd(mut self, cmd: &[&str]) -> Self {
        self.cmd = Some(cmd.iter().map(|s| s.to_string()).collect());
        self
    }
    pub fn with_entrypoint(mut self, ep: &[&str]) -> Self {
        self.entrypoint = Some(ep.iter().map(|s| s.to_string()).collect());
        self
    }
    pub fn with_working_dir(mut self, d: impl Into<String>) -> Self {
        self.working_dir = Some(d.into());
        self
    }
    pub fn with_user(mut self, u: impl Into<String>) -> Self {
        self.user = Some(u.into());
        self
    }
    pub fn with_exposed_port(mut self, p: impl Into<String>) -> Self {
        self.exposed_ports.push(p.into());
        self
    }
    /// Insert an `"empty_layer": true` history entry at `pos` of the final history.
    pub fn with_history(mut self, pos: usize, created_by: impl Into<String>) -> Self {
        self.extra_history.push((pos, created_by.into()));
        self
    }
}

// ---------------------------------------------------------------------------
// Digests
// ---------------------------------------------------------------------------

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// Strip the `sha256:` prefix.
pub fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// OCI ChainIDs for a list of diff_ids.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => digest_of(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

// ---------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------

fn clean_path(p: &str) -> String {
    let mut s = p.trim_start_matches('/');
    while let Some(rest) = s.strip_prefix("./") {
        s = rest.trim_start_matches('/');
    }
    s.trim_end_matches('/').to_string()
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

fn split_parent(p: &str) -> (&str, &str) {
    match p.rfind('/') {
        Some(i) => (&p[..i], &p[i + 1..]),
        None => ("", p),
    }
}

/// The uncompressed layer tar. Deterministic: uid/gid 0, mtime 0, entries in list order.
pub fn layer_tar(layer: &Layer) -> Vec<u8> {
    let mut w = TarWriter::new(if layer.pax {
        LongNames::Pax
    } else {
        LongNames::Gnu
    });
    let pre = |p: &str| {
        if layer.dot_slash {
            format!("./{p}")
        } else {
            p.to_string()
        }
    };
    // Modes of explicitly listed directories, used when they are emitted implicitly first.
    let mut explicit_dirs: BTreeMap<String, u32> = BTreeMap::new();
    for e in &layer.entries {
        if let Entry::Dir { path, mode } = e {
            explicit_dirs.entry(clean_path(path)).or_insert(*mode);
        }
    }
    let mut emitted: BTreeSet<String> = BTreeSet::new();
    if layer.dot_slash && layer.parent_dirs {
        w.dir("./", 0o755);
    }
    for e in &layer.entries {
        let path = match e {
            Entry::File { path, .. }
            | Entry::Dir { path, .. }
            | Entry::Symlink { path, .. }
            | Entry::Hardlink { path, .. } => clean_path(path),
            Entry::Whiteout { path } => {
                let p = clean_path(path);
                let (parent, name) = split_parent(&p);
                join(parent, &format!(".wh.{name}"))
            }
            Entry::Opaque { dir } => join(&clean_path(dir), ".wh..wh..opq"),
        };
        assert!(!path.is_empty(), "empty path in layer entry {e:?}");
        if layer.parent_dirs {
            for (i, _) in path.match_indices('/') {
                let parent = &path[..i];
                if emitted.insert(parent.to_string()) {
                    let mode = explicit_dirs.get(parent).copied().unwrap_or(0o755);
                    w.dir(&format!("{}/", pre(parent)), mode);
                }
            }
        }
        match e {
            Entry::File { data, mode, .. } => w.file(&pre(&path), data, *mode),
            Entry::Dir { mode, .. } => {
                if !layer.parent_dirs || emitted.insert(path.clone()) {
                    w.dir(&format!("{}/", pre(&path)), *mode);
                }
            }
            Entry::Symlink { target, .. } => w.symlink(&pre(&path), target),
            Entry::Hardlink { target, .. } => w.hardlink(&pre(&path), &pre(&clean_path(target))),
            Entry::Whiteout { .. } => w.file(&pre(&path), b"", 0o000),
            Entry::Opaque { .. } => w.file(&pre(&path), b"", 0o755),
        }
    }
    w.finish(layer.end_blocks)
}

/// gzip via flate2 (default level, header mtime 0), zstd level 3.
pub fn compress(data: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).expect("gzip");
            e.finish().expect("gzip")
        }
        Compression::Zstd => zstd::encode_all(data, 3).expect("zstd"),
    }
}

/// Decompress by magic bytes (gzip / zstd), else return the input.
pub fn decompress(data: &[u8]) -> Vec<u8> {
    if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(data)
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::decode_all(data).expect("unzstd")
    } else {
        data.to_vec()
    }
}

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

/// The image config JSON (compact, keys sorted). `diff_ids` are `sha256:<hex>`
/// of each uncompressed layer tar; history has one entry per `img.layers`
/// plus the `extra_history` empty-layer entries at their positions.
pub fn config_json(img: &Image, diff_ids: &[String]) -> Vec<u8> {
    serde_json::to_vec(&config_value(img, diff_ids)).expect("json")
}

pub fn config_value(img: &Image, diff_ids: &[String]) -> Value {
    let mut cfg = Map::new();
    if !img.env.is_empty() {
        cfg.insert("Env".into(), json!(img.env));
    }
    if !img.labels.is_empty() {
        cfg.insert("Labels".into(), json!(img.labels));
    }
    if let Some(c) = &img.cmd {
        cfg.insert("Cmd".into(), json!(c));
    }
    if let Some(e) = &img.entrypoint {
        cfg.insert("Entrypoint".into(), json!(e));
    }
    if let Some(w) = &img.working_dir {
        cfg.insert("WorkingDir".into(), json!(w));
    }
    if let Some(u) = &img.user {
        cfg.insert("User".into(), json!(u));
    }
    if !img.exposed_ports.is_empty() {
        let ports: Map<String, Value> = img
            .exposed_ports
            .iter()
            .map(|p| (p.clone(), json!({})))
            .collect();
        cfg.insert("ExposedPorts".into(), Value::Object(ports));
    }

    let mut history: Vec<Value> = img
        .layers
        .iter()
        .map(|l| {
            let mut h = Map::new();
            h.insert("created".into(), json!(CREATED));
            if !l.created_by.is_empty() {
                h.insert("created_by".into(), json!(l.created_by));
            }
            Value::Object(h)
        })
        .collect();
    let mut extras = img.extra_history.clone();
    extras.sort_by_key(|(p, _)| *p);
    for (pos, created_by) in extras {
        let pos = pos.min(history.len());
        history.insert(
            pos,
            json!({"created": CREATED, "created_by": created_by, "empty_layer": true}),
        );
    }

    let mut root = Map::new();
    root.insert("architecture".into(), json!(img.architecture));
    root.insert("config".into(), Value::Object(cfg));
    root.insert("created".into(), json!(CREATED));
    root.insert("history".into(), Value::Array(history));
    root.insert("os".into(), json!(img.os));
    root.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": diff_ids}),
    );
    if let Some(v) = &img.variant {
        root.insert("variant".into(), json!(v));
    }
    Value::Object(root)
}

/// Runs the stowaway binary; returns (exit code, stdout, stderr).
pub fn stowaway<I, S>(args: I) -> (i32, String, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stowaway"))
        .args(args)
        .output()
        .expect("run stowaway");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Audits `path` as JSON and returns the parsed report and exit code.
pub fn audit_json(path: &std::path::Path) -> (i32, serde_json::Value) {
    let (code, out, err) = stowaway([
        std::ffi::OsStr::new("audit"),
        path.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert!(
        code == 0 || code == 1,
        "audit {} failed ({code}): {err}",
        path.display()
    );
    (code, serde_json::from_str(&out).expect("JSON report"))
}
