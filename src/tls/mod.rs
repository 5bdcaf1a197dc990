//! TLS termination with rustls: loading and checking certificates (PEM chain + key;
//! RSA, ECDSA or Ed25519), choosing one by SNI (exact names, then wildcards, from each
//! certificate's SAN list; a default for clients without SNI or with an unknown name
//! unless `strict_sni`), and the rustls server configuration a frontend's workers use.
//! Everything here runs when a configuration is loaded (start, `check`, reload), never
//! on the request path except the SNI lookup and the streams.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | certificates: loading, checks, SNI choice; the server configuration |
//! | `client.rs` | rustls client configurations (to servers, and for checks) |
//! | `policy.rs` | versions and cipher suites allowed (`min_version`, `ciphers`) |
//! | `client_hello.rs` | the SNI of a ClientHello read without terminating TLS (passthrough routed by SNI); pure, bounded |
//! | `generate.rs` | self-signed certificates (`ringlb gen-cert`, tests) |
//! | `pipe.rs` | an in-process client stream: one HTTP/2 stream handed to the HTTP/1.1 session code |
//! | `pipe_tests.rs` | its tests |
//! | `poll.rs` | rustls driven directly over a socket in readiness mode: every byte read goes into rustls, which is touched only within a poll (so a connection's reading and writing halves can share it) |
//! | `stream.rs` | connections as sessions and checks see them: [`ClientStream`], [`ServerStream`] |
//! | `stream_handshake.rs` | their TLS handshakes, client and server side, within a timeout (a child of `stream.rs`) |

mod client;
pub mod client_hello;
mod generate;
pub mod pipe;
pub mod policy;
mod poll;
mod stream;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

pub use client::{client_config, client_config_with, insecure_verifier};
pub use generate::{self_signed, self_signed_between};
pub use policy::{MinVersion, Policy};
pub use poll::{TlsConn, TlsPoll};
pub use stream::{
    accept_tls, connect_tls, ClientStream, HandshakeError, ServerStream, TlsClient, TlsInfo,
    TlsServer,
};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}: no PEM certificate found")]
    NoCertificate(String),
    #[error("{0}: no PEM private key found (PKCS#8, PKCS#1 or SEC1)")]
    NoKey(String),
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{key} does not belong to the certificate in {cert}")]
    KeyMismatch { cert: String, key: String },
    #[error("cannot build the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("{0}")]
    Policy(String),
}

/// A certificate ready to serve, with what the configuration check reports about it.
pub struct Certificate {
    pub path: String,
    /// DNS names from the SAN list (the subject's CN when there is none), lower case.
    pub names: Vec<String>,
    /// Validity, in Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub key: Arc<CertifiedKey>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("path", &self.path)
            .field("names", &self.names)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Load a PEM chain (leaf first) and its private key, and check they belong together.
pub fn load(cert_path: &Path, key_path: &Path) -> Result<Certificate, TlsError> {
    let cert_name = cert_path.display().to_string();
    let key_name = key_path.display().to_string();
    let read = |p: &Path, name: &str| {
        std::fs::read(p).map_err(|source| TlsError::Read {
            path: name.to_string(),
            source,
        })
    };
    let cert_pem = read(cert_path, &cert_name)?;
    let key_pem = read(key_path, &key_name)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Invalid {
            path: cert_name.clone(),
            message: format!("bad PEM: {e}"),
        })?;
    let leaf = chain
        .first()
        .ok_or_else(|| TlsError::NoCertificate(cert_name.clone()))?;
    let key =
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey(key_name.clone()))?;
    let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key).map_err(|e| {
        TlsError::Invalid {
            path: key_name.clone(),
            message: format!("unsupported private key: {e}"),
        }
    })?;
    let (names, not_before, not_after) = inspect(leaf).map_err(|message| TlsError::Invalid {
        path: cert_name.clone(),
        message,
    })?;
    let certified = CertifiedKey::new(chain, signer);
    certified.keys_match().map_err(|_| TlsError::KeyMismatch {
        cert: cert_name.clone(),
        key: key_name,
    })?;
    Ok(Certificate {
        path: cert_name,
        names,
        not_before,
        not_after,
        key: Arc::new(certified),
    })
}

/// Names and validity of a DER certificate.
fn inspect(der: &CertificateDer<'_>) -> Result<(Vec<String>, i64, i64), String> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("bad certificate: {e}"))?;
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        if let Some(cn) = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|c| c.as_str().ok())
        {
            names.push(cn.to_ascii_lowercase());
        }
    }
    let v = cert.validity();
    Ok((names, v.not_before.timestamp(), v.not_after.timestamp()))
}

/// Picks the certificate for a client hello: exact SAN name, then a wildcard SAN
/// (`*.example.com` matches one label: `a.example.com`, not `a.b.example.com` nor
/// `example.com`), then the default (the first certificate), unless `strict`.
#[derive(Debug)]
pub struct SniResolver {
    certs: Vec<Arc<CertifiedKey>>,
    exact: HashMap<String, usize>,
    /// `example.com` for `*.example.com`.
    wildcard: HashMap<String, usize>,
    strict: bool,
}

