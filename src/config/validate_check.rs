//! `[backend.check]` → [`HealthCheck`], and what it says of servers
//! ([`BackendProbe`], resolved per server in `validate_probe.rs`). Every bad value is
//! an error naming its line: a bad regex, a step with two actions, port 0.

use std::sync::Arc;
use std::time::Duration;

use super::check::CHECK_INTERVAL;
use super::raw::{RawCheck, RawStatus, RawStatusItem, RawStep, S};
use super::validate::Validator;
use super::{CheckKind, HealthCheck, StatusSet, Step};

/// Most steps in a scripted check.
const MAX_STEPS: usize = 32;
/// Longest `send`, `expect`, `agent_send`, header or `expect_body`.
const MAX_TEXT: usize = 4096;
/// Longest `grpc_service` (a fully qualified gRPC service name).
const MAX_SERVICE: usize = 1024;

/// What `[backend.check]` says about servers, for [`Validator::server_probe`].
#[derive(Default)]
pub(super) struct BackendProbe {
    pub(super) port: Option<u16>,
    pub(super) addr: Option<(String, std::ops::Range<usize>)>,
    pub(super) tls: Option<bool>,
    pub(super) sni: Option<String>,
    pub(super) verify: bool,
    pub(super) ca_file: Option<S<String>>,
    /// The check's client configuration, once built (`None` inside: it failed).
    pub(super) client: Option<Option<Arc<rustls::ClientConfig>>>,
    pub(super) agent_port: Option<u16>,
    pub(super) agent_addr: Option<String>,
    pub(super) agent_send: Option<String>,
    pub(super) agent_interval: Option<Duration>,
    /// Spans of the backend's agent keys, warned about when no server has an agent.
    pub(super) agent_spans: Vec<std::ops::Range<usize>>,
    pub(super) tls_span: std::ops::Range<usize>,
    /// The check's `timeout`, also the agent's (HAProxy's `timeout check`).
    pub(super) timeout: Duration,
}

impl Validator {
    pub(super) fn check(
        &mut self,
        raw: Option<&S<RawCheck>>,
        key: &str,
    ) -> (HealthCheck, BackendProbe) {
        let key = format!("{key}: check");
        let Some(raw) = raw else {
            let probe = BackendProbe {
                timeout: HealthCheck::default().timeout,
                ..BackendProbe::default()
            };
            return (HealthCheck::default(), probe);
        };
        let c = raw.get_ref();
        let kind = c.kind.unwrap_or(CheckKind::Tcp);
        let path = match &c.path {
            Some(p)
                if !p.get_ref().starts_with('/')
                    || p.get_ref()
                        .chars()
                        .any(|ch| ch.is_ascii_control() || ch == ' ') =>
            {
                self.error(p.span(), format!("{key}.path {:?} must start with '/' and contain no spaces or control characters", p.get_ref()));
                "/".into()
            }
            Some(p) => p.get_ref().clone(),
            None => "/".into(),
        };
        let interval = self.nonzero_duration(
            c.interval.as_ref(),
            CHECK_INTERVAL,
            &format!("{key}.interval"),
        );
        let mut check = HealthCheck {
            kind,
            path,
            expect_status: self.status_set(c.expect_status.as_ref(), &key),
            interval,
            fast_interval: self.nonzero_duration(
                c.fast_interval.as_ref(),
                interval,
                &format!("{key}.fast_interval"),
            ),
            down_interval: self.nonzero_duration(
                c.down_interval.as_ref(),
                interval,
                &format!("{key}.down_interval"),
            ),
            timeout: self.nonzero_duration(c.timeout.as_ref(), interval, &format!("{key}.timeout")),
            rise: self.int_in(c.rise.as_ref(), 2, 1..=100, &format!("{key}.rise")) as u32,
            fall: self.int_in(c.fall.as_ref(), 3, 1..=100, &format!("{key}.fall")) as u32,
            ..HealthCheck::default()
        };
        self.http_keys(c, &mut check, &key);
        self.h2_keys(c, &mut check, &key);
        check.steps = self.steps(&c.step, kind, &key);
        let mut probe = self.backend_probe(c, raw.span(), &key);
        probe.timeout = check.timeout;
        (check, probe)
    }

