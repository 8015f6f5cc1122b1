//! Image references as docker and skopeo spell them:
//! `[docker://][HOST[:PORT]/]NAME[:TAG][@sha256:HEX]`.
//!
//! A reference without a registry host means Docker Hub (`alpine` is
//! `docker.io/library/alpine:latest`), but `stowaway audit` only takes such a
//! short name with the `docker://` prefix: a bare `app:1.4` is a file name.

use anyhow::{bail, Result};
use std::fmt;
use std::path::Path;

/// Where Docker Hub's API is, and the host its credentials are filed under.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A registry host as written (`registry.example.com`, `127.0.0.1:5000`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Host(pub String);

impl Host {
    /// Parses `HOST[:PORT]`, rejecting anything with a path or a scheme.
    pub fn parse(s: &str) -> Result<Host> {
        let ok = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b));
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        let port_ok = match s.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((addr, rest)) => {
                    !addr.is_empty()
                        && (rest.is_empty() || rest.strip_prefix(':').is_some_and(digits))
                }
                None => false,
            },
            None => match s.split_once(':') {
                Some((name, port)) => !name.is_empty() && digits(port),
                None => true,
            },
        };
        if !ok || !port_ok {
            bail!("{s:?}: not a registry host (expected HOST or HOST:PORT)");
        }
        Ok(Host(s.to_ascii_lowercase()))
    }

    /// The host the API is served from (Docker Hub's differs from its name).
    pub fn api_host(&self) -> &str {
        if self.0 == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.0
        }
    }

    /// The host without its port.
    pub fn hostname(&self) -> &str {
        let h = &self.0;
        if let Some(rest) = h.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        h.rsplit_once(':').map_or(h.as_str(), |(name, _)| name)
    }

    /// Loopback hosts speak plain HTTP unless told otherwise, as docker
    /// treats them as insecure registries by default.
    pub fn is_loopback(&self) -> bool {
        let name = self.hostname();
        name == "localhost"
            || name == "::1"
            || name
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub host: Host,
    /// Repository path inside the registry (`team/app`, `library/alpine`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

fn valid_repository(name: &str) -> bool {
    // Lowercase components separated by `/`; `.`, `_` and `-` inside.
    !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.as_bytes()[0].is_ascii_alphanumeric()
                && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
        })
}

fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && (tag.as_bytes()[0].is_ascii_alphanumeric() || tag.as_bytes()[0] == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// Whether the first component of a name is a registry host.
fn is_host(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost" || first.starts_with('[')
}

impl Reference {
    /// Parses a reference; `docker://` is optional, a missing host means
    /// Docker Hub and a missing tag and digest means `latest`.
    pub fn parse(input: &str) -> Result<Reference> {
        let s = input.strip_prefix("docker://").unwrap_or(input);
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => (
                n,
                Some(
                    crate::image::blob::parse_digest(d)
                        .map_err(|e| anyhow::anyhow!("{input}: {e}"))?,
                ),
            ),
            None => (s, None),
        };
        let (name, tag) = match name.rfind(':') {
            Some(i) if !name[i..].contains('/') => (&name[..i], Some(name[i + 1..].to_string())),
            _ => (name, None),
        };
        if let Some(t) = &tag {
            if !valid_tag(t) {
                bail!("{input}: invalid tag {t:?}");
            }
        }
        let (host, repository) = match name.split_once('/') {
            Some((first, rest)) if is_host(first) => (Host::parse(first)?, rest.to_string()),
            _ => (Host(DOCKER_HUB.into()), name.to_string()),
        };
        let repository = if host.0 == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if !valid_repository(&repository) {
            bail!(
                "{input}: invalid repository name {repository:?} \
                 (lowercase letters, digits, `.`, `_`, `-`, components separated by `/`)"
            );
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        Ok(Reference {
            host,
            repository,
            tag,
            digest,
        })
    }

    /// What `audit SOURCE` makes of its argument: a registry reference when
    /// it says `docker://`, or when no such file exists and it starts with a
    /// registry host (`registry.example.com/team/app:1.4`); otherwise a file.
    pub fn detect(source: &Path) -> Result<Option<Reference>> {
        let Some(s) = source.to_str() else {
            return Ok(None);
        };
        if s.starts_with("docker://") {
            return Reference::parse(s).map(Some);
        }
        if source.exists() {
            return Ok(None);
        }
        match s.split_once('/') {
            Some((first, _)) if is_host(first) && first != "." && first != ".." => {
                Reference::parse(s).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The tag or digest to ask the registry for (the digest when both are given).
    pub fn target(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// `host/repository` (a finding's stable id is tied to this).
    pub fn name(&self) -> String {
        format!("{}/{}", self.host, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.host, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn full_references() {
        let r = Reference::parse("registry.example.com/team/app:1.4").unwrap();
        assert_eq!(r.host.0, "registry.example.com");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("1.4"));
        assert_eq!(r.target(), "1.4");
        let r = Reference::parse(&format!("docker://127.0.0.1:5000/app@{D}")).unwrap();
        assert_eq!(r.host.0, "127.0.0.1:5000");
        assert_eq!(r.tag, None);
        assert_eq!(r.target(), D);
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/app@{D}"));
        let r = Reference::parse(&format!("localhost/a/b:t@{D}")).unwrap();
        assert_eq!((r.tag.as_deref(), r.target()), (Some("t"), D));
    }

    #[test]
    fn docker_hub_short_names() {
        let r = Reference::parse("docker://alpine").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/alpine:latest");
        assert_eq!(r.host.api_host(), "registry-1.docker.io");
        let r = Reference::parse("docker://bitnami/redis:7").unwrap();
        assert_eq!(r.repository, "bitnami/redis");
    }

    #[test]
    fn bad_references_are_named() {
        for bad in [
            "docker://Upper/Case",
            "host.io/app:bad tag",
            "host.io/app@sha256:abc",
            "host.io/app@md5:0123",
            "host.io//app",
        ] {
            let err = Reference::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad) || err.contains("digest"), "{bad}: {err}");
        }
    }

    #[test]
    fn files_are_not_references() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("image.tar");
        std::fs::write(&file, b"").unwrap();
        assert_eq!(Reference::detect(&file).unwrap(), None);
        assert_eq!(Reference::detect(Path::new("app.tar")).unwrap(), None);
        assert_eq!(Reference::detect(Path::new("./x/y")).unwrap(), None);
        assert!(Reference::detect(Path::new("reg.io/app:1"))
            .unwrap()
            .is_some());
        assert!(Reference::detect(Path::new("docker://app"))
            .unwrap()
            .is_some());
    }

    #[test]
    fn loopback_hosts() {
        for h in ["localhost:5000", "127.0.0.1", "127.0.0.2:80", "[::1]:5000"] {
            assert!(Host::parse(h).unwrap().is_loopback(), "{h}");
        }
        for h in ["registry.example.com", "10.0.0.1:5000"] {
            assert!(!Host::parse(h).unwrap().is_loopback(), "{h}");
        }
    }
}
