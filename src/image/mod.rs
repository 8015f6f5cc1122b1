//! Image readers: every supported source becomes a list of [`Image`]s whose
//! layers can be streamed from a [`Container`] and verified.

pub mod blob;
pub mod container;
mod docker;
pub(crate) mod oci;
pub mod spec;

use anyhow::{bail, Context, Result};
use container::Container;
use serde::Serialize;
use spec::ImageConfig;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `docker save` with `<id>/layer.tar` members (Engine < 25, also
    /// containers/image and ggcr tarballs).
    DockerArchive,
    /// `docker save` from Engine 25+: an OCI layout plus `manifest.json`.
    DockerArchiveOci,
    OciLayout,
    OciArchive,
    /// Pulled from a registry over the OCI distribution API.
    Registry,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::DockerArchive => "docker-archive",
            Format::DockerArchiveOci => "docker-archive-oci",
            Format::OciLayout => "oci-layout",
            Format::OciArchive => "oci-archive",
            Format::Registry => "registry",
        }
    }
}

/// One layer as the manifest describes it.
#[derive(Debug, Clone)]
pub struct LayerRef {
    /// Canonical name of the blob in the container.
    pub member: String,
    /// The blob's digest as the manifest states it, when it states one.
    pub digest: Option<String>,
    /// sha256 of the uncompressed tar, from the config's `rootfs.diff_ids`.
    pub diff_id: String,
    pub media_type: Option<String>,
    pub compressed_size: u64,
}

#[derive(Debug, Clone)]
pub struct Image {
    pub format: Format,
    pub tags: Vec<String>,
    pub manifest_digest: Option<String>,
    pub config_digest: String,
    pub config: ImageConfig,
    pub layers: Vec<LayerRef>,
    /// In-toto statements (SLSA provenance, SBOM) BuildKit attached to this
    /// image in an OCI layout or archive.
    pub attestations: Vec<Attestation>,
}

/// One in-toto statement from an attestation manifest.
#[derive(Debug, Clone)]
pub struct Attestation {
    /// The blob's digest, for reports.
    pub digest: String,
    /// `in-toto.io/predicate-type`, e.g. `https://slsa.dev/provenance/v0.2`.
    pub predicate_type: String,
    pub data: Vec<u8>,
}

/// An opened source: where its bytes are and the images it holds.
pub struct Source {
    pub container: Container,
    pub images: Vec<Image>,
}

/// Which images of a multi-platform index to read.
#[derive(Debug, Clone, Default)]
pub struct PlatformFilter(Option<(String, String, Option<String>)>);

impl PlatformFilter {
    pub fn parse(s: &str) -> Result<PlatformFilter> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(PlatformFilter(Some((
                os.to_string(),
                arch.to_string(),
                None,
            )))),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => {
                Ok(PlatformFilter(Some((
                    os.to_string(),
                    arch.to_string(),
                    Some(v.to_string()),
                ))))
            }
            _ => bail!("--platform {s}: expected os/arch or os/arch/variant, e.g. linux/amd64"),
        }
    }

    pub fn matches(&self, p: &spec::Platform) -> bool {
        match &self.0 {
            None => true,
            Some((os, arch, variant)) => {
                &p.os == os
                    && &p.architecture == arch
                    && variant
                        .as_ref()
                        .is_none_or(|v| p.variant.as_deref() == Some(v.as_str()))
            }
        }
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

/// Opens a source and reads its images, detecting the format from content.
pub fn open(path: &Path, platform: &PlatformFilter) -> Result<Source> {
    let container = Container::open(path)?;
    let shown = path.display().to_string();
    let images = if container.exists("manifest.json") {
        let oci_inside = container.exists("index.json");
        docker::read(&container, &shown, oci_inside)?
    } else if container.exists("index.json") {
        let format = match container {
            Container::Dir(_) => Format::OciLayout,
            _ => Format::OciArchive,
        };
        oci::read(&container, &shown, format)?
    } else if container.exists("repositories") {
        bail!(
            "{shown}: a pre-Docker-1.10 save (no manifest.json, only `repositories`): \
             not supported; save it again with a current docker"
        )
    } else if matches!(container, Container::Dir(_)) {
        bail!("{shown}: not an OCI image layout (no index.json)")
    } else {
        bail!("{shown}: not a container image (no manifest.json or index.json in the archive)")
    };
    let images: Vec<Image> = images
        .into_iter()
        .filter(|img| platform.matches(&img.config.platform()))
        .collect();
    if images.is_empty() {
        if platform.is_set() {
            bail!("{shown}: no image for the requested --platform");
        }
        bail!("{shown}: holds no image");
    }
    Ok(Source { container, images })
}

/// Parses a JSON document, naming the member on failure.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    shown: &str,
    member: &str,
    data: &[u8],
) -> Result<T> {
    serde_json::from_slice(data).with_context(|| format!("{shown}: {member}: malformed JSON"))
}

/// A manifest (`what`) must list one layer per `diff_id` of its config.
pub(crate) fn check_layer_count(what: &str, layers: usize, diff_ids: usize) -> Result<()> {
    if layers != diff_ids {
        bail!("{what} lists {layers} layers but its config has {diff_ids} diff_ids");
    }
    Ok(())
}

/// Reads the config blob, verifies its digest, checks it is a config.
pub(crate) fn read_config(
    c: &Container,
    shown: &str,
    member: &str,
    expected: Option<&str>,
) -> Result<(String, ImageConfig)> {
    let data = c.read_small(member)?;
    let digest = blob::sha256_hex(&data);
    if let Some(exp) = expected {
        blob::check_digest(&format!("{shown}: config {member}"), exp, &digest)?;
    }
    let cfg: ImageConfig = parse_json(shown, member, &data)?;
    Ok((digest, cfg))
}

/// A 64-hex sha256 spelled in a member's file name (`blobs/sha256/<hex>`,
/// `<hex>.tar.gz`, `sha256:<hex>`, `<hex>.json`), as `sha256:<hex>`.
pub(crate) fn digest_in_name(member: &str) -> Option<String> {
    let base = member.rsplit('/').next()?;
    let base = base.strip_prefix("sha256:").unwrap_or(base);
    let hexpart = base.split('.').next()?;
    (hexpart.len() == 64 && hexpart.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("sha256:{}", hexpart.to_ascii_lowercase()))
}
