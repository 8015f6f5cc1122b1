//! A small blocking client for the OCI distribution API: manifests, blobs,
//! the catalog and tag lists, with authentication, retries and timeouts.
//!
//! Why ureq (3.x, rustls, no default features) and not a registry crate:
//! - It is blocking. The audit pipeline is rayon threads reading `impl Read`
//!   streams; a blocking HTTP body is exactly that, so a layer streams from
//!   the socket through the decompressor into the scanner with no copy to
//!   disk and no async runtime to start, bridge or keep off the rayon pool.
//!   oci-client (the well-kept registry crate) is async on tokio and reqwest
//!   and hands out blobs as async streams: it would bring a runtime, hyper,
//!   tower and dozens of crates for five GET endpoints.
//! - It is small and well kept: about twenty crates with rustls and the ring
//!   provider (no OpenSSL, so the static glibc build of the self-audit and
//!   its FROM scratch image keep working, with Mozilla's roots compiled in),
//!   an active maintainer, regular releases, and it honours HTTPS_PROXY and
//!   NO_PROXY.
//! - It gives what a registry client needs and no more: per-phase and
//!   per-read timeouts (a stalled layer download fails instead of hanging,
//!   a slow but moving one is never cut off), redirects that drop the
//!   Authorization header (blob downloads are redirected to object stores),
//!   and status codes as values so 401 challenges, 404s and 429/5xx retries
//!   are handled here. gzip transfer decoding is off: blobs must reach the
//!   digest check byte for byte.
//!
//! The distribution protocol itself (bearer-token challenges, `Link`
//! pagination, manifest media types) is a few hundred lines here, tested
//! against the distribution registry itself in tests/registry.rs.

use super::auth::{Challenge, Credentials, TokenReply};
use super::reference::Host;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use ureq::http::Response;
use ureq::Body;

/// How to reach registries; shared by every client of a run.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Credentials from the command line, for every registry of the run.
    pub credentials: Option<Credentials>,
    /// Hosts spoken to over plain HTTP (`--insecure-registry`); loopback
    /// hosts always are.
    pub insecure: Vec<Host>,
    /// Connect, response and per-read timeout.
    pub timeout: Duration,
    /// Retries of a request that failed with 429, 5xx or a dropped connection.
    pub retries: u32,
    /// First retry delay; doubled for each further retry (at most 30 s).
    pub backoff: Duration,
    /// docker's config.json, where credentials for a host are looked up.
    pub docker_config: Option<std::path::PathBuf>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            credentials: None,
            insecure: vec![],
            timeout: Duration::from_secs(60),
            retries: 4,
            backoff: Duration::from_millis(500),
            docker_config: super::auth::docker_config_path(),
        }
    }
}

enum Scheme {
    /// No challenge seen yet: requests go out anonymous.
    Unknown,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

struct AuthState {
    scheme: Scheme,
    /// Bearer tokens by scope (`repository:team/app:pull`).
    tokens: HashMap<String, String>,
}

/// One registry host.
pub struct Client {
    agent: ureq::Agent,
    pub host: Host,
    base: String,
    creds: Option<Credentials>,
    state: Mutex<AuthState>,
    retries: u32,
    backoff: Duration,
}

/// The scope a request needs from a token service.
pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

pub const CATALOG_SCOPE: &str = "registry:catalog:*";

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Whether a failed request is worth another try: timeouts and dropped
/// connections are; an unknown host or a refused connection is not.
fn transient(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed => true,
        ureq::Error::Io(io) => !matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
        ),
        _ => false,
    }
}

/// The one-line message of a distribution error body
/// (`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`).
pub fn error_text(resp: &mut Response<Body>) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_vec()
        .unwrap_or_default();
    match serde_json::from_slice::<Errors>(&body) {
        Ok(e) if !e.errors.is_empty() => e
            .errors
            .iter()
            .map(|i| format!("{} {}", i.code, i.message).trim().to_string())
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::new(),
    }
}

