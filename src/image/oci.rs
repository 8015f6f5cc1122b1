//! OCI image layouts (a directory) and OCI archives (a tar of one): walk
//! `index.json` through nested indexes and manifest lists to image manifests.

use super::blob::{check_digest, parse_digest, sha256_hex};
use super::container::Container;
use super::spec::{Descriptor, ManifestOrIndex};
use super::{check_layer_count, parse_json, read_config, Attestation, Format, Image, LayerRef};
use anyhow::{bail, Context, Result};
use std::collections::HashSet;

const MAX_DEPTH: usize = 8;

fn blob_member(shown: &str, digest: &str) -> Result<String> {
    let digest = parse_digest(digest).with_context(|| shown.to_string())?;
    Ok(format!("blobs/sha256/{}", &digest["sha256:".len()..]))
}

/// Whether a manifest document is an index or manifest list, by its media
/// type or, when it says none, by its shape.
pub(crate) fn is_index(mt: Option<&str>, doc: &ManifestOrIndex) -> bool {
    match mt {
        Some(m) if m.contains("image.index") || m.contains("manifest.list") => true,
        Some(m) if m.contains("image.manifest") || m.contains("distribution.manifest.v2") => false,
        _ => doc.config.is_none() && !doc.manifests.is_empty(),
    }
}

pub(crate) fn is_attestation(d: &Descriptor) -> bool {
    d.annotations
        .get("vnd.docker.reference.type")
        .is_some_and(|t| t == "attestation-manifest")
}

/// The image manifest an attestation manifest describes.
pub(crate) fn attestation_subject(d: &Descriptor) -> Option<String> {
    d.annotations.get("vnd.docker.reference.digest").cloned()
}

/// One in-toto statement: a layer of an attestation manifest and its bytes.
pub(crate) fn statement(l: &Descriptor, data: Vec<u8>) -> Attestation {
    Attestation {
        digest: l.digest.clone(),
        predicate_type: l
            .annotations
            .get("in-toto.io/predicate-type")
            .cloned()
            .unwrap_or_default(),
        data,
    }
}

/// Gives each image the statements whose subject is its manifest.
pub(crate) fn attach_attestations(images: &mut [Image], found: Vec<(String, Attestation)>) {
    for (subject, a) in found {
        if let Some(img) = images
            .iter_mut()
            .find(|i| i.manifest_digest.as_deref() == Some(subject.as_str()))
        {
            img.attestations.push(a);
        }
    }
}

fn ref_name(d: &Descriptor) -> Option<String> {
    d.annotations
        .get("io.containerd.image.name")
        .or_else(|| d.annotations.get("org.opencontainers.image.ref.name"))
        .map(|n| crate::redact::escape_controls(n))
}

struct Walk<'a> {
    c: &'a Container,
    shown: &'a str,
    format: Format,
    seen: HashSet<String>,
    images: Vec<Image>,
    /// Attestations by the digest of the image manifest they describe.
    attestations: Vec<(String, Attestation)>,
}