impl SniResolver {
    /// Earlier certificates win when two claim the same name.
    pub fn new(certs: &[Certificate], strict: bool) -> Self {
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for (i, c) in certs.iter().enumerate() {
            for name in &c.names {
                match name.strip_prefix("*.") {
                    Some(domain) => wildcard.entry(domain.to_string()).or_insert(i),
                    None => exact.entry(name.clone()).or_insert(i),
                };
            }
        }
        SniResolver {
            certs: certs.iter().map(|c| Arc::clone(&c.key)).collect(),
            exact,
            wildcard,
            strict,
        }
    }

    /// Index of the certificate for `server_name` (already lower case, or not).
    pub fn choose(&self, server_name: Option<&str>) -> Option<usize> {
        let found = server_name.and_then(|name| {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            self.exact.get(&name).copied().or_else(|| {
                let (_, parent) = name.split_once('.')?;
                self.wildcard.get(parent).copied()
            })
        });
        match found {
            Some(i) => Some(i),
            None if self.strict => None,
            None => (!self.certs.is_empty()).then_some(0),
        }
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.choose(hello.server_name())
            .map(|i| Arc::clone(&self.certs[i]))
    }
}

/// The rustls configuration of a frontend: the versions and suites `policy` allows
/// (TLS 1.3 and 1.2, all suites by default), certificates by SNI, `alpn` offered in
/// order; session tickets unless `tickets` is false (then resumption by session id,
/// and TLS 1.3 tickets that only name a cached session).
pub fn server_config(
    certs: &[Certificate],
    alpn: &[String],
    strict_sni: bool,
    policy: &Policy,
    tickets: bool,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(policy.provider()?)
        .with_protocol_versions(policy.versions())?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver::new(certs, strict_sni)));
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    // Session resumption: rustls' default in-memory cache (per process) and tickets.
    if tickets {
        config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()?;
    }
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(dir: &Path, names: &[&str], file: &str) -> Certificate {
        let (c, k) = self_signed(names, 30).unwrap();
        let (cp, kp) = (
            dir.join(format!("{file}.pem")),
            dir.join(format!("{file}.key")),
        );
        std::fs::write(&cp, c).unwrap();
        std::fs::write(&kp, k).unwrap();
        load(&cp, &kp).unwrap()
    }

    fn dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("ringlb-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn session_tickets_can_be_turned_off() {
        let d = dir();
        let certs = vec![cert(&d, &["t.test"], "tickets")];
        let p = Policy::default();
        let on = server_config(&certs, &[], false, &p, true).unwrap();
        let off = server_config(&certs, &[], false, &p, false).unwrap();
        assert!(on.ticketer.enabled());
        assert!(!off.ticketer.enabled());
    }

    #[test]
    fn sni_exact_then_wildcard_then_default() {
        let d = dir();
        let certs = vec![
            cert(&d, &["default.test"], "a"),
            cert(&d, &["api.example.com", "*.example.com"], "b"),
            cert(&d, &["exact.example.com"], "c"),
        ];
        let r = SniResolver::new(&certs, false);
        assert_eq!(r.choose(Some("exact.example.com")), Some(2));
        assert_eq!(r.choose(Some("EXACT.example.com.")), Some(2));
        assert_eq!(r.choose(Some("www.example.com")), Some(1));
        assert_eq!(
            r.choose(Some("a.b.example.com")),
            Some(0),
            "a wildcard covers one label"
        );
        assert_eq!(r.choose(Some("example.com")), Some(0));
        assert_eq!(r.choose(None), Some(0));
        let strict = SniResolver::new(&certs, true);
        assert_eq!(strict.choose(Some("unknown.test")), None);
        assert_eq!(strict.choose(None), None);
        assert_eq!(strict.choose(Some("www.example.com")), Some(1));
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let d = dir();
        let (c1, _) = self_signed(&["one.test"], 30).unwrap();
        let (_, k2) = self_signed(&["two.test"], 30).unwrap();
        std::fs::write(d.join("m.pem"), c1).unwrap();
        std::fs::write(d.join("m.key"), k2).unwrap();
        let err = load(&d.join("m.pem"), &d.join("m.key")).unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
        let err = load(&d.join("nope.pem"), &d.join("m.key")).unwrap_err();
        assert!(err.to_string().starts_with("cannot read"), "{err}");
        std::fs::write(d.join("empty.pem"), "").unwrap();
        let err = load(&d.join("empty.pem"), &d.join("m.key")).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate(_)), "{err}");
    }

    #[test]
    fn names_and_validity_are_read() {
        let d = dir();
        let c = cert(&d, &["x.test", "*.y.test"], "v");
        assert_eq!(c.names, vec!["x.test", "*.y.test"]);
        let days = (c.not_after - c.not_before) / 86_400;
        assert!((29..=31).contains(&days), "{days}");
    }
}
