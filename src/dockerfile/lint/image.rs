//! Image references (`docker.io/library/alpine:3.19@sha256:…`) and what the
//! lint knows about well-known images: build toolchains and shell-less bases.

/// A parsed image reference with Docker Hub defaults normalised away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Repository without `docker.io/` and `library/` (`alpine`, `gcr.io/distroless/static`).
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// A build toolchain image and the commands that build with it.
pub struct Toolchain {
    /// Repository name, or its last path segments (`dotnet/sdk`).
    pub image: &'static str,
    /// Compiled languages produce an artifact that needs no toolchain at run
    /// time, so shipping the toolchain image is never needed.
    pub compiled: bool,
    /// `program subcommand` invocations that build (`go build`, `npm run`).
    pub builds: &'static [(&'static str, Option<&'static str>)],
}

/// Toolchain images the lint recognises.
pub const TOOLCHAINS: &[Toolchain] = &[
    Toolchain {
        image: "golang",
        compiled: true,
        builds: &[("go", Some("build")), ("go", Some("install"))],
    },
    Toolchain {
        image: "rust",
        compiled: true,
        builds: &[
            ("cargo", Some("build")),
            ("cargo", Some("install")),
            ("rustc", None),
        ],
    },
    Toolchain {
        image: "gcc",
        compiled: true,
        builds: &[
            ("gcc", None),
            ("g++", None),
            ("make", None),
            ("cmake", None),
        ],
    },
    Toolchain {
        image: "maven",
        compiled: true,
        builds: &[("mvn", None)],
    },
    Toolchain {
        image: "gradle",
        compiled: true,
        builds: &[("gradle", None), ("gradlew", None)],
    },
    Toolchain {
        image: "openjdk",
        compiled: true,
        builds: &[("javac", None), ("mvn", None), ("gradlew", None)],
    },
    Toolchain {
        image: "dotnet/sdk",
        compiled: true,
        builds: &[("dotnet", Some("publish")), ("dotnet", Some("build"))],
    },
    Toolchain {
        image: "node",
        compiled: false,
        builds: &[
            ("npm", Some("run")),
            ("yarn", Some("build")),
            ("pnpm", Some("build")),
            ("tsc", None),
        ],
    },
];

impl ImageRef {
    /// Parses a reference; never fails (odd input gives an odd name).
    pub fn parse(reference: &str) -> ImageRef {
        let (rest, digest) = match reference.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (reference, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        let name = name.to_ascii_lowercase();
        let name = ["docker.io/", "index.docker.io/", "registry-1.docker.io/"]
            .iter()
            .find_map(|p| name.strip_prefix(p))
            .unwrap_or(&name);
        let name = name.strip_prefix("library/").unwrap_or(name).to_string();
        ImageRef { name, tag, digest }
    }

    /// `FROM scratch`.
    pub fn is_scratch(&self) -> bool {
        self.name == "scratch"
    }

    /// Images without `/bin/sh`: scratch and distroless (except `:debug`).
    pub fn has_no_shell(&self) -> bool {
        let distroless = self.name.contains("distroless")
            && !self.tag.as_deref().unwrap_or("").contains("debug");
        self.is_scratch() || distroless
    }

    /// Bases that need a fully static binary (no libc at all).
    pub fn needs_static_binary(&self) -> bool {
        self.is_scratch() || self.name.ends_with("distroless/static")
    }

    /// musl-based images (Alpine, or a `*-alpine*` tag of another image).
    pub fn is_musl(&self) -> bool {
        self.name == "alpine" || self.tag.as_deref().unwrap_or("").contains("alpine")
    }

    /// The toolchain this image provides, if it is a known build image.
    pub fn toolchain(&self) -> Option<&'static Toolchain> {
        TOOLCHAINS
            .iter()
            .find(|t| self.name == t.image || self.name.ends_with(&format!("/{}", t.image)))
    }

    /// Whether this image satisfies an expected base such as `alpine:3.19`.
    /// Names must be equal; an expected tag matches the same tag or a patch
    /// release of it (`3.19` accepts `3.19.1`, not `3.190` nor `3.19-rc`); a
    /// reference pinned by digest alone is accepted on its name, since its
    /// tag cannot be read from the Dockerfile. No tag at all means `latest`.
    pub fn satisfies(&self, expected: &ImageRef) -> bool {
        if self.name != expected.name {
            return false;
        }
        let Some(want) = expected.tag.as_deref() else {
            return true;
        };
        match self.tag.as_deref() {
            Some(have) => {
                have == want || have.strip_prefix(want).is_some_and(|r| r.starts_with('.'))
            }
            None if self.digest.is_some() => true,
            None => want == "latest",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises_references() {
        let r = ImageRef::parse("docker.io/library/alpine:3.19@sha256:abc");
        assert_eq!(
            (r.name.as_str(), r.tag.as_deref()),
            ("alpine", Some("3.19"))
        );
        assert_eq!(r.digest.as_deref(), Some("sha256:abc"));
        let r = ImageRef::parse("localhost:5000/team/golang");
        assert_eq!(
            (r.name.as_str(), r.tag),
            ("localhost:5000/team/golang", None)
        );
        assert!(ImageRef::parse("mcr.microsoft.com/dotnet/sdk:8.0")
            .toolchain()
            .is_some());
        assert!(ImageRef::parse("golang:1.22-alpine").is_musl());
        assert!(ImageRef::parse("gcr.io/distroless/static-debian12").has_no_shell());
        assert!(!ImageRef::parse("gcr.io/distroless/base:debug").has_no_shell());
    }

    #[test]
    fn expected_base_tag_rules() {
        let want = ImageRef::parse("alpine:3.19");
        let ok = |s: &str| ImageRef::parse(s).satisfies(&want);
        assert!(ok("alpine:3.19") && ok("alpine:3.19.1") && ok("docker.io/library/alpine:3.19"));
        assert!(ok("alpine@sha256:0123"));
        assert!(!ok("alpine:3.190") && !ok("alpine:3.18") && !ok("alpine") && !ok("golang:3.19"));
        assert!(ImageRef::parse("scratch").satisfies(&ImageRef::parse("scratch")));
        assert!(ImageRef::parse("alpine").satisfies(&ImageRef::parse("alpine:latest")));
    }
}
