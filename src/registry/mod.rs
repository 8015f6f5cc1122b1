//! Images in a registry, read over the OCI distribution API: a reference is
//! resolved to its manifest (through indexes and manifest lists), configs
//! are fetched and verified, and layers are streamed straight from the
//! registry into the scanner, their digests checked as they stream past.

pub mod auth;
pub mod catalog;
pub mod client;
pub mod reference;

use crate::image::blob::{check_digest, sha256_hex};
use crate::image::container::{Container, MAX_JSON};
use crate::image::oci::{
    attach_attestations, attestation_subject, is_attestation, is_index, statement,
};
use crate::image::spec::{Descriptor, ImageConfig, ManifestOrIndex};
use crate::image::{
    check_layer_count, parse_json, Attestation, Format, Image, LayerRef, PlatformFilter, Source,
};
use anyhow::{bail, Context, Result};
use client::{error_text, pull_scope, Client};
use reference::Reference;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;

pub use client::ClientOptions;

/// Every manifest media type stowaway reads, for the `Accept` header.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

const MAX_DEPTH: usize = 8;

/// A reference that names no container image: an OCI artifact (a Helm
/// chart, a signature), or an index without the requested platform. A
/// registry scan lists it as skipped rather than failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Skipped(pub String);

/// One repository's blobs, read by digest: the [`Container`] of a registry image.
pub struct Blobs {
    client: Arc<Client>,
    repository: String,
    sizes: HashMap<String, u64>,
}

impl Blobs {
    /// `host/repository`, for messages.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.client.host, self.repository)
    }

    /// The size the manifest gives a blob.
    pub fn size(&self, digest: &str) -> Option<u64> {
        self.sizes.get(digest).copied()
    }

    /// Streams a blob. At most one byte more than its manifest size is
    /// read, so a registry that sends more is caught by the size check
    /// without being read to the end.
    pub fn open(&self, digest: &str) -> Result<Box<dyn Read>> {
        let size = self
            .size(digest)
            .with_context(|| format!("{}: no blob {digest} in the manifest", self.describe()))?;
        let resp = blob_response(&self.client, &self.repository, digest)?;
        Ok(Box::new(resp.into_body().into_reader().take(size + 1)))
    }
}

fn blob_response(
    client: &Client,
    repository: &str,
    digest: &str,
) -> Result<ureq::http::Response<ureq::Body>> {
    let path = format!("/v2/{repository}/blobs/{digest}");
    let mut resp = client.get(&path, &pull_scope(repository), None)?;
    match resp.status().as_u16() {
        200 => Ok(resp),
        404 => bail!("blob {digest}: not found in {repository} (404)"),
        403 => bail!("blob {digest}: access denied (403)"),
        s => bail!("blob {digest}: HTTP {s} {}", error_text(&mut resp)),
    }
}

/// A manifest or index as fetched, its digest verified.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub digest: String,
    pub media_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// GETs a manifest by tag or digest and checks its digest: against the
/// digest asked for, and against `Docker-Content-Digest` when the registry
/// sends one.
pub fn fetch_manifest(client: &Client, repository: &str, target: &str) -> Result<Fetched> {
    let path = format!("/v2/{repository}/manifests/{target}");
    let mut resp = client.get(&path, &pull_scope(repository), Some(MANIFEST_TYPES))?;
    let status = resp.status().as_u16();
    if status != 200 {
        let text = error_text(&mut resp);
        let what = if target.starts_with("sha256:") {
            format!("manifest {target}")
        } else {
            format!("tag {target:?}")
        };
        match status {
            404 if text.contains("NAME_UNKNOWN") => {
                bail!(
                    "not found (404): no repository {repository} in {}",
                    client.host
                )
            }
            404 => bail!("not found (404): no {what} in {repository}"),
            403 => bail!("access denied (403): {what} of {repository}"),
            s => bail!("{what}: HTTP {s} {text}"),
        }
    }
    let media_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
    let announced = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(MAX_JSON)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => {
                anyhow::anyhow!("manifest {target}: over the {MAX_JSON}-byte limit for metadata")
            }
            e => anyhow::anyhow!("manifest {target}: {e}"),
        })?;
    let digest = sha256_hex(&bytes);
    if target.starts_with("sha256:") {
        check_digest(&format!("manifest {target}"), target, &digest)?;
    } else if let Some(a) = announced.filter(|a| a.starts_with("sha256:")) {
        check_digest(
            &format!("manifest {target} (Docker-Content-Digest)"),
            &a,
            &digest,
        )?;
    }
    if media_type
        .as_deref()
        .is_some_and(|m| m.starts_with("application/vnd.docker.distribution.manifest.v1"))
    {
        bail!("manifest {target}: a Docker schema 1 manifest (deprecated): not supported");
    }
    Ok(Fetched {
        digest,
        media_type,
        bytes,
    })
}

