//! Raw configuration → [`Config`](super::Config), layer 4: a frontend's
//! `proxy_protocol` and `proxy_protocol_from`, its `route`s with `sni` (TLS
//! passthrough in tcp mode) and `sni_fallback`, and `send_proxy` on backends and
//! servers.

use std::collections::HashMap;
use std::sync::Arc;

use super::raw::{Mode, RawFrontend, S};
use super::validate::Validator;
use super::{ProxyProtocolIn, ServerProto, SniRoute};
use crate::proxy_protocol::{Accept, Version};

impl Validator {
    /// `proxy_protocol` (`"v1"`, `"v2"`, `"any"`) with its required `proxy_protocol_from`.
    pub(super) fn proxy_protocol_in(
        &mut self,
        fe: &RawFrontend,
        key: &str,
    ) -> Option<Arc<ProxyProtocolIn>> {
        let Some(p) = &fe.proxy_protocol else {
            if let Some(from) = &fe.proxy_protocol_from {
                self.error(
                    from.span(),
                    format!("{key}: proxy_protocol_from is set but proxy_protocol is not"),
                );
            }
            return None;
        };
        let accept = match p.get_ref().as_str() {
            "v1" => Accept::V1,
            "v2" => Accept::V2,
            "any" => Accept::Any,
            other => {
                self.error(
                    p.span(),
                    format!("{key}: proxy_protocol {other:?} is not \"v1\", \"v2\" or \"any\""),
                );
                return None;
            }
        };
        let Some(from) = &fe.proxy_protocol_from else {
            self.error(
                p.span(),
                format!("{key}: proxy_protocol needs proxy_protocol_from: the addresses or networks (CIDR) of the proxies allowed to send the header; anyone else could claim any client address"),
            );
            return None;
        };
        if from.get_ref().is_empty() {
            self.error(
                from.span(),
                format!(
                    "{key}: proxy_protocol_from is empty: give at least one address or network"
                ),
            );
            return None;
        }
        let mut set = crate::rules::IpSetBuilder::default();
        let mut ok = true;
        for item in from.get_ref() {
            if let Err(e) = set.add_str(item.get_ref().trim()) {
                self.error(item.span(), format!("{key}: proxy_protocol_from: {e}"));
                ok = false;
            }
        }
        ok.then(|| {
            Arc::new(ProxyProtocolIn {
                accept,
                from: set.build(),
            })
        })
    }

    /// The `route`s with `sni` (tcp mode only, not with `[frontend.tls]`) and
    /// `sni_fallback` (`true`: to `default_backend`).
    pub(super) fn sni_routes(
        &mut self,
        fe: &RawFrontend,
        mode: Mode,
        key: &str,
        backends: &HashMap<&str, usize>,
    ) -> (Vec<SniRoute>, bool) {
        let mut out = Vec::new();
        for r in &fe.route {
            let Some(sni) = &r.get_ref().sni else {
                continue;
            };
            if mode == Mode::Http {
                self.error(
                    sni.span(),
                    format!("{key}: route sni is for mode \"tcp\" (TLS passthrough); in mode \"http\" route by host"),
                );
                continue;
            }
            if fe.tls.is_some() {
                self.error(
                    sni.span(),
                    format!("{key}: route sni reads the ClientHello of TLS passed through: it cannot be used with [frontend.tls] (termination)"),
                );
                continue;
            }
            let name = sni.get_ref().to_ascii_lowercase();
            let (suffix, bare) = match name.strip_prefix("*.") {
                Some(rest) => (true, rest.to_string()),
                None => (false, name.clone()),
            };
            let valid = !bare.is_empty()
                && bare.len() <= 253
                && bare
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_');
            if !valid {
                self.error(
                    sni.span(),
                    format!(
                        "{key}: route sni {:?} must be a host name or \"*.domain\"",
                        sni.get_ref()
                    ),
                );
                continue;
            }
            let b = &r.get_ref().backend;
            match backends.get(b.get_ref().as_str()) {
                Some(&backend) => out.push(SniRoute {
                    name: bare,
                    suffix,
                    backend,
                }),
                None => self.error(
                    b.span(),
                    format!(
                        "{key}: route backend {:?} is not a defined backend",
                        b.get_ref()
                    ),
                ),
            }
        }
        let fallback = match fe.sni_fallback.as_ref().map(|s| (s, s.get_ref().as_str())) {
            None | Some((_, "default")) => true,
            Some((_, "close")) => false,
            Some((s, other)) => {
                self.error(
                    s.span(),
                    format!("{key}: sni_fallback {other:?} is not \"default\" or \"close\""),
                );
                true
            }
        };
        if let Some(s) = &fe.sni_fallback {
            if out.is_empty() {
                self.warn(
                    s.span(),
                    format!(
                        "{key}: sni_fallback only applies to a frontend with route sni; ignored"
                    ),
                );
            }
        }
        (out, fallback)
    }

    /// `proto` of a server: `"h1"` (default) or `"h2"`.
    pub(super) fn server_proto(&mut self, s: Option<&S<String>>, key: &str) -> ServerProto {
        match s.map(|s| (s.get_ref().as_str(), s.span())) {
            None | Some(("h1", _)) => ServerProto::Http1,
            Some(("h2", _)) => ServerProto::H2,
            Some((other, span)) => {
                self.error(
                    span,
                    format!("{key}: proto: {other:?} is not \"h1\" or \"h2\""),
                );
                ServerProto::Http1
            }
        }
    }

    /// `send_proxy` of a server or backend: `"v1"` or `"v2"`; absent: `fallback`.
    pub(super) fn send_proxy(
        &mut self,
        s: Option<&S<String>>,
        fallback: Option<Version>,
        key: &str,
    ) -> Option<Version> {
        let Some(s) = s else {
            return fallback;
        };
        match s.get_ref().as_str() {
            "v1" => Some(Version::V1),
            "v2" => Some(Version::V2),
            "none" => None,
            other => {
                self.error(
                    s.span(),
                    format!("{key}: send_proxy {other:?} is not \"v1\", \"v2\" or \"none\""),
                );
                fallback
            }
        }
    }
}