    /// `expect_status`: an integer, a string of statuses and ranges, or a list.
    fn status_set(&mut self, raw: Option<&S<RawStatus>>, key: &str) -> StatusSet {
        let Some(raw) = raw else {
            return StatusSet::default();
        };
        let item = |i: &RawStatusItem| match i {
            RawStatusItem::Int(n) => StatusSet::parse(&n.to_string()),
            RawStatusItem::Text(t) => StatusSet::parse(t),
        };
        let parsed = match raw.get_ref() {
            RawStatus::Int(n) => StatusSet::parse(&n.to_string()),
            RawStatus::Text(t) => StatusSet::parse(t),
            RawStatus::List(l) if l.is_empty() => Err("the list is empty".into()),
            RawStatus::List(l) => l
                .iter()
                .map(item)
                .collect::<Result<Vec<_>, _>>()
                .map(StatusSet::join),
        };
        parsed.unwrap_or_else(|e| {
            self.error(raw.span(), format!("{key}.expect_status: {e} (write 200, \"200-399\", \"200,204\" or a list of them)"));
            StatusSet::default()
        })
    }

    /// `method`, `host`, `headers`, `expect_body`: http checks only (`host` also
    /// grpc checks', as their `:authority`).
    fn http_keys(&mut self, c: &RawCheck, check: &mut HealthCheck, key: &str) {
        let http = check.kind == CheckKind::Http;
        let ignored = |v: &mut Validator, span: std::ops::Range<usize>, name: &str| {
            if !http {
                v.warn(
                    span,
                    format!("{key}.{name} only applies to kind = \"http\"; ignored"),
                );
            }
        };
        if let Some(p) = &c.path {
            ignored(self, p.span(), "path");
        }
        if let Some(s) = &c.expect_status {
            ignored(self, s.span(), "expect_status");
        }
        if let Some(m) = &c.method {
            ignored(self, m.span(), "method");
            let t = m.get_ref();
            if t.is_empty() || t.len() > 16 || !t.bytes().all(is_tchar) {
                self.error(m.span(), format!("{key}.method {t:?} is not an HTTP method (1 to 16 token characters, e.g. \"GET\", \"HEAD\", \"OPTIONS\")"));
            } else {
                check.method = t.clone();
            }
        }
        if let Some(h) = &c.host {
            if check.kind == CheckKind::Tcp {
                self.warn(
                    h.span(),
                    format!("{key}.host only applies to kind = \"http\" or \"grpc\"; ignored"),
                );
            }
            let t = h.get_ref();
            if t.is_empty() || t.len() > 255 || t.bytes().any(|b| b <= b' ' || b == 0x7f) {
                self.error(h.span(), format!("{key}.host {t:?} must be 1 to 255 characters without spaces or control characters"));
            } else if check.kind == CheckKind::Grpc
                && http_types::uri::Authority::try_from(t.as_str()).is_err()
            {
                self.error(
                    h.span(),
                    format!("{key}.host {t:?} is not an HTTP/2 :authority (host or host:port)"),
                );
            } else {
                check.host = Some(t.clone());
            }
        }
        for h in c.headers.iter().flatten() {
            ignored(self, h.span(), "headers");
            match parse_header(h.get_ref()) {
                Ok(pair) => check.headers.push(pair),
                Err(e) => self.error(h.span(), format!("{key}.headers {:?}: {e}", h.get_ref())),
            }
        }
        if let Some(b) = &c.expect_body {
            ignored(self, b.span(), "expect_body");
            if b.get_ref().is_empty() || b.get_ref().len() > MAX_TEXT {
                self.error(
                    b.span(),
                    format!("{key}.expect_body must be 1 to {MAX_TEXT} bytes"),
                );
            } else if check.method.eq_ignore_ascii_case("HEAD") {
                self.error(
                    b.span(),
                    format!("{key}.expect_body: a HEAD response has no body"),
                );
            } else {
                check.expect_body = Some(b.get_ref().clone());
            }
        }
    }

