//! `[backend.check]` → [`HealthCheck`], and each server's [`ServerProbe`]: where its
//! check connects (`port`, `addr`, `check_port`, `check_addr`), whether the check
//! talks TLS (`tls`, `check_tls`), and its agent check (`agent_*`). Every bad value
//! is an error naming its line: a bad regex, a step with two actions, port 0, an
//! agent without a port.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use super::check::CHECK_INTERVAL;
use super::raw::{RawCheck, RawServer, RawStatus, RawStatusItem, RawStep, S};
use super::validate::Validator;
use super::{Agent, CheckKind, CheckTls, HealthCheck, ServerProbe, ServerTls, StatusSet, Step};

/// Most steps in a scripted check.
const MAX_STEPS: usize = 32;
/// Longest `send`, `expect`, `agent_send`, header or `expect_body`.
const MAX_TEXT: usize = 4096;

/// What `[backend.check]` says about servers, for [`Validator::server_probe`].
#[derive(Default)]
pub(super) struct BackendProbe {
    port: Option<u16>,
    addr: Option<(String, std::ops::Range<usize>)>,
    tls: Option<bool>,
    sni: Option<String>,
    verify: bool,
    ca_file: Option<S<String>>,
    /// The check's client configuration, once built (`None` inside: it failed).
    client: Option<Option<Arc<rustls::ClientConfig>>>,
    agent_port: Option<u16>,
    agent_addr: Option<String>,
    agent_send: Option<String>,
    agent_interval: Option<Duration>,
    /// Spans of the backend's agent keys, warned about when no server has an agent.
    agent_spans: Vec<std::ops::Range<usize>>,
    tls_span: std::ops::Range<usize>,
}

