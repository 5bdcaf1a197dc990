//! `[frontend.tls]`: load every certificate (paths relative to the configuration
//! file), check that each key belongs to its certificate and that certificates are
//! within their validity, and build the frontend's rustls configuration, so that
//! `ringlb check` finds every TLS mistake before a start or a reload does.

use std::ops::Range;
use std::sync::Arc;

use super::raw::{Mode, RawServer, RawTls, S};
use super::validate::Validator;
use super::{FrontendTls, ServerTls};
use crate::tls::Certificate;

/// A certificate that expires sooner than this is warned about.
const EXPIRY_WARNING_DAYS: i64 = 14;

impl Validator {
    pub(super) fn tls(
        &mut self,
        raw: &S<RawTls>,
        mode: Mode,
        key: &str,
    ) -> Option<Arc<FrontendTls>> {
        let t = raw.get_ref();
        let key = format!("{key}: tls");
        if t.certificates.is_empty() {
            self.error(
                raw.span(),
                format!("{key}: certificates is empty: give at least one {{ cert, key }}"),
            );
            return None;
        }
        let certificates = self.certificates(t, &key);
        let alpn = self.alpn(t, mode, &key);
        if certificates.len() != t.certificates.len() {
            return None;
        }
        let strict_sni = t.strict_sni.unwrap_or(false);
        let policy = self.tls_policy(
            t.min_version.as_ref(),
            t.ciphers.as_ref(),
            &format!("{key}."),
            raw.span(),
        );
        let tickets = t.session_tickets.unwrap_or(true);
        match crate::tls::server_config(&certificates, &alpn, strict_sni, &policy, tickets) {
            Ok(server_config) => Some(Arc::new(FrontendTls {
                certificates,
                alpn,
                strict_sni,
                server_config,
            })),
            Err(e) => {
                self.error(raw.span(), format!("{key}: {e}"));
                None
            }
        }
    }

    /// Load every certificate and its key; those that fail to load are left out
    /// (after an error).
    fn certificates(&mut self, t: &RawTls, key: &str) -> Vec<Certificate> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut certificates = Vec::with_capacity(t.certificates.len());
        for (i, c) in t.certificates.iter().enumerate() {
            let entry = c.get_ref();
            let ckey = format!("{key}.certificates[{i}]");
            match crate::tls::load(&self.base.join(&entry.cert), &self.base.join(&entry.key)) {
                Ok(cert) => {
                    self.certificate_dates_and_names(&cert, c.span(), &ckey, now);
                    certificates.push(cert);
                }
                Err(e) => self.error(c.span(), format!("{ckey}: {e}")),
            }
        }
        certificates
    }

    /// Expired: an error. Expiring within [`EXPIRY_WARNING_DAYS`], not valid yet, or
    /// without a DNS name: a warning.
    fn certificate_dates_and_names(
        &mut self,
        cert: &Certificate,
        span: Range<usize>,
        ckey: &str,
        now: i64,
    ) {
        if cert.not_after < now {
            self.error(
                span.clone(),
                format!(
                    "{ckey}: {} expired {} day(s) ago",
                    cert.path,
                    (now - cert.not_after) / 86_400
                ),
            );
        } else if cert.not_after - now < EXPIRY_WARNING_DAYS * 86_400 {
            self.warn(
                span.clone(),
                format!(
                    "{ckey}: {} expires in {} day(s)",
                    cert.path,
                    (cert.not_after - now) / 86_400
                ),
            );
        }
        if cert.not_before > now {
            self.warn(
                span.clone(),
                format!("{ckey}: {} is not valid yet", cert.path),
            );
        }
        if cert.names.is_empty() {
            self.warn(
                span,
                format!(
                    "{ckey}: {} names no DNS name; it can only be the default",
                    cert.path
                ),
            );
        }
    }

    /// The ALPN protocols offered: HTTP versions in mode "http" (`http/1.1` when
    /// absent; `h2` is HTTP/2), any protocol name in mode "tcp" (none when absent).
    fn alpn(&mut self, t: &RawTls, mode: Mode, key: &str) -> Vec<String> {
        match &t.alpn {
            Some(list) => list
                .iter()
                .filter_map(|p| {
                    let name = p.get_ref();
                    let ok = match mode {
                        Mode::Http => ["h2", "http/1.1", "http/1.0"].contains(&name.as_str()),
                        Mode::Tcp => !name.is_empty() && name.len() <= 255,
                    };
                    if !ok {
                        let why = match mode {
                            Mode::Http => {
                                "mode \"http\" speaks \"h2\", \"http/1.1\" and \"http/1.0\" only"
                            }
                            Mode::Tcp => "a protocol name is 1 to 255 bytes",
                        };
                        self.error(p.span(), format!("{key}.alpn {name:?}: {why}"));
                    }
                    ok.then(|| name.clone())
                })
                .collect(),
            None if mode == Mode::Http => vec!["http/1.1".to_string()],
            None => Vec::new(),
        }
    }

    /// `tls = true` on a server: the client configuration (CA file unless
    /// `verify = false`) and the name to send as SNI and verify.
    pub(super) fn server_tls(&mut self, s: &RawServer, key: &str) -> Option<Arc<ServerTls>> {
        let Some(on) = s.tls.as_ref().filter(|t| *t.get_ref()) else {
            if let Some(span) = s.tls_min_version.as_ref().map(|m| m.span()).or_else(|| {
                s.tls_ciphers
                    .as_ref()
                    .and_then(|c| c.first())
                    .map(|c| c.span())
            }) {
                self.warn(
                    span,
                    format!("{key}: tls_min_version/tls_ciphers without tls = true change nothing"),
                );
            }
            return None;
        };
        let verify = s.verify.unwrap_or(true);
        let host = s
            .sni
            .as_ref()
            .map(|n| n.get_ref().clone())
            .unwrap_or_else(|| {
                let text = s.address.get_ref();
                text.rsplit_once(':')
                    .map_or(text.as_str(), |(h, _)| h)
                    .trim_matches(['[', ']'])
                    .to_string()
            });
        let server_name = match rustls::pki_types::ServerName::try_from(host.clone()) {
            Ok(n) => n,
            Err(_) => {
                let span = s.sni.as_ref().map_or(on.span(), |n| n.span());
                self.error(
                    span,
                    format!("{key}: sni {host:?} is not a valid DNS name or IP address"),
                );
                return None;
            }
        };
        let ca = match (&s.ca_file, verify) {
            (Some(f), _) => Some((self.base.join(f.get_ref()), f.span())),
            (None, true) => {
                self.error(on.span(), format!("{key}: tls = true needs ca_file (the CA that signed the server's certificate), or verify = false"));
                return None;
            }
            (None, false) => None,
        };
        if !verify {
            self.warn(
                on.span(),
                format!("{key}: verify = false: the server's certificate is not checked"),
            );
        }
        let ca_path = ca.as_ref().map(|(p, _)| p.as_path());
        let policy = self.tls_policy(
            s.tls_min_version.as_ref(),
            s.tls_ciphers.as_ref(),
            &format!("{key}: tls_"),
            on.span(),
        );
        let tickets = s.tls_session_tickets.unwrap_or(true);
        match crate::tls::client_config_with(ca_path, verify, &policy, tickets) {
            Ok(client_config) => Some(Arc::new(ServerTls {
                client_config,
                server_name,
                verify,
            })),
            Err(e) => {
                let span = ca.map_or(on.span(), |(_, span)| span);
                self.error(span, format!("{key}: ca_file: {e}"));
                None
            }
        }
    }
}
