//! Image container formats: docker save (Engine 20.10 "classic" and 25+ OCI
//! flavoured), OCI image layout directories and OCI archives.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::tarball::{write_outer_tar, write_tar_in_order, OuterEntry};
use super::{
    chain_ids, compress, config_json, digest_of, hex_of, layer_tar, sha256_hex, Compression, Image,
    MediaFamily, CREATED,
};

pub const OCI_LAYOUT_JSON: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Layer media type. Docker family has no zstd type; the OCI `+zstd` type is used
/// there (as buildx/containerd do).
pub fn layer_media_type(family: MediaFamily, c: Compression) -> &'static str {
    match (family, c) {
        (MediaFamily::Oci, Compression::None) => OCI_LAYER,
        (MediaFamily::Oci, Compression::Gzip) => OCI_LAYER_GZIP,
        (_, Compression::Zstd) => OCI_LAYER_ZSTD,
        (MediaFamily::Docker, Compression::None) => DOCKER_LAYER,
        (MediaFamily::Docker, Compression::Gzip) => DOCKER_LAYER_GZIP,
    }
}

pub fn manifest_media_type(family: MediaFamily) -> &'static str {
    match family {
        MediaFamily::Oci => OCI_MANIFEST,
        MediaFamily::Docker => DOCKER_MANIFEST,
    }
}

pub fn config_media_type(family: MediaFamily) -> &'static str {
    match family {
        MediaFamily::Oci => OCI_CONFIG,
        MediaFamily::Docker => DOCKER_CONFIG,
    }
}

pub fn index_media_type(family: MediaFamily) -> &'static str {
    match family {
        MediaFamily::Oci => OCI_INDEX,
        MediaFamily::Docker => DOCKER_MANIFEST_LIST,
    }
}

/// `{"mediaType", "digest", "size"}` for `bytes`.
pub fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": digest_of(bytes), "size": bytes.len()})
}

/// `{"architecture", "os", "variant"?}`
pub fn platform_value(img: &Image) -> Value {
    let mut p = Map::new();
    p.insert("architecture".into(), json!(img.architecture));
    p.insert("os".into(), json!(img.os));
    if let Some(v) = &img.variant {
        p.insert("variant".into(), json!(v));
    }
    Value::Object(p)
}

/// `"leaky:latest"` -> ("leaky", "latest"); no tag -> "latest".
pub fn split_tag(reference: &str) -> (String, String) {
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(i) => (
            reference[..slash + i].to_string(),
            reference[slash + i + 1..].to_string(),
        ),
        None => (reference.to_string(), "latest".to_string()),
    }
}

/// Docker's fully-qualified form: `leaky:latest` -> `docker.io/library/leaky:latest`.
pub fn normalize_ref(reference: &str) -> String {
    let (name, tag) = split_tag(reference);
    let full = match name.split_once('/') {
        None => format!("docker.io/library/{name}"),
        Some((first, _))
            if !first.contains('.') && !first.contains(':') && first != "localhost" =>
        {
            format!("docker.io/{name}")
        }
        Some(_) => name,
    };
    format!("{full}:{tag}")
}

/// What a writer used, per image, so tests can tamper or assert.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageDigests {
    /// Manifest digest (None for docker classic, which has no manifest blob).
    pub manifest: Option<String>,
    pub manifest_size: u64,
    pub config: String,
    pub config_size: u64,
    /// Digest of each stored layer blob (compressed bytes when compressed).
    pub layers: Vec<String>,
    pub layer_sizes: Vec<u64>,
    pub layer_media_types: Vec<String>,
    /// sha256 of each uncompressed layer tar.
    pub diff_ids: Vec<String>,
    /// Path of each layer blob inside the archive/layout
    /// (`<v1id>/layer.tar` or `blobs/sha256/<hex>`).
    pub layer_paths: Vec<String>,
    /// Path of the config inside the archive/layout.
    pub config_path: String,
    /// Docker classic only: legacy v1 ids (one per layer).
    pub v1_ids: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub images: Vec<ImageDigests>,
    /// multi_platform only: digest of the nested image index / manifest list blob.
    pub index: Option<String>,
    pub index_size: u64,
}

