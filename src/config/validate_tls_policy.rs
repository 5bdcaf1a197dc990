//! `min_version`, `ciphers` (of `[frontend.tls]`, and `tls_min_version`,
//! `tls_ciphers` of a server): the TLS versions and suites offered, checked against
//! what rustls has, each mistake at its own line.

use std::ops::Range;

use super::raw::S;
use super::validate::Validator;
use crate::tls::{MinVersion, Policy};

impl Validator {
    /// The policy written, or rustls' defaults where a key is absent or wrong (after
    /// an error naming `key`).
    pub(super) fn tls_policy(
        &mut self,
        min: Option<&S<String>>,
        ciphers: Option<&Vec<S<String>>>,
        key: &str,
        span: Range<usize>,
    ) -> Policy {
        let mut policy = Policy::default();
        if let Some(m) = min {
            match MinVersion::parse(m.get_ref()) {
                Some(v) => policy.min_version = v,
                None => self.error(
                    m.span(),
                    format!(
                        "{key}min_version {:?} is not \"1.2\" or \"1.3\"",
                        m.get_ref()
                    ),
                ),
            }
        }
        let known = crate::tls::policy::suite_names();
        for c in ciphers.into_iter().flatten() {
            let name = c.get_ref();
            match known.iter().find(|k| k.eq_ignore_ascii_case(name)) {
                Some(k) => policy.ciphers.push(k.clone()),
                None => self.error(
                    c.span(),
                    format!(
                        "{key}ciphers: {name:?} is not a cipher suite rustls offers ({})",
                        known.join(", ")
                    ),
                ),
            }
        }
        if ciphers.is_some_and(|c| c.is_empty()) {
            self.error(
                span.clone(),
                format!("{key}ciphers is empty: leave it out for rustls' defaults"),
            );
        }
        if let Err(e) = policy.provider() {
            if !policy.ciphers.is_empty() {
                self.error(span, format!("{key}ciphers: {e}"));
            }
            policy.ciphers.clear();
        }
        policy
    }
}
