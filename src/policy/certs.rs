//! `ca-certificates`: a CA bundle at a path Go and OpenSSL read, parsing as
//! PEM certificates, with a sane number of CA certificates, how many are
//! expired, and no private key in it.

use super::{outcome, Context, Status};
use crate::image::spec::ImageConfig;
use crate::report::PolicyResult;
use serde_json::json;
use x509_parser::pem::Pem;

/// Where Go's crypto/x509 (and OpenSSL builds) look for the system bundle.
pub const BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/cert.pem",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
];

/// Fewer CA certificates than this is not a public CA bundle.
const FEW: usize = 10;

/// `SSL_CERT_FILE` from the image's ENV, if set.
pub fn env_bundle(config: &ImageConfig) -> Option<String> {
    config
        .config
        .env
        .iter()
        .find_map(|e| e.strip_prefix("SSL_CERT_FILE="))
        .map(super::normalize)
}

#[derive(Default)]
struct Tally {
    certs: usize,
    ca: usize,
    expired: usize,
    private_keys: usize,
    unparsable: usize,
}

fn tally(data: &[u8]) -> Tally {
    let mut t = Tally::default();
    let now = x509_parser::time::ASN1Time::now();
    for pem in Pem::iter_from_buffer(data) {
        let Ok(pem) = pem else {
            t.unparsable += 1;
            break;
        };
        if pem.label.contains("PRIVATE KEY") {
            t.private_keys += 1;
            continue;
        }
        if pem.label != "CERTIFICATE" && pem.label != "TRUSTED CERTIFICATE" {
            continue;
        }
        match pem.parse_x509() {
            Ok(cert) => {
                t.certs += 1;
                if cert.is_ca() || cert.subject() == cert.issuer() {
                    t.ca += 1;
                }
                if cert.validity().not_after < now {
                    t.expired += 1;
                }
            }
            Err(_) => t.unparsable += 1,
        }
    }
    t
}

pub fn check(ctx: &Context) -> PolicyResult {
    let env = env_bundle(ctx.config);
    let candidates: Vec<String> = env
        .iter()
        .cloned()
        .chain(BUNDLES.iter().map(|s| s.to_string()))
        .collect();
    let found = candidates.iter().find_map(|p| match ctx.fs.read(p) {
        Ok(Some(data)) => Some(Ok((p.clone(), data))),
        Ok(None) => None,
        Err(e) => Some(Err((p.clone(), e))),
    });
    let limit = json!({"paths": candidates, "min_ca_certificates": FEW});
    let (path, data) = match found {
        None => {
            return outcome(
                "ca-certificates",
                Status::Fail,
                json!(null),
                limit,
                "no CA bundle: HTTPS calls will fail (x509: certificate signed by unknown authority); COPY /etc/ssl/certs/ca-certificates.crt from the build stage",
                vec![],
            )
        }
        Some(Err((p, e))) => {
            return outcome("ca-certificates", Status::Fail, json!(p), limit, format!("{p}: cannot read: {e:#}"), vec![])
        }
        Some(Ok(found)) => found,
    };
    let t = tally(&data);
    let measured = json!({"path": path, "certificates": t.certs, "ca_certificates": t.ca, "expired": t.expired, "private_keys": t.private_keys, "unparsable": t.unparsable});
    let (status, message) = if t.private_keys > 0 {
        (
            Status::Fail,
            format!(
                "{path} holds {} private key(s): a CA bundle must hold certificates only",
                t.private_keys
            ),
        )
    } else if t.unparsable > 0 {
        (
            Status::Fail,
            format!(
                "{path} is corrupt: {} block(s) do not parse as PEM certificates",
                t.unparsable
            ),
        )
    } else if t.certs == 0 {
        (Status::Fail, format!("{path} holds no certificate"))
    } else if t.expired == t.certs {
        (
            Status::Fail,
            format!("{path}: all {} certificates have expired", t.certs),
        )
    } else if t.ca < FEW {
        (
            Status::Warn,
            format!(
                "{path}: only {} CA certificate(s) ({} expired): not a public CA bundle",
                t.ca, t.expired
            ),
        )
    } else {
        (
            Status::Pass,
            format!("{path}: {} CA certificates, {} expired", t.ca, t.expired),
        )
    };
    outcome("ca-certificates", status, measured, limit, message, vec![])
}