impl Walk<'_> {
    /// Reads a blob referenced by a descriptor, checking size and digest.
    fn read_blob(&self, d: &Descriptor) -> Result<Vec<u8>> {
        let member = blob_member(self.shown, &d.digest)?;
        if !self.c.exists(&member) {
            bail!("{}: missing blob {}", self.shown, d.digest);
        }
        let data = self.c.read_small(&member)?;
        if let Some(size) = d.size {
            if size != data.len() as u64 {
                bail!(
                    "{}: blob {} is {} bytes, its descriptor says {size}",
                    self.shown,
                    d.digest,
                    data.len()
                );
            }
        }
        check_digest(
            &format!("{}: blob", self.shown),
            &d.digest,
            &sha256_hex(&data),
        )?;
        Ok(data)
    }

    fn descriptor(&mut self, d: &Descriptor, name: Option<String>, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            bail!("{}: indexes nested deeper than {MAX_DEPTH}", self.shown);
        }
        let mt = d.media_type.as_deref();
        let known = mt.is_none_or(|m| {
            m.contains("image.index")
                || m.contains("manifest.list")
                || m.contains("image.manifest")
                || m.contains("distribution.manifest.v2")
        });
        if !self.seen.insert(d.digest.clone()) {
            return Ok(());
        }
        if is_attestation(d) {
            return self.attestation(d);
        }
        let doc: ManifestOrIndex = if known {
            parse_json(self.shown, &d.digest, &self.read_blob(d)?)?
        } else {
            // Other media types (`application/vnd.oci.descriptor.v1+json`,
            // artifacts) count when their content is a manifest or an index.
            let member = blob_member(self.shown, &d.digest)?;
            let small = self.c.size(&member).is_some_and(|s| s <= 1 << 20);
            match small.then(|| self.read_blob(d)).transpose()? {
                Some(data) => match serde_json::from_slice::<ManifestOrIndex>(&data) {
                    Ok(doc) if doc.config.is_some() || !doc.manifests.is_empty() => doc,
                    _ => return Ok(()),
                },
                None => return Ok(()),
            }
        };
        let name = ref_name(d).or(name);
        if is_index(mt.or(doc.media_type.as_deref()), &doc) {
            for child in &doc.manifests {
                self.descriptor(child, name.clone(), depth + 1)?;
            }
            return Ok(());
        }
        let Some(cfg_desc) = &doc.config else {
            bail!("{}: manifest {} has no config", self.shown, d.digest);
        };
        let cfg_member = blob_member(self.shown, &cfg_desc.digest)?;
        if !self.c.exists(&cfg_member) {
            bail!("{}: missing config blob {}", self.shown, cfg_desc.digest);
        }
        let (config_digest, config) =
            read_config(self.c, self.shown, &cfg_member, Some(&cfg_desc.digest))?;
        let diff_ids = &config.rootfs.diff_ids;
        check_layer_count(
            &format!("{}: manifest {}", self.shown, d.digest),
            doc.layers.len(),
            diff_ids.len(),
        )?;
        let mut layers = Vec::new();
        for (i, l) in doc.layers.iter().enumerate() {
            let member = blob_member(self.shown, &l.digest)?;
            let Some(size) = self.c.size(&member) else {
                bail!("{}: missing layer blob {}", self.shown, l.digest);
            };
            if let Some(expected) = l.size {
                if expected != size {
                    bail!(
                        "{}: layer blob {} is {size} bytes, its descriptor says {expected}",
                        self.shown,
                        l.digest
                    );
                }
            }
            layers.push(LayerRef {
                member: self.c.canonical(&member),
                digest: Some(l.digest.clone()),
                diff_id: diff_ids[i].clone(),
                media_type: l.media_type.clone(),
                compressed_size: size,
            });
        }
        self.images.push(Image {
            format: self.format,
            tags: name.into_iter().collect(),
            manifest_digest: Some(d.digest.clone()),
            config_digest,
            config,
            layers,
            attestations: vec![],
        });
        Ok(())
    }

    /// Reads the in-toto statements of an attestation manifest.
    fn attestation(&mut self, d: &Descriptor) -> Result<()> {
        let Some(subject) = attestation_subject(d) else {
            return Ok(());
        };
        let doc: ManifestOrIndex = parse_json(self.shown, &d.digest, &self.read_blob(d)?)?;
        for l in &doc.layers {
            let a = statement(l, self.read_blob(l)?);
            self.attestations.push((subject.clone(), a));
        }
        Ok(())
    }
}

pub fn read(c: &Container, shown: &str, format: Format) -> Result<Vec<Image>> {
    let data = c.read_small("index.json")?;
    let index: ManifestOrIndex = parse_json(shown, "index.json", &data)?;
    let mut walk = Walk {
        c,
        shown,
        format,
        seen: HashSet::new(),
        images: Vec::new(),
        attestations: Vec::new(),
    };
    for d in &index.manifests {
        walk.descriptor(d, None, 0)?;
    }
    let mut images = walk.images;
    attach_attestations(&mut images, walk.attestations);
    Ok(images)
}