impl Validator {
    pub(super) fn check(
        &mut self,
        raw: Option<&S<RawCheck>>,
        key: &str,
    ) -> (HealthCheck, BackendProbe) {
        let key = format!("{key}: check");
        let Some(raw) = raw else {
            return (HealthCheck::default(), BackendProbe::default());
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
        check.steps = self.steps(&c.step, kind, &key);
        let probe = self.backend_probe(c, raw.span(), &key);
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

    /// `method`, `host`, `headers`, `expect_body`: http checks only.
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
            ignored(self, h.span(), "host");
            let t = h.get_ref();
            if t.is_empty() || t.len() > 255 || t.bytes().any(|b| b <= b' ' || b == 0x7f) {
                self.error(h.span(), format!("{key}.host {t:?} must be 1 to 255 characters without spaces or control characters"));
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

    /// `[[backend.check.step]]`: each exactly one of `send`, `expect`, `expect_regex`.
    fn steps(&mut self, raw: &[S<RawStep>], kind: CheckKind, key: &str) -> Vec<Step> {
        if let (Some(first), CheckKind::Http) = (raw.first(), kind) {
            self.error(first.span(), format!("{key}.step: steps are a tcp check's script; kind = \"http\" sends its own request"));
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

    fn port(&mut self, raw: Option<&S<i64>>, key: &str) -> Option<u16> {
        raw.map(|p| self.int_in(Some(p), 1, 1..=65535, key) as u16)
    }

    fn text_len(&mut self, t: &S<String>, key: &str) {
        if t.get_ref().len() > MAX_TEXT {
            self.error(t.span(), format!("{key}: at most {MAX_TEXT} bytes"));
        }
    }

    /// One server's check target, check TLS and agent.
    pub(super) fn server_probe(
        &mut self,
        s: &RawServer,
        address: SocketAddr,
        traffic_tls: bool,
        bp: &mut BackendProbe,
        key: &str,
    ) -> ServerProbe {
        let port = self
            .port(s.check_port.as_ref(), &format!("{key}: check_port"))
            .or(bp.port);
        let addr = match (&s.check_addr, &bp.addr) {
            (Some(a), _) => Some((a.get_ref().clone(), a.span())),
            (None, Some(a)) => Some(a.clone()),
            (None, None) => None,
        };
        let port = port.unwrap_or(address.port());
        let check_address = match &addr {
            Some((host, span)) => {
                self.host_port(host, port, span.clone(), &format!("{key}: check_addr"))
            }
            None => (port != address.port()).then(|| SocketAddr::new(address.ip(), port)),
        };
        let tls = s.check_tls.as_ref().map(|t| *t.get_ref()).or(bp.tls);
        let check_tls = match tls {
            None => CheckTls::Traffic,
            Some(false) => CheckTls::Plain,
            Some(true) => self
                .check_tls(s, address, bp, key)
                .map_or(CheckTls::Traffic, CheckTls::Tls),
        };
        if tls == Some(false) && traffic_tls {
            let span = s
                .check_tls
                .as_ref()
                .map_or(bp.tls_span.clone(), |t| t.span());
            self.warn(
                span,
                format!("{key}: the check talks plain TCP to a TLS server"),
            );
        }
        ServerProbe {
            check_address,
            check_tls,
            agent: self.agent(s, address, bp, key),
        }
    }

    /// `IP` or `host name` at `port`, resolved now (the first address wins).
    fn host_port(
        &mut self,
        host: &str,
        port: u16,
        span: std::ops::Range<usize>,
        key: &str,
    ) -> Option<SocketAddr> {
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Some(SocketAddr::new(ip, port));
        }
        let shape = !host.is_empty() && !host.contains([':', ' ', '/']);
        match (host, port).to_socket_addrs().map(|mut it| it.next()) {
            Ok(Some(a)) if shape => Some(a),
            Ok(_) if shape => {
                self.error(span, format!("{key} {host:?} resolves to no address"));
                None
            }
            Err(e) if shape => {
                self.error(span, format!("{key}: cannot resolve {host:?}: {e}"));
                None
            }
            _ => {
                self.error(
                    span,
                    format!(
                        "{key} {host:?} is not an IP address or host name (the port is set apart)"
                    ),
                );
                None
            }
        }
    }

    /// The check's own TLS: the backend check's `ca_file`/`verify`, SNI from the
    /// server's `check_sni`, the check's `sni`, the server's `sni`, or its host.
    fn check_tls(
        &mut self,
        s: &RawServer,
        address: SocketAddr,
        bp: &mut BackendProbe,
        key: &str,
    ) -> Option<Arc<ServerTls>> {
        let span = s
            .check_tls
            .as_ref()
            .map_or(bp.tls_span.clone(), |t| t.span());
        let client = match &bp.client {
            Some(c) => c.clone()?,
            None => {
                let built = self.check_client(bp, span.clone(), key);
                bp.client = Some(built.clone());
                built?
            }
        };
        let host = s
            .check_sni
            .as_ref()
            .map(|n| n.get_ref().clone())
            .or(bp.sni.clone())
            .or(s.sni.as_ref().map(|n| n.get_ref().clone()))
            .unwrap_or_else(|| {
                let text = s.address.get_ref();
                text.rsplit_once(':')
                    .map_or(address.ip().to_string(), |(h, _)| {
                        h.trim_matches(['[', ']']).to_string()
                    })
            });
        match rustls::pki_types::ServerName::try_from(host.clone()) {
            Ok(server_name) => Some(Arc::new(ServerTls {
                client_config: client,
                server_name,
                verify: bp.verify,
            })),
            Err(_) => {
                let span = s.check_sni.as_ref().map_or(span, |n| n.span());
                self.error(
                    span,
                    format!("{key}: check sni {host:?} is not a valid DNS name or IP address"),
                );
                None
            }
        }
    }

    fn check_client(
        &mut self,
        bp: &BackendProbe,
        span: std::ops::Range<usize>,
        key: &str,
    ) -> Option<Arc<rustls::ClientConfig>> {
        let ca = bp
            .ca_file
            .as_ref()
            .map(|f| (self.base.join(f.get_ref()), f.span()));
        if ca.is_none() && bp.verify {
            self.error(span, format!("{key}: a check over TLS needs ca_file in [backend.check] (the CA that signed the server's certificate), or verify = false there"));
            return None;
        }
        if !bp.verify {
            self.warn(
                span.clone(),
                format!(
                    "{key}: check verify = false: the certificate the check sees is not checked"
                ),
            );
        }
        match crate::tls::client_config(ca.as_ref().map(|(p, _)| p.as_path()), bp.verify) {
            Ok(c) => Some(c),
            Err(e) => {
                self.error(
                    ca.map_or(span, |(_, s)| s),
                    format!("{key}: check ca_file: {e}"),
                );
                None
            }
        }
    }

    /// `agent_check = true`: needs a port (the server's or the backend check's).
    fn agent(
        &mut self,
        s: &RawServer,
        address: SocketAddr,
        bp: &BackendProbe,
        key: &str,
    ) -> Option<Agent> {
        let port = self.port(s.agent_port.as_ref(), &format!("{key}: agent_port"));
        if let Some(t) = &s.agent_send {
            self.text_len(t, &format!("{key}: agent_send"));
        }
        let interval = s.agent_interval.as_ref().map(|i| {
            self.nonzero_duration(Some(i), CHECK_INTERVAL, &format!("{key}: agent_interval"))
        });
        let on = s.agent_check.as_ref().filter(|a| *a.get_ref());
        let Some(on) = on else {
            let stray = [
                s.agent_port.as_ref().map(|x| x.span()),
                s.agent_addr.as_ref().map(|x| x.span()),
                s.agent_send.as_ref().map(|x| x.span()),
                s.agent_interval.as_ref().map(|x| x.span()),
            ];
            if let Some(span) = stray.into_iter().flatten().next() {
                self.warn(
                    span,
                    format!("{key}: agent settings without agent_check = true are ignored"),
                );
            }
            return None;
        };
        let Some(port) = port.or(bp.agent_port) else {
            self.error(on.span(), format!("{key}: agent_check = true needs agent_port (on the server or in [backend.check])"));
            return None;
        };
        let address = match (&s.agent_addr, &bp.agent_addr) {
            (Some(a), _) => {
                self.host_port(a.get_ref(), port, a.span(), &format!("{key}: agent_addr"))?
            }
            (None, Some(a)) => self.host_port(a, port, on.span(), &format!("{key}: agent_addr"))?,
            (None, None) => SocketAddr::new(address.ip(), port),
        };
        let interval = interval.or(bp.agent_interval).unwrap_or(CHECK_INTERVAL);
        let send = s
            .agent_send
            .as_ref()
            .map(|t| t.get_ref().clone())
            .or(bp.agent_send.clone());
        Some(Agent {
            address,
            send: send.map(String::into_bytes).unwrap_or_default(),
            interval,
            timeout: interval,
        })
    }

    /// After a backend's servers: warn about agent keys no server uses.
    pub(super) fn unused_agent_keys(&mut self, bp: &BackendProbe, any_agent: bool, key: &str) {
        if !any_agent {
            if let Some(span) = bp.agent_spans.first() {
                self.warn(span.clone(), format!("{key}: check: agent settings apply to servers with agent_check = true; none here"));
            }
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
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_name_colon_value() {
        assert_eq!(
            parse_header("X-Check: ringlb").unwrap(),
            ("X-Check".into(), "ringlb".into())
        );
        assert_eq!(
            parse_header("x:  a b ").unwrap(),
            ("x".into(), "a b".into())
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: v").is_err());
        assert!(parse_header("x: a\r\nb").is_err());
        assert!(parse_header("Host: x")
            .unwrap_err()
            .contains("set by the check"));
    }

    fn config(check: &str, server: &str) -> Result<crate::config::Config, String> {
        let text = format!(
            "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:0\"]\nmode = \"tcp\"\ndefault_backend = \"b\"\n\
             [[backend]]\nname = \"b\"\n[backend.check]\n{check}\n\
             [[backend.server]]\nname = \"s\"\naddress = \"127.0.0.1:5432\"\ncheck = true\n{server}\n"
        );
        crate::config::Config::parse(&text, "f.toml").map_err(|e| e.to_string())
    }

    /// `line`: of the check's text (from 1), or of the server's text when `server` is
    /// not empty.
    fn refused(check: &str, server: &str, line: usize, want: &str) {
        let e = config(check, server)
            .err()
            .unwrap_or_else(|| panic!("accepted: {check} / {server}"));
        let line = if server.is_empty() {
            8 + line
        } else {
            8 + check.lines().count().max(1) + 4 + line
        };
        assert!(
            e.starts_with(&format!("f.toml:{line}:")) && e.contains(want),
            "{e}"
        );
    }

    #[test]
    fn good_checks_resolve_per_server() {
        let c = config(
            "kind = \"http\"\npath = \"/primary\"\nport = 8008\nexpect_status = [200, \"300-302\"]\nmethod = \"HEAD\"\nhost = \"db\"\nheaders = [\"X-A: 1\"]\nagent_port = 9000\nagent_send = \"hi\\n\"",
            "agent_check = true\nagent_interval = \"300ms\"",
        )
        .unwrap();
        let b = &c.backends[0];
        assert_eq!(b.check.expect_status.to_string(), "200,300-302");
        assert_eq!(b.check.method, "HEAD");
        assert_eq!(b.check.headers, vec![("X-A".to_string(), "1".to_string())]);
        let s = &b.servers[0];
        assert_eq!(
            s.probe.check_address,
            Some("127.0.0.1:8008".parse().unwrap())
        );
        let a = s.probe.agent.as_ref().unwrap();
        assert_eq!(a.address, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(
            (a.send.as_slice(), a.interval),
            (&b"hi\n"[..], Duration::from_millis(300))
        );
        // A server's own port wins; the same port as the traffic needs no override.
        let c = config(
            "port = 8008",
            "check_port = 8009\ncheck_addr = \"127.0.0.2\"",
        )
        .unwrap();
        assert_eq!(
            c.backends[0].servers[0].probe.check_address,
            Some("127.0.0.2:8009".parse().unwrap())
        );
        let c = config("kind = \"tcp\"", "check_port = 5432").unwrap();
        assert_eq!(c.backends[0].servers[0].probe.check_address, None);
        // Steps.
        let c = config("[[backend.check.step]]\nsend = \"PING\\r\\n\"\n[[backend.check.step]]\nexpect = \"+PONG\"\n[[backend.check.step]]\nexpect_regex = \"role:(master)\"", "").unwrap();
        assert_eq!(c.backends[0].check.steps.len(), 3);
        assert_eq!(c.backends[0].check.kind_name(), "script");
        // The integer form keeps its meaning.
        let c = config("kind = \"http\"\nexpect_status = 204", "").unwrap();
        assert_eq!(c.backends[0].check.expect_status.to_string(), "204");
        let c = config("kind = \"http\"", "").unwrap();
        assert_eq!(c.backends[0].check.expect_status.to_string(), "200-399");
    }

    #[test]
    fn bad_values_are_refused_with_their_line() {
        refused(
            "kind = \"http\"\nexpect_status = \"200-99\"",
            "",
            2,
            "expect_status",
        );
        refused(
            "kind = \"http\"\nexpect_status = \"2xx\"",
            "",
            2,
            "is not an HTTP status",
        );
        refused(
            "kind = \"http\"\nexpect_status = 700",
            "",
            2,
            "is not an HTTP status",
        );
        refused("port = 0", "", 1, "port 0 is out of range 1..=65535");
        refused(
            "",
            "check_port = 70000",
            1,
            "check_port 70000 is out of range",
        );
        refused(
            "[[backend.check.step]]\nsend = \"a\"\nexpect = \"b\"",
            "",
            1,
            "give exactly one of send, expect, expect_regex",
        );
        refused(
            "[[backend.check.step]]\nexpect_regex = \"(unclosed\"",
            "",
            2,
            "expect_regex",
        );
        refused(
            "kind = \"http\"\n[[backend.check.step]]\nsend = \"a\"",
            "",
            2,
            "steps are a tcp check's script",
        );
        refused(
            "",
            "agent_check = true",
            1,
            "agent_check = true needs agent_port",
        );
        refused(
            "",
            "agent_check = true\nagent_port = 0",
            2,
            "agent_port 0 is out of range",
        );
        refused(
            "kind = \"http\"\nmethod = \"GE T\"",
            "",
            2,
            "is not an HTTP method",
        );
        refused(
            "kind = \"http\"\nheaders = [\"nocolon\"]",
            "",
            2,
            "Name: value",
        );
        refused(
            "kind = \"http\"\nmethod = \"HEAD\"\nexpect_body = \"x\"",
            "",
            3,
            "HEAD response has no body",
        );
        refused("tls = true", "", 1, "needs ca_file");
        refused(
            "",
            "check_addr = \"10.0.0.1:80\"",
            1,
            "is not an IP address or host name",
        );
        refused(
            "agent_interval = \"0s\"",
            "",
            1,
            "agent_interval must be greater than zero",
        );
    }

    #[test]
    fn regexes_are_bounded() {
        assert!(compile_regex("role:(master|primary)").is_ok());
        assert!(compile_regex("(").is_err());
        assert!(compile_regex(&"a".repeat(5000))
            .unwrap_err()
            .contains("longer"));
        assert!(compile_regex("(\\w{100}){100}").is_err());
    }
}
