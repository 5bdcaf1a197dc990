//! TLS to servers: the rustls client configuration of a server with `tls = true`,
//! trusting the certificates of its `ca_file`, or, with `verify = false`, any
//! certificate (the handshake signatures are still checked; the identity is not).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::{Policy, TlsError};

pub fn client_config(ca_file: Option<&Path>, verify: bool) -> Result<Arc<ClientConfig>, TlsError> {
    client_config_with(ca_file, verify, &Policy::default(), true)
}

/// [`client_config`] with the versions and suites `policy` allows; without
/// `tickets`, TLS 1.2 sessions resume by session id only (no RFC 5077 tickets).
pub fn client_config_with(
    ca_file: Option<&Path>,
    verify: bool,
    policy: &Policy,
    tickets: bool,
) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(policy.provider()?)
        .with_protocol_versions(policy.versions())?;
    let mut config = if verify {
        let mut roots = RootCertStore::empty();
        if let Some(path) = ca_file {
            let name = path.display().to_string();
            let pem = std::fs::read(path).map_err(|source| TlsError::Read {
                path: name.clone(),
                source,
            })?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| TlsError::Invalid {
                    path: name.clone(),
                    message: format!("bad PEM: {e}"),
                })?;
                roots.add(cert).map_err(|e| TlsError::Invalid {
                    path: name.clone(),
                    message: format!("not a usable CA certificate: {e}"),
                })?;
            }
            if roots.is_empty() {
                return Err(TlsError::NoCertificate(name));
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(insecure_verifier())
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if !tickets {
        config.resumption = rustls::client::Resumption::default()
            .tls12_resumption(rustls::client::Tls12Resumption::SessionIdOnly);
    }
    Ok(Arc::new(config))
}

/// A verifier that accepts any certificate (handshake signatures are still checked):
/// `verify = false`, and test clients that look at which certificate they got.
pub fn insecure_verifier() -> Arc<dyn ServerCertVerifier> {
    Arc::new(AnyCertificate(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    )))
}

/// `verify = false`: any certificate is accepted; signatures must still be valid.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