/// All blobs of one image, in memory.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    /// Uncompressed layer tars.
    pub layer_tars: Vec<Vec<u8>>,
    /// Stored layer blobs (compressed per `Layer::compression`).
    pub layer_blobs: Vec<Vec<u8>>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
    pub manifest_media_type: String,
    pub digests: ImageDigests,
}

/// Build every blob of an image (manifest in `family` media types).
pub fn build_image(img: &Image, family: MediaFamily) -> BuiltImage {
    build_image_inner(img, family, false)
}

fn build_image_inner(img: &Image, family: MediaFamily, config_platform: bool) -> BuiltImage {
    let layer_tars: Vec<Vec<u8>> = img.layers.iter().map(layer_tar).collect();
    let diff_ids: Vec<String> = layer_tars.iter().map(|t| digest_of(t)).collect();
    let layer_blobs: Vec<Vec<u8>> = img
        .layers
        .iter()
        .zip(&layer_tars)
        .map(|(l, t)| compress(t, l.compression))
        .collect();
    let layer_media_types: Vec<String> = img
        .layers
        .iter()
        .map(|l| layer_media_type(family, l.compression).to_string())
        .collect();
    let config = config_json(img, &diff_ids);
    let mut config_desc = descriptor(config_media_type(family), &config);
    if config_platform {
        config_desc["platform"] = platform_value(img);
    }
    let layer_descs: Vec<Value> = layer_blobs
        .iter()
        .zip(&layer_media_types)
        .map(|(b, mt)| descriptor(mt, b))
        .collect();
    let mt = manifest_media_type(family);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": config_desc,
        "layers": layer_descs,
    }))
    .expect("json");
    let digests = ImageDigests {
        manifest: Some(digest_of(&manifest)),
        manifest_size: manifest.len() as u64,
        config: digest_of(&config),
        config_size: config.len() as u64,
        layers: layer_blobs.iter().map(|b| digest_of(b)).collect(),
        layer_sizes: layer_blobs.iter().map(|b| b.len() as u64).collect(),
        layer_media_types,
        diff_ids,
        layer_paths: layer_blobs
            .iter()
            .map(|b| format!("blobs/sha256/{}", sha256_hex(b)))
            .collect(),
        config_path: format!("blobs/sha256/{}", sha256_hex(&config)),
        v1_ids: Vec::new(),
    };
    BuiltImage {
        layer_tars,
        layer_blobs,
        config,
        manifest,
        manifest_media_type: mt.to_string(),
        digests,
    }
}

// ---------------------------------------------------------------------------
// OCI image layout
// ---------------------------------------------------------------------------

/// An OCI image layout in memory: content-addressed blobs plus index.json.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// hex -> bytes
    pub blobs: BTreeMap<String, Vec<u8>>,
    pub index_json: Vec<u8>,
}

impl Layout {
    /// Store a blob, returning its `sha256:` digest.
    pub fn add_blob(&mut self, bytes: &[u8]) -> String {
        let hex = sha256_hex(bytes);
        self.blobs.insert(hex.clone(), bytes.to_vec());
        format!("sha256:{hex}")
    }

    /// Store layers, config and manifest of a built image.
    pub fn add_image(&mut self, b: &BuiltImage) {
        for l in &b.layer_blobs {
            self.add_blob(l);
        }
        self.add_blob(&b.config);
        self.add_blob(&b.manifest);
    }

    /// Write `oci-layout`, `index.json` and `blobs/sha256/*` under `dir` (created if needed).
    pub fn write_dir(&self, dir: &Path) {
        let blob_dir = dir.join("blobs").join("sha256");
        fs::create_dir_all(&blob_dir).expect("mkdir blobs");
        fs::write(dir.join("oci-layout"), OCI_LAYOUT_JSON).expect("write oci-layout");
        fs::write(dir.join("index.json"), &self.index_json).expect("write index.json");
        for (hex, b) in &self.blobs {
            fs::write(blob_dir.join(hex), b).expect("write blob");
        }
    }

