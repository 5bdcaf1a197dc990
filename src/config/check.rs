//! The validated health-check types: `[backend.check]` ([`HealthCheck`]), the
//! per-server check target and agent ([`ServerProbe`]), and the pure parser of
//! expected HTTP statuses ([`StatusSet`]), shared by validation and the checks.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::{CheckKind, ServerTls};

/// HAProxy's defaults for `inter` (and `agent-inter`), `rise` and `fall`.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(2);
pub const CHECK_RISE: u32 = 2;
pub const CHECK_FALL: u32 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub kind: CheckKind,
    pub path: String,
    pub expect_status: StatusSet,
    pub interval: Duration,
    pub fast_interval: Duration,
    pub down_interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    /// HTTP method of an http check (`GET`).
    pub method: String,
    /// `Host` of an http check; `None`: the server's address as written.
    pub host: Option<String>,
    /// Extra request header fields of an http check, in order.
    pub headers: Vec<(String, String)>,
    /// The response body must contain this (http checks).
    pub expect_body: Option<String>,
    /// A scripted tcp check: steps run in order after the connect (and handshake).
    pub steps: Vec<Step>,
    /// The service a grpc check asks about (`""`: the server as a whole).
    pub grpc_service: String,
    /// An http check over HTTP/2 (`proto = "h2"`, HAProxy's `check-proto h2`).
    pub h2: bool,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            kind: CheckKind::Tcp,
            path: "/".into(),
            expect_status: StatusSet::default(),
            interval: CHECK_INTERVAL,
            fast_interval: CHECK_INTERVAL,
            down_interval: CHECK_INTERVAL,
            timeout: CHECK_INTERVAL,
            rise: CHECK_RISE,
            fall: CHECK_FALL,
            method: "GET".into(),
            host: None,
            headers: Vec::new(),
            expect_body: None,
            steps: Vec::new(),
            grpc_service: String::new(),
            h2: false,
        }
    }
}

impl HealthCheck {
    /// `tcp`, `http`, `grpc` or `script` (a tcp check with steps), for logs and the API.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            CheckKind::Http => "http",
            CheckKind::Grpc => "grpc",
            CheckKind::Tcp if self.steps.is_empty() => "tcp",
            CheckKind::Tcp => "script",
        }
    }

    /// The check talks HTTP/2: a grpc check, or an http check with `proto = "h2"`.
    pub fn speaks_h2(&self) -> bool {
        self.kind == CheckKind::Grpc || self.h2
    }
}

/// One step of a scripted tcp check (HAProxy's `tcp-check send` / `expect string` /
/// `expect rstring`).
#[derive(Debug, Clone)]
pub enum Step {
    Send(Vec<u8>),
    /// What has arrived since the last match must contain this.
    Expect(String),
    /// ... or match this (compiled at load, bounded in size).
    ExpectRegex(regex::bytes::Regex),
}

impl Step {
    /// `send "PING\r\n"`, `expect "+PONG"`, `expect_regex "role:(master)"`.
    pub fn describe(&self) -> String {
        match self {
            Step::Send(b) => format!("send {:?}", String::from_utf8_lossy(b)),
            Step::Expect(s) => format!("expect {s:?}"),
            Step::ExpectRegex(r) => format!("expect_regex {:?}", r.as_str()),
        }
    }
}

impl PartialEq for Step {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Step::Send(a), Step::Send(b)) => a == b,
            (Step::Expect(a), Step::Expect(b)) => a == b,
            (Step::ExpectRegex(a), Step::ExpectRegex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl Eq for Step {}

/// Expected HTTP statuses: inclusive ranges. The default is any 2xx or 3xx, as a bare
/// `option httpchk` in HAProxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(pub Vec<(u16, u16)>);

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet(vec![(200, 399)])
    }
}

impl StatusSet {
    pub fn one(status: u16) -> Self {
        StatusSet(vec![(status, status)])
    }

    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&status))
    }

    /// `"200"`, `"200-399"`, `"200,204,300-399"` (spaces allowed around commas and
    /// dashes); each status 100..=599, each range low to high.
    pub fn parse(text: &str) -> Result<StatusSet, String> {
        let mut out = Vec::new();
        for part in text.split(',') {
            out.push(parse_range(part.trim())?);
        }
        Ok(StatusSet(out))
    }

    /// Several items (a TOML list), each a status or a set as [`StatusSet::parse`] reads.
    pub fn join(sets: Vec<StatusSet>) -> StatusSet {
        StatusSet(sets.into_iter().flat_map(|s| s.0).collect())
    }
}

