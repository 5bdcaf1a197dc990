//! The validated frontend types: [`Frontend`], its TLS, PROXY protocol, SNI routes, steering, routes and redirects.

use std::net::SocketAddr;
use std::time::Duration;

use super::{Compression, ErrorPage, Forwarded, H2Settings, Mode};

#[derive(Debug, Clone)]
pub struct Frontend {
    pub name: String,
    pub binds: Vec<SocketAddr>,
    pub mode: Mode,
    pub default_backend: Option<usize>,
    pub forwarded_for: bool,
    /// Which X-Forwarded-* fields (`forwarded_for = true` and the keys that narrow it).
    pub forwarding: Forwarded,
    /// Client connections of this frontend at once, split evenly across workers like
    /// the global limit; 0 = none of its own.
    pub max_connections: usize,
    pub routes: Vec<Route>,
    pub redirects: Vec<Redirect>,
    pub timeout_client: Duration,
    pub timeout_http_request: Duration,
    pub timeout_http_keep_alive: Duration,
    pub timeout_tunnel: Option<Duration>,
    /// The client side's inactivity limit once a direction is closed (TCP relays and
    /// tunnels); `None`: `timeout_client` (or the tunnel's) still.
    pub timeout_client_fin: Option<Duration>,
    /// TLS termination on every bind of this frontend.
    pub tls: Option<std::sync::Arc<FrontendTls>>,
    /// The TLS handshake must complete within this.
    pub timeout_client_handshake: Duration,
    /// How connections to this frontend's addresses are spread over the workers.
    pub steering: Steering,
    /// ACLs and rules (docs/rules.md); `None` without any. `use_backend` rules name
    /// backends by configuration index, see `rule_backends`.
    pub rules: Option<std::sync::Arc<crate::rules::RuleSet>>,
    /// The backend (index, or slot in a worker) of each configuration backend index,
    /// for `use_backend` rules.
    pub rule_backends: Vec<usize>,
    /// A backend of the configuration has rules of its own: requests may meet rules
    /// even when this frontend has none (the connection's port, SNI and ALPN are kept).
    pub backend_rules: bool,
    pub error_pages: Vec<ErrorPage>,
    /// `proxy_protocol`: a header is read first on every connection.
    pub proxy_protocol: Option<std::sync::Arc<ProxyProtocolIn>>,
    /// tcp mode: `route`s with `sni` (TLS passthrough routed by the ClientHello).
    pub sni_routes: Vec<SniRoute>,
    /// tcp mode with `sni_routes`: a connection without a readable ClientHello goes
    /// to `default_backend` (`true`) or is closed.
    pub sni_fallback_default: bool,
    /// Some server of some backend has `send_proxy`: sessions keep the addresses
    /// (and TLS facts) a header needs.
    pub keeps_origin: bool,
    /// The access-log format (the frontend's or `global.access_log_format`); `None`:
    /// ringlb's own line.
    pub access_log_format: Option<std::sync::Arc<crate::logging::format::LogFormat>>,
    /// HTTP/2 with clients: prior knowledge on cleartext, and the limits.
    pub h2: H2Settings,
    /// tcp mode: log connections whose client sent no byte (`false`: HAProxy's
    /// `option dontlognull`). HTTP frontends never log a connection without a request.
    pub log_empty_connections: bool,
    /// `[frontend.compression]`: response compression; `None`: not set here.
    pub compression: Option<Compression>,
    /// TCP keep-alive probes on client connections (HAProxy's `option clitcpka`).
    pub tcp_keepalive: bool,
    /// Access lines written when the response head is sent (HTTP/1) or the server is
    /// connected (TCP): HAProxy's `option logasap`.
    pub log_asap: bool,
    /// Access lines of failures at syslog level err: `option log-separate-errors`.
    pub log_separate_errors: bool,
    /// Each HTTP/1 exchange ends both connections (`option httpclose`).
    pub http_close: bool,
    /// TCP_DEFER_ACCEPT on the listening sockets (HAProxy's `defer-accept`): the
    /// kernel hands a connection over once the client sent something.
    pub defer_accept: bool,
}