    /// The layout as a tar: `oci-layout`, `index.json`, `blobs/`, `blobs/sha256/`, blobs.
    pub fn tar_bytes(&self) -> Vec<u8> {
        let mut entries = vec![
            (
                "oci-layout".to_string(),
                OuterEntry::File(OCI_LAYOUT_JSON.as_bytes().to_vec()),
            ),
            (
                "index.json".to_string(),
                OuterEntry::File(self.index_json.clone()),
            ),
            ("blobs/".to_string(), OuterEntry::Dir),
            ("blobs/sha256/".to_string(), OuterEntry::Dir),
        ];
        for (hex, b) in &self.blobs {
            entries.push((format!("blobs/sha256/{hex}"), OuterEntry::File(b.clone())));
        }
        write_tar_in_order(&entries)
    }
}

/// `{"schemaVersion":2,"mediaType":<OCI index>,"manifests":[...]}`
pub fn index_json(manifests: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    }))
    .expect("json")
}

/// Build the OCI layout in memory (see [`write_oci_layout`]).
pub fn build_oci_layout(
    images: &[Image],
    family: MediaFamily,
    multi_platform: bool,
) -> (Layout, Written) {
    let mut layout = Layout::default();
    let mut written = Written::default();
    let mut descs = Vec::new();
    for img in images {
        let b = build_image(img, family);
        layout.add_image(&b);
        let mut d = descriptor(&b.manifest_media_type, &b.manifest);
        if multi_platform {
            d["platform"] = platform_value(img);
        } else if let Some(tag) = img.repo_tags.first() {
            d["annotations"] = json!({ ANNOTATION_REF_NAME: split_tag(tag).1 });
        }
        descs.push(d);
        written.images.push(b.digests);
    }
    if multi_platform {
        let idx = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": index_media_type(family),
            "manifests": descs,
        }))
        .expect("json");
        written.index = Some(layout.add_blob(&idx));
        written.index_size = idx.len() as u64;
        let mut top = descriptor(index_media_type(family), &idx);
        if let Some(tag) = images.iter().find_map(|i| i.repo_tags.first()) {
            top["annotations"] = json!({ ANNOTATION_REF_NAME: split_tag(tag).1 });
        }
        layout.index_json = index_json(vec![top]);
    } else {
        layout.index_json = index_json(descs);
    }
    (layout, written)
}

/// An OCI image layout directory. With `multi_platform`, the images are the
/// platform variants of one image: index.json -> nested index (OCI index or
/// Docker manifest list) -> per-platform manifests.
pub fn write_oci_layout(
    images: &[Image],
    dir: &Path,
    family: MediaFamily,
    multi_platform: bool,
) -> Written {
    let (layout, written) = build_oci_layout(images, family, multi_platform);
    layout.write_dir(dir);
    written
}

/// The same layout as [`write_oci_layout`], as a tar file.
pub fn write_oci_archive(
    images: &[Image],
    out: &Path,
    family: MediaFamily,
    multi_platform: bool,
) -> Written {
    let (layout, written) = build_oci_layout(images, family, multi_platform);
    fs::write(out, layout.tar_bytes()).expect("write oci archive");
    written
}

/// Path of a blob in a layout directory.
pub fn blob_path(layout_dir: &Path, digest: &str) -> PathBuf {
    layout_dir.join("blobs").join("sha256").join(hex_of(digest))
}

/// Flip one byte in the middle of a blob file of a layout directory (size unchanged).
pub fn corrupt_blob(layout_dir: &Path, digest: &str) {
    let p = blob_path(layout_dir, digest);
    let mut b = fs::read(&p).expect("read blob");
    assert!(!b.is_empty(), "empty blob {digest}");
    let i = b.len() / 2;
    b[i] ^= 0xff;
    fs::write(&p, b).expect("write blob");
}

// ---------------------------------------------------------------------------
// docker save
// ---------------------------------------------------------------------------

fn legacy_v1_json(
    img: &Image,
    config: &[u8],
    v1id: &str,
    parent: Option<&str>,
    top: bool,
) -> Vec<u8> {
    let mut j = Map::new();
    j.insert("id".into(), json!(v1id));
    if let Some(p) = parent {
        j.insert("parent".into(), json!(p));
    }
    j.insert("created".into(), json!(CREATED));
    j.insert("container_config".into(), json!({}));
    j.insert("os".into(), json!(img.os));
    if top {
        let cfg: Value = serde_json::from_slice(config).expect("config json");
        j.insert("architecture".into(), json!(img.architecture));
        j.insert("config".into(), cfg["config"].clone());
    }
    serde_json::to_vec(&Value::Object(j)).expect("json")
}