/// Reads a small blob (config, attestation) whole, checking size and digest.
fn small_blob(client: &Client, repository: &str, d: &Descriptor) -> Result<Vec<u8>> {
    let size = d
        .size
        .with_context(|| format!("blob {}: its descriptor has no size", d.digest))?;
    if size > MAX_JSON {
        bail!(
            "blob {} is {size} bytes, over the {MAX_JSON}-byte limit for metadata",
            d.digest
        );
    }
    let resp = blob_response(client, repository, &d.digest)?;
    let mut data = Vec::with_capacity(size as usize);
    resp.into_body()
        .into_reader()
        .take(size + 1)
        .read_to_end(&mut data)
        .with_context(|| format!("blob {}: read failed", d.digest))?;
    if data.len() as u64 != size {
        bail!(
            "blob {} is {} bytes, its descriptor says {size}",
            d.digest,
            data.len()
        );
    }
    check_digest(&format!("blob {}", d.digest), &d.digest, &sha256_hex(&data))?;
    Ok(data)
}

/// Layer media types that are tar streams (or say nothing).
fn is_layer(media_type: Option<&str>) -> bool {
    media_type.is_none_or(|m| m.contains(".tar") || m.contains("rootfs.diff"))
}

fn is_image_config(media_type: Option<&str>) -> bool {
    media_type.is_none_or(|m| {
        m == "application/vnd.oci.image.config.v1+json"
            || m == "application/vnd.docker.container.image.v1+json"
    })
}

struct Walk<'a> {
    client: &'a Client,
    reference: &'a Reference,
    platform: &'a PlatformFilter,
    seen: HashSet<String>,
    images: Vec<Image>,
    attestations: Vec<(String, Attestation)>,
    sizes: HashMap<String, u64>,
}