fn parse_range(part: &str) -> Result<(u16, u16), String> {
    let status = |t: &str| -> Result<u16, String> {
        let t = t.trim();
        match t.parse::<u16>() {
            Ok(s) if (100..=599).contains(&s) && t.len() == 3 => Ok(s),
            _ => Err(format!("{t:?} is not an HTTP status (100..=599)")),
        }
    };
    if part.is_empty() {
        return Err("empty status".into());
    }
    match part.split_once('-') {
        None => status(part).map(|s| (s, s)),
        Some((lo, hi)) => {
            let (lo, hi) = (status(lo)?, status(hi)?);
            if lo > hi {
                return Err(format!("range {lo}-{hi} runs backwards"));
            }
            Ok((lo, hi))
        }
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (lo, hi)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

/// How a server's health check talks TLS.
#[derive(Debug, Clone, Default)]
pub enum CheckTls {
    /// As the traffic does (`tls` on the server).
    #[default]
    Traffic,
    /// Plain TCP even to a TLS server.
    Plain,
    /// TLS even to a plain server (HAProxy's `check-ssl`).
    Tls(Arc<ServerTls>),
}

/// Where and how one server is checked, resolved at load.
#[derive(Debug, Clone, Default)]
pub struct ServerProbe {
    /// The check's own address and port (`addr`, `port`); else the server's, as it
    /// is when the check runs (a server found by DNS may move).
    pub check_ip: Option<IpAddr>,
    pub check_port: Option<u16>,
    pub check_tls: CheckTls,
    /// The agent check (HAProxy's `agent-check`), when enabled.
    pub agent: Option<Agent>,
    /// `check_send_proxy` as written: `None` follows the server's `send_proxy` when
    /// the check goes to the traffic address (see [`ServerProbe::proxy_header`]).
    pub send_proxy: Option<bool>,
}

impl ServerProbe {
    /// The PROXY protocol version a health check of a server with `send_proxy`
    /// starts with (HAProxy: `check-send-proxy`, or `send-proxy` when the check goes
    /// to the traffic port and address), if any.
    pub fn proxy_header(
        &self,
        send_proxy: Option<crate::proxy_protocol::Version>,
    ) -> Option<crate::proxy_protocol::Version> {
        match self.send_proxy {
            Some(true) => Some(send_proxy.unwrap_or(crate::proxy_protocol::Version::V1)),
            Some(false) => None,
            None => send_proxy.filter(|_| self.check_ip.is_none() && self.check_port.is_none()),
        }
    }

    /// Where the check connects for a server now at `address`.
    pub fn check_target(&self, address: SocketAddr) -> SocketAddr {
        SocketAddr::new(
            self.check_ip.unwrap_or(address.ip()),
            self.check_port.unwrap_or(address.port()),
        )
    }
}

/// HAProxy's `agent-check`: a TCP agent on the server says up/down/drain/maint/ready
/// or a weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// `agent_addr`; else the server's address as it is when asked.
    pub ip: Option<IpAddr>,
    pub port: u16,
    /// Sent once connected (`agent-send`); empty: nothing.
    pub send: Vec<u8>,
    pub interval: Duration,
    pub timeout: Duration,
}

impl Agent {
    /// Where the agent of a server now at `address` listens.
    pub fn address(&self, server: SocketAddr) -> SocketAddr {
        SocketAddr::new(self.ip.unwrap_or(server.ip()), self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets_parse_single_ranges_and_lists() {
        assert_eq!(StatusSet::parse("200").unwrap(), StatusSet::one(200));
        let s = StatusSet::parse("200-399").unwrap();
        assert!(s.contains(200) && s.contains(302) && s.contains(399));
        assert!(!s.contains(199) && !s.contains(400));
        let s = StatusSet::parse("200, 204 ,300 - 302").unwrap();
        assert_eq!(s.0, vec![(200, 200), (204, 204), (300, 302)]);
        assert_eq!(s.to_string(), "200,204,300-302");
        assert!(s.contains(301) && !s.contains(201));
        assert_eq!(StatusSet::default().to_string(), "200-399");
        let joined = StatusSet::join(vec![
            StatusSet::one(200),
            StatusSet::parse("5xx").unwrap_or(StatusSet::one(503)),
        ]);
        assert!(joined.contains(503) && joined.contains(200) && !joined.contains(404));
    }

    #[test]
    fn bad_status_sets_say_why() {
        for (text, why) in [
            ("", "empty status"),
            ("2xx", "is not an HTTP status"),
            ("99", "is not an HTTP status"),
            ("600", "is not an HTTP status"),
            ("0200", "is not an HTTP status"),
            ("399-200", "runs backwards"),
            ("200,", "empty status"),
            ("200-", "is not an HTTP status"),
            ("-200", "is not an HTTP status"),
            ("200-300-400", "is not an HTTP status"),
        ] {
            let e = StatusSet::parse(text).unwrap_err();
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }

    #[test]
    fn steps_compare_by_text() {
        let r = |s: &str| Step::ExpectRegex(regex::bytes::Regex::new(s).unwrap());
        assert_eq!(r("a+"), r("a+"));
        assert_ne!(r("a+"), r("a*"));
        assert_ne!(Step::Expect("a".into()), Step::Send(b"a".to_vec()));
        assert_eq!(r("role:master").describe(), "expect_regex \"role:master\"");
        assert_eq!(
            Step::Send(b"PING\r\n".to_vec()).describe(),
            "send \"PING\\r\\n\""
        );
    }
}