fn repo_tags_value(tags: &[String]) -> Value {
    if tags.is_empty() {
        Value::Null
    } else {
        json!(tags)
    }
}

fn json_line(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec(v).expect("json");
    b.push(b'\n');
    b
}

/// The members of a Docker Engine 20.10 `docker save` (see [`write_docker_classic`]).
pub fn build_docker_classic(images: &[Image]) -> (Vec<(String, OuterEntry)>, Written) {
    let mut entries: Vec<(String, OuterEntry)> = Vec::new();
    let mut written = Written::default();
    let mut saved_v1: BTreeSet<String> = BTreeSet::new();
    let mut blob_paths: BTreeMap<String, String> = BTreeMap::new();
    let mut manifest = Vec::new();
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for img in images {
        let b = build_image(img, MediaFamily::Docker);
        let mut d = b.digests.clone();
        d.manifest = None;
        d.manifest_size = 0;
        let cfg_hex = sha256_hex(&b.config);
        d.config_path = format!("{cfg_hex}.json");
        entries.push((d.config_path.clone(), OuterEntry::File(b.config.clone())));
        let chains = chain_ids(&d.diff_ids);
        let n = b.layer_blobs.len();
        let mut parent: Option<String> = None;
        d.layer_paths.clear();
        for (i, blob) in b.layer_blobs.iter().enumerate() {
            let top = i + 1 == n;
            // Like Docker: the v1 id depends on the chain, the parent and (top layer only) the config.
            let v1id = sha256_hex(
                &serde_json::to_vec(&json!({
                    "chain_id": chains[i],
                    "parent": parent,
                    "config": if top { Value::String(d.config.clone()) } else { Value::Null },
                }))
                .expect("json"),
            );
            let path = format!("{v1id}/layer.tar");
            if saved_v1.insert(v1id.clone()) {
                entries.push((format!("{v1id}/VERSION"), OuterEntry::File(b"1.0".to_vec())));
                entries.push((
                    format!("{v1id}/json"),
                    OuterEntry::File(legacy_v1_json(
                        img,
                        &b.config,
                        &v1id,
                        parent.as_deref(),
                        top,
                    )),
                ));
                match blob_paths.get(&d.layers[i]) {
                    // Docker 20.10 quirk: same diff_id under another v1 id -> symlink.
                    Some(old) => {
                        entries.push((path.clone(), OuterEntry::Symlink(format!("../{old}"))))
                    }
                    None => {
                        entries.push((path.clone(), OuterEntry::File(blob.clone())));
                        blob_paths.insert(d.layers[i].clone(), path.clone());
                    }
                }
            }
            d.layer_paths.push(path);
            d.v1_ids.push(v1id.clone());
            parent = Some(v1id);
        }
        manifest.push(json!({
            "Config": d.config_path,
            "RepoTags": repo_tags_value(&img.repo_tags),
            "Layers": d.layer_paths,
        }));
        if let Some(top) = d.v1_ids.last() {
            for t in &img.repo_tags {
                let (name, tag) = split_tag(t);
                repos.entry(name).or_default().insert(tag, top.clone());
            }
        }
        written.images.push(d);
    }
    entries.push((
        "manifest.json".into(),
        OuterEntry::File(json_line(&Value::Array(manifest))),
    ));
    if !repos.is_empty() {
        entries.push((
            "repositories".into(),
            OuterEntry::File(json_line(&json!(repos))),
        ));
    }
    (entries, written)
}

/// A `docker save` tar as Docker Engine 20.10 writes it: `<v1id>/{VERSION,json,layer.tar}`,
/// `<config hex>.json`, `manifest.json`, `repositories`. A layer blob already stored under
/// another v1 id (same layer at a different chain position, in this or another image)
/// becomes a symlink `<v1id2>/layer.tar -> ../<v1id1>/layer.tar`. Compressed layers are
/// stored compressed in `layer.tar`.
pub fn write_docker_classic(images: &[Image], out: &Path) -> Written {
    let (entries, written) = build_docker_classic(images);
    fs::write(out, write_outer_tar(entries)).expect("write docker save tar");
    written
}

