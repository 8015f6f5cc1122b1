//! `docker save` archives: `manifest.json` lists each image's config and
//! layer members. Docker 25+ archives also carry an OCI layout; its manifests
//! add the manifest digest and the layers' media types.

use super::container::Container;
use super::spec::DockerManifestEntry;
use super::{
    check_layer_count, digest_in_name, oci, parse_json, read_config, Format, Image, LayerRef,
};
use anyhow::{bail, Result};
use std::collections::HashMap;

pub fn read(c: &Container, shown: &str, oci_inside: bool) -> Result<Vec<Image>> {
    let data = c.read_small("manifest.json")?;
    let value: serde_json::Value = parse_json(shown, "manifest.json", &data)?;
    if !value.is_array() {
        bail!("{shown}: manifest.json: expected a list of images, found {value}");
    }
    let entries: Vec<DockerManifestEntry> = parse_json(shown, "manifest.json", &data)?;
    if entries.is_empty() {
        bail!("{shown}: manifest.json lists no image");
    }
    // Docker 25+: index the OCI manifests by config digest, when index.json has any.
    let oci_by_config: HashMap<String, Image> = if oci_inside {
        oci::read(c, shown, Format::DockerArchiveOci)?
            .into_iter()
            .map(|img| (img.config_digest.clone(), img))
            .collect()
    } else {
        HashMap::new()
    };
    let format = if oci_inside {
        Format::DockerArchiveOci
    } else {
        Format::DockerArchive
    };
    let mut images = Vec::new();
    for e in entries {
        if !c.exists(&e.config) {
            bail!(
                "{shown}: manifest.json names config {} which is not in the archive",
                e.config
            );
        }
        let (config_digest, config) =
            read_config(c, shown, &e.config, digest_in_name(&e.config).as_deref())?;
        let diff_ids = &config.rootfs.diff_ids;
        let image = e.repo_tags.first().unwrap_or(&config_digest);
        check_layer_count(
            &format!("{shown}: image {image}: manifest.json"),
            e.layers.len(),
            diff_ids.len(),
        )?;
        let from_oci = oci_by_config.get(&config_digest);
        let mut layers = Vec::with_capacity(e.layers.len());
        for (i, member) in e.layers.iter().enumerate() {
            let Some(size) = c.size(member) else {
                bail!("{shown}: manifest.json names layer {member} which is not in the archive");
            };
            let source = e.layer_sources.get(&diff_ids[i]);
            let oci_layer = from_oci.and_then(|img| img.layers.get(i));
            layers.push(LayerRef {
                member: c.canonical(member),
                digest: digest_in_name(member),
                diff_id: diff_ids[i].clone(),
                media_type: oci_layer
                    .and_then(|l| l.media_type.clone())
                    .or_else(|| source.and_then(|s| s.media_type.clone())),
                compressed_size: size,
            });
        }
        images.push(Image {
            format,
            tags: e
                .repo_tags
                .iter()
                .map(|t| crate::redact::escape_controls(t))
                .collect(),
            manifest_digest: from_oci.and_then(|img| img.manifest_digest.clone()),
            config_digest,
            config,
            layers,
            attestations: from_oci.map(|i| i.attestations.clone()).unwrap_or_default(),
        });
    }
    Ok(images)
}