    /// `grpc_service` (grpc checks only, the `service` of the request) and `proto`
    /// (`"h2"`: an http check over HTTP/2; grpc checks always are).
    fn h2_keys(&mut self, c: &RawCheck, check: &mut HealthCheck, key: &str) {
        if let Some(s) = &c.grpc_service {
            let t = s.get_ref();
            if check.kind != CheckKind::Grpc {
                self.error(
                    s.span(),
                    format!("{key}.grpc_service needs kind = \"grpc\" (the service a gRPC health check asks about)"),
                );
            } else if t.len() > MAX_SERVICE || t.chars().any(|ch| ch.is_control()) {
                self.error(s.span(), format!("{key}.grpc_service must be at most {MAX_SERVICE} bytes without control characters (e.g. \"mypackage.MyService\", or \"\" for the whole server)"));
            } else {
                check.grpc_service = t.clone();
            }
        }
        let Some(p) = &c.proto else { return };
        match (p.get_ref().as_str(), check.kind) {
            ("h1", CheckKind::Http) => {}
            ("h2", CheckKind::Http) => check.h2 = true,
            ("h2", CheckKind::Grpc) => {}
            ("h1" | "h2", _) => self.error(
                p.span(),
                format!("{key}.proto applies to kind = \"http\" (a grpc check always speaks h2)"),
            ),
            (other, _) => self.error(
                p.span(),
                format!("{key}.proto {other:?}: write \"h1\" or \"h2\""),
            ),
        }
        let forbidden = ["te", "keep-alive", "proxy-connection", "upgrade"];
        let h2_only = check
            .headers
            .iter()
            .find(|(n, _)| forbidden.iter().any(|f| n.eq_ignore_ascii_case(f)));
        if let (true, Some((name, _))) = (check.h2, h2_only) {
            self.error(p.span(), format!("{key}.headers: {name} is connection-specific, refused over HTTP/2 (RFC 9113 §8.2.2)"));
        }
    }

    /// `[[backend.check.step]]`: each exactly one of `send`, `expect`, `expect_regex`.
    fn steps(&mut self, raw: &[S<RawStep>], kind: CheckKind, key: &str) -> Vec<Step> {
        if let (Some(first), CheckKind::Http | CheckKind::Grpc) = (raw.first(), kind) {
            self.error(first.span(), format!("{key}.step: steps are a tcp check's script; kind = \"http\" and \"grpc\" send their own request"));
            return Vec::new();
        }
        if raw.len() > MAX_STEPS {
            self.error(
                raw[MAX_STEPS].span(),
                format!("{key}.step: at most {MAX_STEPS} steps"),
            );
            return Vec::new();
        }
        let mut out = Vec::with_capacity(raw.len());
        for (i, s) in raw.iter().enumerate() {
            let k = format!("{key}.step[{}]", i + 1);
            let st = s.get_ref();
            let given = [
                st.send.is_some(),
                st.expect.is_some(),
                st.expect_regex.is_some(),
            ];
            if given.iter().filter(|g| **g).count() != 1 {
                self.error(s.span(), format!("{k}: give exactly one of send, expect, expect_regex (one action per step; a send and its answer are two steps)"));
                continue;
            }
            let text = st
                .send
                .as_ref()
                .or(st.expect.as_ref())
                .or(st.expect_regex.as_ref());
            let Some(text) = text else { continue };
            let t = text.get_ref();
            if t.is_empty() || t.len() > MAX_TEXT {
                self.error(text.span(), format!("{k}: must be 1 to {MAX_TEXT} bytes"));
                continue;
            }
            if st.send.is_some() {
                out.push(Step::Send(t.as_bytes().to_vec()));
            } else if st.expect.is_some() {
                out.push(Step::Expect(t.clone()));
            } else {
                match compile_regex(t) {
                    Ok(r) => out.push(Step::ExpectRegex(r)),
                    Err(e) => self.error(text.span(), format!("{k}: expect_regex: {e}")),
                }
            }
        }
        out
    }