/// The members of a Docker 25+ `docker save` (see [`write_docker25`]).
pub fn build_docker25(images: &[Image], null_index: bool) -> (Vec<(String, OuterEntry)>, Written) {
    let mut layout = Layout::default();
    let mut written = Written::default();
    let mut manifest = Vec::new();
    let mut index_descs = Vec::new();
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for img in images {
        let b = build_image_inner(img, MediaFamily::Oci, true);
        layout.add_image(&b);
        let d = b.digests.clone();
        // Docker 25 also leaves a legacy v1 JSON blob per layer (unreferenced).
        let chains = chain_ids(&d.diff_ids);
        let mut parent: Option<String> = None;
        for (i, chain) in chains.iter().enumerate() {
            let top = i + 1 == chains.len();
            let v1id = sha256_hex(format!("{chain} {parent:?} {top}").as_bytes());
            layout.add_blob(&legacy_v1_json(
                img,
                &b.config,
                &v1id,
                parent.as_deref(),
                top,
            ));
            parent = Some(v1id);
        }
        let mut sources = Map::new();
        for i in 0..d.layers.len() {
            sources.insert(
                d.diff_ids[i].clone(),
                json!({"mediaType": d.layer_media_types[i], "size": d.layer_sizes[i], "digest": d.layers[i]}),
            );
        }
        manifest.push(json!({
            "Config": d.config_path,
            "RepoTags": repo_tags_value(&img.repo_tags),
            "Layers": d.layer_paths,
            "LayerSources": sources,
        }));
        for t in &img.repo_tags {
            let (name, tag) = split_tag(t);
            let mut desc = descriptor(OCI_MANIFEST, &b.manifest);
            desc["platform"] = platform_value(img);
            desc["annotations"] = json!({
                ANNOTATION_CONTAINERD_NAME: normalize_ref(t),
                ANNOTATION_REF_NAME: tag,
            });
            index_descs.push(desc);
            if let Some(last) = d.diff_ids.last() {
                repos
                    .entry(name)
                    .or_default()
                    .insert(tag, hex_of(last).to_string());
            }
        }
        written.images.push(d);
    }
    let manifests = if null_index || index_descs.is_empty() {
        Value::Null
    } else {
        Value::Array(index_descs)
    };
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    }))
    .expect("json");
    let mut entries: Vec<(String, OuterEntry)> = layout
        .blobs
        .iter()
        .map(|(hex, b)| (format!("blobs/sha256/{hex}"), OuterEntry::File(b.clone())))
        .collect();
    entries.push(("index.json".into(), OuterEntry::File(index)));
    entries.push((
        "manifest.json".into(),
        OuterEntry::File(json_line(&Value::Array(manifest))),
    ));
    entries.push((
        "oci-layout".into(),
        OuterEntry::File(OCI_LAYOUT_JSON.as_bytes().to_vec()),
    ));
    if !repos.is_empty() {
        entries.push((
            "repositories".into(),
            OuterEntry::File(json_line(&json!(repos))),
        ));
    }
    (entries, written)
}

/// A Docker 25+ `docker save` tar: an OCI layout (`oci-layout`, `index.json`,
/// `blobs/sha256/*`, uncompressed layers unless a layer says otherwise) plus the
/// legacy `manifest.json` (with `LayerSources`) and `repositories`. With
/// `null_index`, index.json has `"manifests": null` (as when saving by image ID).
pub fn write_docker25(images: &[Image], out: &Path, null_index: bool) -> Written {
    let (entries, written) = build_docker25(images, null_index);
    fs::write(out, write_outer_tar(entries)).expect("write docker save tar");
    written
}

/// Write `<path>.gz` (gzip of the whole file), returning its path.
pub fn gzip_file(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".gz");
    let out = PathBuf::from(s);
    let data = fs::read(path).expect("read file to gzip");
    fs::write(&out, compress(&data, Compression::Gzip)).expect("write gz");
    out
}
