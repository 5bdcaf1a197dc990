//! A backend's servers as validated: address, weight, limits, check target, TLS,
//! protocol, DNS resolution, and the backend's persistence cookie.

use std::net::SocketAddr;
use std::time::Duration;

use super::ServerProbe;

/// A backend's persistence cookie (HAProxy's `cookie` directive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookiePersist {
    pub name: String,
    pub mode: CookieMode,
    /// `insert`: the cookie is taken out of requests before the server sees them.
    pub indirect: bool,
    /// `insert`: a response that sets the cookie also gets `cache-control: private`.
    pub nocache: bool,
    /// `insert`: a cookie of that name the server sets itself is kept (and then
    /// ringlb does not set one on that response).
    pub preserve: bool,
    /// What follows `name=value` in an inserted cookie: `; path=/` and the rest.
    pub attributes: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieMode {
    /// ringlb sets `name=<server>` when the client does not have the right one.
    Insert,
    /// The server's own cookie `name` gets `<server>~` in front of its value.
    Prefix,
    /// The server's own cookie `name` gets `<server>` as its value.
    Rewrite,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub name: String,
    /// The address as written (`host:port` or `ip:port`).
    pub address_text: String,
    /// The resolved address.
    pub address: SocketAddr,
    pub weight: u32,
    pub check: bool,
    pub backup: bool,
    /// 0 = unlimited.
    pub max_connections: u32,
    /// HAProxy's `minconn`: the limit at low backend load (0: `max_connections` is
    /// fixed); it grows to `max_connections` as the backend's load reaches
    /// `full_connections`.
    pub min_connections: u32,
    /// Weight ramp after the server comes back up; zero = none.
    pub slow_start: Duration,
    /// TLS to this server (connections and, unless `probe` says otherwise, checks).
    pub tls: Option<std::sync::Arc<ServerTls>>,
    /// `send_proxy`: the PROXY protocol header written first on each connection.
    pub send_proxy: Option<crate::proxy_protocol::Version>,
    /// `proto`: the HTTP version requests go to this server in (HTTP mode).
    pub proto: ServerProto,
    /// Where and how the health check and the agent reach this server.
    pub probe: ServerProbe,
    /// Value of the backend's persistence cookie naming this server (default: its name).
    pub cookie: String,
    /// Resolved again at runtime (`resolve_interval`, server templates).
    pub resolve: Option<Resolve>,
    /// Has an address: false for a runtime-resolved server until DNS gives it one
    /// (it takes no traffic meanwhile, like HAProxy's "MAINT (resolution)").
    pub resolved: bool,
    /// `disabled = true`: starts in maintenance (admin state `maint`) until the API
    /// sets it `ready` (HAProxy's `server ... disabled`).
    pub disabled: bool,
    /// `on_marked_down = "shutdown_sessions"`: sessions to this server end when its
    /// health check marks it down.
    pub shutdown_on_down: bool,
}

/// The HTTP version spoken to a server (`proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerProto {
    /// HTTP/1.1 over a pooled connection per request (the default).
    #[default]
    Http1,
    /// HTTP/2 (`proto = "h2"`): requests multiplexed as streams over a few shared
    /// connections per worker.
    H2,
}

/// How a server's address is found again at runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    pub host: String,
    pub port: u16,
    /// At most this long between resolutions (sooner when the TTL is shorter).
    pub interval: Duration,
    pub prefer: Family,
    /// A server template's slot: this one is number `.0` of `.1`, all of one name.
    pub template: Option<(u32, u32)>,
    /// `host` is an SRV name (`_service._proto.name`): targets and ports come from
    /// its records (templates only).
    pub srv: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Ipv4,
    Ipv6,
}

/// `[resolvers]`, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolvers {
    pub nameservers: Vec<SocketAddr>,
    pub timeout: Duration,
    pub attempts: u32,
}

/// How ringlb talks TLS to a server.
#[derive(Debug)]
pub struct ServerTls {
    pub client_config: std::sync::Arc<rustls::ClientConfig>,
    /// The name sent as SNI and checked against the certificate.
    pub server_name: rustls::pki_types::ServerName<'static>,
    pub verify: bool,
}