    /// The backend-level target, TLS and agent settings servers inherit.
    fn backend_probe(
        &mut self,
        c: &RawCheck,
        span: std::ops::Range<usize>,
        key: &str,
    ) -> BackendProbe {
        let mut p = BackendProbe {
            port: self.port(c.port.as_ref(), &format!("{key}.port")),
            addr: c.addr.as_ref().map(|a| (a.get_ref().clone(), a.span())),
            tls: c.tls.as_ref().map(|t| *t.get_ref()),
            sni: c.sni.as_ref().map(|s| s.get_ref().clone()),
            verify: c.verify.unwrap_or(true),
            ca_file: c.ca_file.clone(),
            agent_port: self.port(c.agent_port.as_ref(), &format!("{key}.agent_port")),
            agent_addr: c.agent_addr.as_ref().map(|a| a.get_ref().clone()),
            agent_send: c.agent_send.as_ref().map(|a| a.get_ref().clone()),
            agent_interval: c.agent_interval.as_ref().map(|i| {
                self.nonzero_duration(Some(i), CHECK_INTERVAL, &format!("{key}.agent_interval"))
            }),
            tls_span: c.tls.as_ref().map_or(span, |t| t.span()),
            ..BackendProbe::default()
        };
        if let Some(a) = &c.agent_send {
            self.text_len(a, &format!("{key}.agent_send"));
        }
        p.agent_spans = [
            c.agent_port.as_ref().map(|x| x.span()),
            c.agent_addr.as_ref().map(|x| x.span()),
            c.agent_send.as_ref().map(|x| x.span()),
            c.agent_interval.as_ref().map(|x| x.span()),
        ]
        .into_iter()
        .flatten()
        .collect();
        if p.tls != Some(true) && (c.sni.is_some() || c.ca_file.is_some() || c.verify.is_some()) {
            let s = c
                .sni
                .as_ref()
                .map(|s| s.span())
                .or(c.ca_file.as_ref().map(|s| s.span()))
                .unwrap_or(p.tls_span.clone());
            self.warn(s, format!("{key}: sni, verify and ca_file apply to checks with tls = true (or servers with check_tls = true)"));
        }
        p
    }

    pub(super) fn port(&mut self, raw: Option<&S<i64>>, key: &str) -> Option<u16> {
        raw.map(|p| self.int_in(Some(p), 1, 1..=65535, key) as u16)
    }

    pub(super) fn text_len(&mut self, t: &S<String>, key: &str) {
        if t.get_ref().len() > MAX_TEXT {
            self.error(t.span(), format!("{key}: at most {MAX_TEXT} bytes"));
        }
    }
}

/// `"Name: value"`: a token name, a value without control characters; not one of
/// the fields the check writes itself.
fn parse_header(text: &str) -> Result<(String, String), String> {
    let Some((name, value)) = text.split_once(':') else {
        return Err("write \"Name: value\"".into());
    };
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(format!("{name:?} is not a header name"));
    }
    if value.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) || value.len() > MAX_TEXT {
        return Err("the value has control characters or is too long".into());
    }
    for own in [
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "user-agent",
    ] {
        if name.eq_ignore_ascii_case(own) {
            return Err(format!(
                "{name} is set by the check itself (use host for Host)"
            ));
        }
    }
    Ok((name.to_string(), value.to_string()))
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A regex bounded as the rules' are (length and compiled size).
fn compile_regex(source: &str) -> Result<regex::bytes::Regex, String> {
    if source.len() > crate::rules::REGEX_MAX_LEN {
        return Err(format!("longer than {} bytes", crate::rules::REGEX_MAX_LEN));
    }
    regex::bytes::RegexBuilder::new(source)
        .size_limit(crate::rules::REGEX_SIZE_LIMIT)
        .dfa_size_limit(crate::rules::REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            // One line: the parser's message without its drawing of the pattern.
            let text = e.to_string();
            match text.lines().rev().find(|l| !l.trim().is_empty()) {
                Some(last) if text.contains('\n') => {
                    format!("invalid regex: {}", last.trim_start_matches("error: "))
                }
                _ => text,
            }
        })
}

#[cfg(test)]
#[path = "validate_check_tests.rs"]
mod tests;
