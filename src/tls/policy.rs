//! Which TLS versions and cipher suites a frontend or a server connection allows
//! (`min_version`, `ciphers`), by rustls' names: a filtered crypto provider and the
//! protocol versions to build a rustls configuration with. Load time only.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::SupportedProtocolVersion;

use super::TlsError;

/// The lowest TLS version offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MinVersion {
    /// TLS 1.2 and 1.3 (rustls offers nothing older).
    #[default]
    Tls12,
    /// TLS 1.3 alone.
    Tls13,
}

impl MinVersion {
    /// `"1.2"` or `"1.3"` (also as HAProxy spells them, `"TLSv1.2"`).
    pub fn parse(s: &str) -> Option<MinVersion> {
        match s.trim_start_matches("TLSv") {
            "1.2" => Some(MinVersion::Tls12),
            "1.3" => Some(MinVersion::Tls13),
            _ => None,
        }
    }
}

/// What a configuration asks of TLS beyond certificates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub min_version: MinVersion,
    /// rustls suite names, in order of preference; empty: rustls' defaults.
    pub ciphers: Vec<String>,
}

/// Every suite name rustls offers here, TLS 1.3 ones first.
pub fn suite_names() -> Vec<String> {
    rustls::crypto::aws_lc_rs::default_provider()
        .cipher_suites
        .iter()
        .map(|s| format!("{:?}", s.suite()))
        .collect()
}

impl Policy {
    /// The protocol versions to offer.
    pub fn versions(&self) -> &'static [&'static SupportedProtocolVersion] {
        static BOTH: [&SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        static TLS13: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self.min_version {
            MinVersion::Tls12 => &BOTH,
            MinVersion::Tls13 => &TLS13,
        }
    }

    /// rustls' provider with only `ciphers` (in that order), or all its suites.
    pub fn provider(&self) -> Result<Arc<CryptoProvider>, TlsError> {
        let mut p = rustls::crypto::aws_lc_rs::default_provider();
        if self.ciphers.is_empty() {
            return Ok(Arc::new(p));
        }
        let all = std::mem::take(&mut p.cipher_suites);
        for name in &self.ciphers {
            let suite = all
                .iter()
                .find(|s| format!("{:?}", s.suite()).eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    TlsError::Policy(format!(
                        "cipher suite {name:?} is not one rustls offers ({})",
                        suite_names().join(", ")
                    ))
                })?;
            if !p.cipher_suites.iter().any(|s| s.suite() == suite.suite()) {
                p.cipher_suites.push(*suite);
            }
        }
        let usable =
            |v: &SupportedProtocolVersion| p.cipher_suites.iter().any(|s| s.version() == v);
        if !self.versions().iter().any(|v| usable(v)) {
            return Err(TlsError::Policy(
                "no cipher suite of ciphers is of a TLS version min_version allows".into(),
            ));
        }
        Ok(Arc::new(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_names() {
        assert_eq!(MinVersion::parse("1.3"), Some(MinVersion::Tls13));
        assert_eq!(MinVersion::parse("TLSv1.2"), Some(MinVersion::Tls12));
        assert_eq!(MinVersion::parse("1.1"), None);
        let names = suite_names();
        assert!(
            names.contains(&"TLS13_AES_128_GCM_SHA256".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".to_string()),
            "{names:?}"
        );
        let p = Policy {
            min_version: MinVersion::Tls13,
            ..Policy::default()
        };
        assert_eq!(p.versions().len(), 1);
    }

    #[test]
    fn ciphers_filter_and_order_the_provider() {
        let p = Policy {
            min_version: MinVersion::Tls12,
            ciphers: vec![
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".into(),
                "tls13_aes_128_gcm_sha256".into(),
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".into(),
            ],
        };
        let got: Vec<String> = p
            .provider()
            .unwrap()
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(
            got,
            [
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS13_AES_128_GCM_SHA256"
            ]
        );
        let unknown = Policy {
            ciphers: vec!["DHE-RSA-AES128-SHA".into()],
            ..Policy::default()
        };
        let e = unknown.provider().unwrap_err().to_string();
        assert!(
            e.contains("DHE-RSA-AES128-SHA") && e.contains("TLS13_AES_256_GCM_SHA384"),
            "{e}"
        );
        // TLS 1.3 only, with TLS 1.2 suites only: nothing could be negotiated.
        let none = Policy {
            min_version: MinVersion::Tls13,
            ciphers: vec!["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into()],
        };
        assert!(none.provider().is_err());
    }
}