impl Walk<'_> {
    fn repository(&self) -> &str {
        &self.reference.repository
    }

    fn manifest(&mut self, m: Fetched, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            bail!("indexes nested deeper than {MAX_DEPTH}");
        }
        if !self.seen.insert(m.digest.clone()) {
            return Ok(());
        }
        let doc: ManifestOrIndex = parse_json(&m.digest, "manifest", &m.bytes)?;
        let media_type = m.media_type.as_deref().or(doc.media_type.as_deref());
        if is_index(media_type, &doc) {
            for child in &doc.manifests {
                if is_attestation(child) {
                    self.attestation(child)?;
                    continue;
                }
                let wanted = child
                    .platform
                    .as_ref()
                    .is_none_or(|p| self.platform.matches(p));
                if !wanted || self.seen.contains(&child.digest) {
                    continue;
                }
                let fetched = fetch_manifest(self.client, self.repository(), &child.digest)?;
                if child.size.is_some_and(|s| s != fetched.bytes.len() as u64) {
                    bail!(
                        "manifest {} is {} bytes, its descriptor says {}",
                        child.digest,
                        fetched.bytes.len(),
                        child.size.unwrap_or(0)
                    );
                }
                self.manifest(fetched, depth + 1)?;
            }
            return Ok(());
        }
        let Some(cfg) = &doc.config else {
            bail!("manifest {} has no config", m.digest);
        };
        if !is_image_config(cfg.media_type.as_deref()) {
            return Err(Skipped(format!(
                "not a container image: manifest {} has a config of type {}",
                m.digest,
                cfg.media_type.as_deref().unwrap_or("")
            ))
            .into());
        }
        if let Some(l) = doc
            .layers
            .iter()
            .find(|l| !is_layer(l.media_type.as_deref()))
        {
            return Err(Skipped(format!(
                "not a container image: manifest {} has a layer of type {}",
                m.digest,
                l.media_type.as_deref().unwrap_or("")
            ))
            .into());
        }
        let config_data = small_blob(self.client, self.repository(), cfg)?;
        let config: ImageConfig = parse_json(&cfg.digest, "config", &config_data)?;
        let diff_ids = &config.rootfs.diff_ids;
        check_layer_count(
            &format!("manifest {}", m.digest),
            doc.layers.len(),
            diff_ids.len(),
        )?;
        let mut layers = Vec::with_capacity(doc.layers.len());
        for (l, diff_id) in doc.layers.iter().zip(diff_ids) {
            crate::image::blob::parse_digest(&l.digest)
                .with_context(|| format!("manifest {}: layer", m.digest))?;
            let size = l.size.with_context(|| {
                format!("manifest {}: layer {} has no size", m.digest, l.digest)
            })?;
            self.sizes.insert(l.digest.clone(), size);
            layers.push(LayerRef {
                member: l.digest.clone(),
                digest: Some(l.digest.clone()),
                diff_id: diff_id.clone(),
                media_type: l.media_type.clone(),
                compressed_size: size,
            });
        }
        let tag = match &self.reference.tag {
            Some(t) => format!("{}:{t}", self.reference.name()),
            None => format!("{}@{}", self.reference.name(), m.digest),
        };
        self.images.push(Image {
            format: Format::Registry,
            tags: vec![tag],
            manifest_digest: Some(m.digest.clone()),
            config_digest: cfg.digest.clone(),
            config,
            layers,
            attestations: vec![],
        });
        Ok(())
    }

    /// The in-toto statements of a BuildKit attestation manifest.
    fn attestation(&mut self, d: &Descriptor) -> Result<()> {
        let Some(subject) = attestation_subject(d) else {
            return Ok(());
        };
        let m = fetch_manifest(self.client, self.repository(), &d.digest)?;
        let doc: ManifestOrIndex = parse_json(&m.digest, "attestation manifest", &m.bytes)?;
        for l in &doc.layers {
            let a = statement(l, small_blob(self.client, self.repository(), l)?);
            self.attestations.push((subject.clone(), a));
        }
        Ok(())
    }
}

/// Reads the images a reference names, starting from its manifest (already
/// fetched by a registry scan, else fetched here).
pub fn open(
    client: Arc<Client>,
    reference: &Reference,
    top: Option<Fetched>,
    platform: &PlatformFilter,
) -> Result<Source> {
    let shown = reference.to_string();
    let read = || -> Result<(Vec<Image>, HashMap<String, u64>)> {
        let top = match top {
            Some(t) => t,
            None => fetch_manifest(&client, &reference.repository, reference.target())?,
        };
        let mut walk = Walk {
            client: &client,
            reference,
            platform,
            seen: HashSet::new(),
            images: Vec::new(),
            attestations: Vec::new(),
            sizes: HashMap::new(),
        };
        walk.manifest(top, 0)?;
        let mut images = walk.images;
        attach_attestations(&mut images, walk.attestations);
        images.retain(|img| platform.matches(&img.config.platform()));
        if images.is_empty() {
            if platform.is_set() {
                return Err(Skipped("no image for the requested --platform".into()).into());
            }
            bail!("holds no image");
        }
        Ok((images, walk.sizes))
    };
    let (images, sizes) = read().with_context(|| shown.clone())?;
    Ok(Source {
        container: Container::Registry(Blobs {
            client,
            repository: reference.repository.clone(),
            sizes,
        }),
        images,
    })
}