impl Client {
    pub fn new(host: &Host, opts: &ClientOptions) -> Result<Client> {
        let plain = host.is_loopback() || opts.insecure.contains(host);
        let base = format!(
            "{}://{}",
            if plain { "http" } else { "https" },
            host.api_host()
        );
        let creds = match &opts.credentials {
            Some(c) => Some(c.clone()),
            None => match &opts.docker_config {
                Some(path) => super::auth::from_docker_config(path, &host.0)?,
                None => None,
            },
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(opts.timeout))
            .timeout_recv_response(Some(opts.timeout))
            .timeout_per_read(Some(opts.timeout))
            .accept_encoding("identity")
            .user_agent(concat!("stowaway/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(Client {
            agent,
            host: host.clone(),
            base,
            creds,
            state: Mutex::new(AuthState {
                scheme: Scheme::Unknown,
                tokens: HashMap::new(),
            }),
            retries: opts.retries,
            backoff: opts.backoff,
        })
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// The `Authorization` header for a request in `scope`, and whether a
    /// token was fetched for it just now. Once a registry has asked for
    /// bearer tokens, a token for a new scope is fetched before the request
    /// rather than after its 401.
    fn authorization(&self, scope: &str) -> Result<(Option<String>, bool)> {
        let (realm, service) = {
            let state = self.state.lock().expect("auth state");
            match &state.scheme {
                Scheme::Unknown => return Ok((None, false)),
                Scheme::Basic => return Ok((self.creds.as_ref().map(Credentials::basic), false)),
                Scheme::Bearer { realm, service } => match state.tokens.get(scope) {
                    Some(t) => return Ok((Some(format!("Bearer {t}")), false)),
                    None => (realm.clone(), service.clone()),
                },
            }
        };
        let token = self.token(&realm, service.as_deref(), scope)?;
        let header = format!("Bearer {token}");
        self.state
            .lock()
            .expect("auth state")
            .tokens
            .insert(scope.to_string(), token);
        Ok((Some(header), true))
    }

    fn wait(&self, attempt: u32, retry_after: Option<String>) {
        let backoff = self.backoff.saturating_mul(1 << attempt.min(6));
        let asked = retry_after
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        std::thread::sleep(asked.unwrap_or(backoff).min(Duration::from_secs(30)));
    }

    fn login_hint(&self) -> String {
        format!(
            "give --registry-user with STOWAWAY_REGISTRY_PASSWORD, or `docker login {}`",
            self.host
        )
    }

    /// GET with authentication and retries. Any status but 401 is returned
    /// for the caller to judge; a 401 that credentials cannot fix is an error.
    pub fn get(&self, path: &str, scope: &str, accept: Option<&str>) -> Result<Response<Body>> {
        let url = self.url(path);
        let mut attempt = 0;
        let mut fresh_token = false;
        loop {
            let (auth, fetched) = self.authorization(scope)?;
            fresh_token |= fetched;
            let mut req = self.agent.get(&url);
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            if let Some(a) = &auth {
                req = req.header("Authorization", a);
            }
            let resp = match req.call() {
                Ok(r) => r,
                Err(e) if attempt < self.retries && transient(&e) => {
                    self.wait(attempt, None);
                    attempt += 1;
                    continue;
                }
                Err(e) => {
                    return Err(anyhow!("registry {}: {e}", self.host))
                        .context(format!("GET {url}"))
                }
            };
            let status = resp.status().as_u16();
            if status == 401 {
                let challenge = resp
                    .headers()
                    .get_all("www-authenticate")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(Challenge::parse);
                match challenge {
                    Some(Challenge::Basic) => {
                        let Some(c) = &self.creds else {
                            bail!(
                                "authentication required (401): no credentials for {} ({})",
                                self.host,
                                self.login_hint()
                            );
                        };
                        if auth.is_some() {
                            bail!(
                                "authentication failed (401): {} refused the credentials of user {:?}",
                                self.host,
                                c.username
                            );
                        }
                        self.state.lock().expect("auth state").scheme = Scheme::Basic;
                    }
                    Some(Challenge::Bearer {
                        realm,
                        service,
                        error,
                    }) => {
                        if fresh_token {
                            let why = error.map(|e| format!(" ({e})")).unwrap_or_default();
                            match &self.creds {
                                None => bail!(
                                    "authentication required (401): anonymous access to {scope} \
                                     is denied{why} ({})",
                                    self.login_hint()
                                ),
                                Some(c) => bail!(
                                    "access denied (401): user {:?} has no access to {scope}{why}",
                                    c.username
                                ),
                            }
                        }
                        let token = self.token(&realm, service.as_deref(), scope)?;
                        let mut state = self.state.lock().expect("auth state");
                        state.scheme = Scheme::Bearer { realm, service };
                        state.tokens.insert(scope.to_string(), token);
                        fresh_token = true;
                    }
                    None => bail!(
                        "authentication required (401): {} asks for an authentication scheme \
                         stowaway does not speak",
                        self.host
                    ),
                }
                continue;
            }
            let retry = status == 429 || (500..600).contains(&status) && status != 501;
            if retry && attempt < self.retries {
                self.wait(attempt, header(&resp, "retry-after"));
                attempt += 1;
                continue;
            }
            return Ok(resp);
        }
    }

    /// Asks a token service for a bearer token for `scope`.
    fn token(&self, realm: &str, service: Option<&str>, scope: &str) -> Result<String> {
        let mut url = format!("{realm}?scope={}", encode(scope));
        if let Some(s) = service {
            url.push_str(&format!("&service={}", encode(s)));
        }
        let mut attempt = 0;
        loop {
            let mut req = self.agent.get(&url);
            if let Some(c) = &self.creds {
                req = req.header("Authorization", c.basic());
            }
            let mut resp = match req.call() {
                Ok(r) => r,
                Err(e) if attempt < self.retries && transient(&e) => {
                    self.wait(attempt, None);
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(anyhow!("token service {realm}: {e}")),
            };
            let status = resp.status().as_u16();
            if (status == 429 || status >= 500) && attempt < self.retries {
                self.wait(attempt, header(&resp, "retry-after"));
                attempt += 1;
                continue;
            }
            match (status, &self.creds) {
                (200, _) => {}
                (401 | 403, None) => bail!(
                    "authentication required ({status}): the token service {realm} wants \
                     credentials for {} ({})",
                    self.host,
                    self.login_hint()
                ),
                (401 | 403, Some(c)) => bail!(
                    "authentication failed ({status}): the token service {realm} refused the \
                     credentials of user {:?}",
                    c.username
                ),
                _ => bail!(
                    "token service {realm}: HTTP {status} {}",
                    error_text(&mut resp)
                ),
            }
            let body = resp
                .body_mut()
                .with_config()
                .limit(1 << 20)
                .read_to_vec()
                .with_context(|| format!("token service {realm}: read failed"))?;
            let reply: TokenReply = serde_json::from_slice(&body)
                .with_context(|| format!("token service {realm}: malformed reply"))?;
            return reply
                .into_token()
                .with_context(|| format!("token service {realm}: the reply holds no token"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// Serves the canned responses in order, one per connection; returns the
    /// port and the request heads it saw.
    fn serve(responses: Vec<String>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        serve_on(TcpListener::bind("127.0.0.1:0").unwrap(), responses)
    }

    fn serve_on(
        listener: TcpListener,
        responses: Vec<String>,
    ) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for resp in responses {
                let (mut stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                    head.push_str(&line);
                }
                seen.push(head);
                stream.write_all(resp.as_bytes()).unwrap();
            }
            seen
        });
        (port, handle)
    }

    fn reply(status: &str, headers: &[&str], body: &str) -> String {
        let mut s = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
        for h in headers {
            s.push_str(h);
            s.push_str("\r\n");
        }
        s.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        s
    }

    fn client(port: u16, creds: Option<Credentials>) -> Client {
        let opts = ClientOptions {
            credentials: creds,
            backoff: Duration::from_millis(10),
            docker_config: None,
            ..ClientOptions::default()
        };
        Client::new(&Host(format!("127.0.0.1:{port}")), &opts).unwrap()
    }

    #[test]
    fn retries_429_and_5xx_then_succeeds() {
        let (port, seen) = serve(vec![
            reply("503 Service Unavailable", &[], ""),
            reply("429 Too Many Requests", &["Retry-After: 0"], ""),
            reply("200 OK", &[], "{}"),
        ]);
        let resp = client(port, None).get("/v2/", "", None).unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(seen.join().unwrap().len(), 3);
    }

    #[test]
    fn gives_up_after_the_retries() {
        let (port, _seen) = serve(vec![reply("502 Bad Gateway", &[], ""); 5]);
        let resp = client(port, None).get("/v2/", "", None).unwrap();
        assert_eq!(resp.status().as_u16(), 502);
    }

    #[test]
    fn bearer_challenge_fetches_a_token_with_the_credentials() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let challenge = format!(
            "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"reg\",scope=\"repository:a:pull\""
        );
        let (_, seen) = serve_on(
            listener,
            vec![
                reply("401 Unauthorized", &[&challenge], ""),
                reply("200 OK", &[], r#"{"token":"tok123"}"#),
                reply("200 OK", &[], "ok"),
            ],
        );
        let creds = Credentials {
            username: "u".into(),
            password: "p".into(),
        };
        let c = client(port, Some(creds.clone()));
        let resp = c.get("/v2/a/tags/list", &pull_scope("a"), None).unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let seen = seen.join().unwrap();
        assert!(seen[1].starts_with("GET /token?scope=repository%3Aa%3Apull&service=reg "));
        assert!(seen[1].contains(&creds.basic()), "{}", seen[1]);
        assert!(
            seen[2].contains("authorization: Bearer tok123"),
            "{}",
            seen[2]
        );
    }

    #[test]
    fn basic_challenge_without_credentials_is_one_clear_error() {
        let (port, _seen) = serve(vec![reply(
            "401 Unauthorized",
            &["WWW-Authenticate: Basic realm=\"r\""],
            "",
        )]);
        let err = format!(
            "{:#}",
            client(port, None).get("/v2/", "", None).unwrap_err()
        );
        assert!(err.starts_with("authentication required (401): no credentials for 127.0.0.1:"));
        assert!(err.contains("--registry-user"), "{err}");
    }
}
