//! Self-signed certificates (rcgen, ECDSA P-256) so that the HTTPS example and the
//! tests run on a fresh machine: `ringlb gen-cert`.

use rcgen::{CertificateParams, KeyPair};
use time::{Duration, OffsetDateTime};

use super::TlsError;

/// A certificate for `names` valid from now for `days` days: (PEM chain, PEM key).
pub fn self_signed(names: &[&str], days: i64) -> Result<(String, String), TlsError> {
    self_signed_between(names, -1, days)
}

/// A certificate valid from `from_days` to `to_days` days from now (negative: past),
/// for tests of expired and expiring certificates.
pub fn self_signed_between(
    names: &[&str],
    from_days: i64,
    to_days: i64,
) -> Result<(String, String), TlsError> {
    let invalid = |e: rcgen::Error| TlsError::Invalid {
        path: "<generated>".into(),
        message: e.to_string(),
    };
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).map_err(invalid)?;
    if let Some(first) = names.first() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, first.as_str());
    }
    let now = OffsetDateTime::now_utc();
    params.not_before = now + Duration::days(from_days);
    params.not_after = now + Duration::days(to_days);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(invalid)?;
    let cert = params.self_signed(&key).map_err(invalid)?;
    Ok((cert.pem(), key.serialize_pem()))
}