/// `proxy_protocol` and `proxy_protocol_from` of a frontend.
#[derive(Debug)]
pub struct ProxyProtocolIn {
    pub accept: crate::proxy_protocol::Accept,
    /// Peers allowed to send a header; others are closed.
    pub from: crate::rules::IpSet,
}

/// A `[[frontend.route]]` with `sni`: `name` exact (lower case) or, with `suffix`,
/// `*.name` (any name ending in `.name`).
#[derive(Debug, Clone)]
pub struct SniRoute {
    pub name: String,
    pub suffix: bool,
    pub backend: usize,
}

impl SniRoute {
    /// Whether this route takes `sni` (lower case).
    pub fn matches(&self, sni: &str) -> bool {
        if self.suffix {
            sni.len() > self.name.len() + 1
                && sni.ends_with(self.name.as_str())
                && sni.as_bytes()[sni.len() - self.name.len() - 1] == b'.'
        } else {
            sni == self.name
        }
    }
}

/// `steering`: which worker's listener gets a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Steering {
    /// The kernel's hash of the 4-tuple: one client's connections spread over workers.
    #[default]
    Kernel,
    /// A hash of the client's source address only: all connections of one client go
    /// to one worker, so per-client state and limits are exact without locks.
    Source,
}

impl Steering {
    pub fn as_str(self) -> &'static str {
        match self {
            Steering::Kernel => "kernel",
            Steering::Source => "source",
        }
    }
}

impl Frontend {
    /// Rule hits are counted by one index: connection rules, then request rules, then
    /// response rules. The label of index `i` (`tcp_rule 1`, `http_rule 3`, ...).
    pub fn rule_label(&self, i: usize) -> String {
        let (conn, req) = self.rules.as_ref().map_or((0, 0), |r| {
            (r.connection_rules().len(), r.request_rules().len())
        });
        if i < conn {
            format!("tcp_rule {}", i + 1)
        } else if i < conn + req {
            format!("http_rule {}", i - conn + 1)
        } else {
            format!("response_rule {}", i - conn - req + 1)
        }
    }

    /// Rules may look at this frontend's connections: its own, or a backend's.
    pub fn has_rules(&self) -> bool {
        self.rules.is_some() || self.backend_rules
    }

    /// How many rules `rule_label` numbers.
    pub fn rule_count(&self) -> usize {
        self.rules.as_ref().map_or(0, |r| {
            r.connection_rules().len() + r.request_rules().len() + r.response_rules().len()
        })
    }

    /// The one line `ringlb check` prints about this frontend's rules.
    pub fn rule_summary(&self) -> String {
        let (acls, conn, req, res) = self.rules.as_ref().map_or((0, 0, 0, 0), |r| {
            (
                r.acls().len(),
                r.connection_rules().len(),
                r.request_rules().len(),
                r.response_rules().len(),
            )
        });
        format!(
            "frontend {:?}: {acls} acl(s), {conn} tcp_rule(s), {req} http_rule(s), {res} response_rule(s), {} error_page(s)",
            self.name,
            self.error_pages.len()
        )
    }
}

/// A frontend's TLS: the loaded certificates and the rustls configuration built from
/// them (SNI resolver, ALPN), shared by its workers.
#[derive(Debug)]
pub struct FrontendTls {
    pub certificates: Vec<crate::tls::Certificate>,
    pub alpn: Vec<String>,
    pub strict_sni: bool,
    pub server_config: std::sync::Arc<rustls::ServerConfig>,
}

#[derive(Debug, Clone)]
pub struct Route {
    pub host: Option<String>,
    pub path_prefix: Option<String>,
    pub backend: usize,
}

#[derive(Debug, Clone)]
pub struct Redirect {
    pub path_prefix: Option<String>,
    pub location: String,
    pub status: u16,
}
