//! Registry credentials and authentication challenges.
//!
//! Credentials come, first match wins, from the command line
//! (`--registry-user` with `STOWAWAY_REGISTRY_PASSWORD`), then from docker's
//! `config.json` (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`):
//! `auths` entries (base64 `user:password` in `auth`, or `username` and
//! `password`), then a credential helper (`credHelpers` for the host, else
//! `credsStore`) run as `docker-credential-NAME get`. A password is never
//! printed: `Debug` of [`Credentials`] hides it.

use anyhow::{bail, Context, Result};
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Credentials({}, <password hidden>)", self.username)
    }
}

impl Credentials {
    /// The value of a `Basic` `Authorization` header.
    pub fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperReply {
    username: String,
    secret: String,
}

/// docker's config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// The keys an `auths` entry for `host` may be filed under (`docker login`
/// writes Docker Hub as its v1 index URL; older clients wrote a scheme).
fn auth_keys(host: &str) -> Vec<String> {
    let mut keys = vec![
        host.to_string(),
        format!("https://{host}"),
        format!("http://{host}"),
        format!("https://{host}/v1/"),
        format!("https://{host}/v2/"),
    ];
    if host == "docker.io" {
        keys.insert(0, "https://index.docker.io/v1/".into());
        keys.push("index.docker.io".into());
        keys.push("registry-1.docker.io".into());
    }
    keys
}

/// Looks up credentials for `host` in a docker config file; a missing file
/// means none, a malformed one is an error naming it.
pub fn from_docker_config(path: &Path, host: &str) -> Result<Option<Credentials>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
    };
    let config: DockerConfig = serde_json::from_str(&text)
        .with_context(|| format!("{}: malformed docker config", path.display()))?;
    for key in auth_keys(host) {
        let Some(entry) = config.auths.get(&key) else {
            continue;
        };
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            let Some((user, pass)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                bail!(
                    "{}: auths[{key:?}].auth is not base64 of user:password",
                    path.display()
                );
            };
            return Ok(Some(Credentials {
                username: user.to_string(),
                password: pass.to_string(),
            }));
        }
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            return Ok(Some(Credentials {
                username: u.clone(),
                password: p.clone(),
            }));
        }
    }
    let helper = config
        .cred_helpers
        .get(host)
        .or(config.creds_store.as_ref());
    match helper {
        Some(name) => from_helper(name, host),
        None => Ok(None),
    }
}

/// Runs `docker-credential-NAME get` with the host on stdin.
fn from_helper(name: &str, host: &str) -> Result<Option<Credentials>> {
    let program = format!("docker-credential-{name}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("credential helper {program}: cannot run"))?;
    let server = if host == "docker.io" {
        "https://index.docker.io/v1/"
    } else {
        host
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .with_context(|| format!("credential helper {program}: cannot write"))?;
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("credential helper {program}: failed"))?;
    if !out.status.success() {
        // "credentials not found in native keychain": anonymous access.
        return Ok(None);
    }
    let reply: HelperReply = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("credential helper {program}: malformed reply"))?;
    Ok(Some(Credentials {
        username: reply.username,
        password: reply.secret,
    }))
}

/// An authentication challenge from a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        /// `insufficient_scope`, `invalid_token`...
        error: Option<String>,
    },
}

/// `key=value` and `key="quoted, \"value\""` pairs after the scheme.
fn params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ','))
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if key.is_empty() || chars.next() != Some('=') {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_string();
        }
        out.insert(key, value);
    }
    out
}

impl Challenge {
    /// Parses the challenge; `None` for a scheme stowaway does not speak.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => {
                let p = params(rest);
                Some(Challenge::Bearer {
                    realm: p.get("realm")?.clone(),
                    service: p.get("service").cloned(),
                    error: p.get("error").cloned(),
                })
            }
            _ => None,
        }
    }
}

/// A token endpoint's reply (`token`, or OAuth2's `access_token`).
#[derive(Deserialize)]
pub struct TokenReply {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
}

impl TokenReply {
    pub fn into_token(self) -> Option<String> {
        self.token.or(self.access_token).filter(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                error: None,
            })
        );
        let c = Challenge::parse(
            r#"Bearer realm="http://127.0.0.1:1/t",error="insufficient_scope",scope="registry:catalog:*""#,
        );
        assert!(
            matches!(c, Some(Challenge::Bearer { error: Some(e), .. }) if e == "insufficient_scope")
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate abc"), None);
        assert_eq!(Challenge::parse("Bearer service=x"), None);
    }

    #[test]
    fn docker_config_auths() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret:with:colons");
        std::fs::write(
            &p,
            format!(
                r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{auth}"}},
                    "reg.example.com:5000": {{"username": "bob", "password": "pw"}}}}}}"#
            ),
        )
        .unwrap();
        let c = from_docker_config(&p, "docker.io").unwrap().unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.password, "s3cret:with:colons");
        let c = from_docker_config(&p, "reg.example.com:5000")
            .unwrap()
            .unwrap();
        assert_eq!(c.username, "bob");
        assert_eq!(from_docker_config(&p, "other.io").unwrap(), None);
        assert!(!format!("{c:?}").contains("pw"));
        assert_eq!(
            from_docker_config(&dir.path().join("missing.json"), "x").unwrap(),
            None
        );
        std::fs::write(&p, "{not json").unwrap();
        let err = format!("{:#}", from_docker_config(&p, "x").unwrap_err());
        assert!(
            err.contains("config.json") && err.contains("malformed"),
            "{err}"
        );
        std::fs::write(&p, r#"{"auths": {"x": {"auth": "!!"}}}"#).unwrap();
        assert!(from_docker_config(&p, "x").is_err());
    }
}
