//! The `[[backend]]` keys as written (servers, checks, hashing, cookies, compression):
//! serde structs mirroring the TOML, spans kept for messages. Split from `raw.rs`,
//! which re-exports them.

use serde::Deserialize;

use super::raw::{HttpReuse, RawServerTemplate, S};

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    Roundrobin,
    Leastconn,
    Source,
    Random,
    P2c,
    /// Added values (HAProxy's names): the first server with a free slot.
    First,
    /// A hash of the request URI (`[backend.hash]` says which part).
    Uri,
    /// A hash of a query parameter (`[backend.hash] param`).
    UrlParam,
    /// A hash of a header field (`[backend.hash] header`).
    Hdr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackend {
    pub name: S<String>,
    pub balance: Option<Balance>,
    /// Added key: what `uri`, `url_param` and `hdr` hash, and how (HAProxy's
    /// `balance` arguments and `hash-type`).
    pub hash: Option<S<RawHash>>,
    /// Added key: the backend load at which servers reach their `max_connections`
    /// (HAProxy's `fullconn`; with servers' `min_connections`).
    pub full_connections: Option<S<i64>>,
    pub max_queue: Option<S<i64>>,
    pub check: Option<S<RawCheck>>,
    #[serde(default)]
    pub server: Vec<RawServer>,
    pub timeout_connect: Option<S<String>>,
    pub timeout_server: Option<S<String>>,
    pub timeout_queue: Option<S<String>>,
    pub timeout_tunnel: Option<S<String>>,
    /// Added key: see `RawDefaults::timeout_server_fin`.
    pub timeout_server_fin: Option<S<String>>,
    pub retries: Option<S<i64>>,
    pub redispatch: Option<bool>,
    /// Added key: TCP keep-alive probes (SO_KEEPALIVE) on server connections
    /// (HAProxy's `option srvtcpka`). Default `false`.
    pub tcp_keepalive: Option<bool>,
    /// Added key: see [`HttpReuse`] (`[defaults]` too).
    pub http_reuse: Option<HttpReuse>,
    /// Added key: idle server connections kept per server and worker (HAProxy
    /// `pool-max-conn`, per server there); 0 keeps none; absent: as many as were in
    /// use at once recently.
    pub pool_max_connections: Option<S<i64>>,
    /// Added key: an idle server connection unused this long is closed.
    pub pool_idle_timeout: Option<S<String>>,
    /// Added key: every this long, half of the idle server connections past the
    /// recent need are closed (HAProxy `pool-purge-delay`).
    pub pool_purge_delay: Option<S<String>>,
    /// Added key: consecutive errors seen by the proxy that mark a checked server down
    /// (passive health; 0 = off).
    pub error_limit: Option<S<i64>>,
    /// Added key: weight ramp after a server comes back up (also per server).
    pub slow_start: Option<S<String>>,
    /// Added key: a response head not there after this counts as a passive-health
    /// error of its server while other servers answer faster (off when absent).
    pub slow_response: Option<S<String>>,
    /// Added key: `send_proxy` of every server that does not set its own.
    pub send_proxy: Option<S<String>>,
    /// Added key: servers filled from DNS.
    #[serde(default)]
    pub server_template: Vec<S<RawServerTemplate>>,
    /// Added key: cookie persistence (HAProxy's `cookie NAME insert|prefix|rewrite`).
    pub cookie: Option<S<RawCookie>>,
    /// Added key: response compression (HAProxy `compression`).
    pub compression: Option<S<RawCompression>>,
    /// Added keys: the backend's own rules, run once a request is routed here
    /// (HAProxy's rules in a backend; see `raw_rules.rs` and docs/rules.md).
    #[serde(default)]
    pub acl: Vec<S<super::raw_rules::RawAcl>>,
    #[serde(default)]
    pub http_rule: Vec<S<super::raw_rules::RawHttpRule>>,
    #[serde(default)]
    pub response_rule: Vec<S<super::raw_rules::RawResponseRule>>,
    #[serde(default)]
    pub use_server: Vec<S<super::raw_rules::RawUseServer>>,
}

/// `[backend.hash]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHash {
    pub r#type: Option<S<String>>,
    pub function: Option<S<String>>,
    pub avalanche: Option<bool>,
    pub whole: Option<bool>,
    pub len: Option<S<i64>>,
    pub depth: Option<S<i64>>,
    pub path_only: Option<bool>,
    pub param: Option<S<String>>,
    pub header: Option<S<String>>,
    pub use_domain_only: Option<bool>,
}

/// `[frontend.compression]` / `[backend.compression]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompression {
    pub algorithms: Option<Vec<S<String>>>,
    pub types: Option<Vec<S<String>>>,
    pub offload: Option<bool>,
    pub min_size: Option<S<i64>>,
    pub level: Option<S<i64>>,
}

/// `[backend.cookie]`: which server a client sticks to, carried in a cookie.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCookie {
    pub name: S<String>,
    /// `"insert"` (default), `"prefix"` or `"rewrite"`.
    pub mode: Option<S<String>>,
    pub indirect: Option<bool>,
    pub nocache: Option<bool>,
    pub preserve: Option<bool>,
    pub httponly: Option<bool>,
    pub secure: Option<bool>,
    pub domain: Option<S<String>>,
    #[serde(default)]
    pub attr: Vec<S<String>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Tcp,
    Http,
    /// Added value: the gRPC health protocol (`grpc.health.v1.Health/Check`) over HTTP/2.
    Grpc,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub kind: Option<CheckKind>,
    pub path: Option<S<String>>,
    /// An integer; added: also a string (`"200-399"`, `"200,204"`) or a list.
    pub expect_status: Option<S<RawStatus>>,
    pub interval: Option<S<String>>,
    pub fast_interval: Option<S<String>>,
    pub down_interval: Option<S<String>>,
    pub timeout: Option<S<String>>,
    pub rise: Option<S<i64>>,
    pub fall: Option<S<i64>>,
    /// Added keys: check another port/address than the traffic's (HAProxy `port`, `addr`).
    pub port: Option<S<i64>>,
    pub addr: Option<S<String>>,
    /// Added keys: the http check's request and what its response must hold.
    pub method: Option<S<String>>,
    pub host: Option<S<String>>,
    pub headers: Option<Vec<S<String>>>,
    pub expect_body: Option<S<String>>,
    /// Added keys: TLS on the check independently of the traffic (`check-ssl`).
    pub tls: Option<S<bool>>,
    pub sni: Option<S<String>>,
    pub verify: Option<bool>,
    pub ca_file: Option<S<String>>,
    /// Added key: a scripted tcp check (`tcp-check send` / `expect`).
    #[serde(default)]
    pub step: Vec<S<RawStep>>,
    /// Added keys: the agent check of servers with `agent_check = true`.
    pub agent_port: Option<S<i64>>,
    pub agent_addr: Option<S<String>>,
    pub agent_send: Option<S<String>>,
    pub agent_interval: Option<S<String>>,
    /// Added key: the service a grpc check asks about (`""`: the server as a whole).
    pub grpc_service: Option<S<String>>,
    /// Added key: `"h2"`: an http check over HTTP/2 (HAProxy `check-proto h2`).
    pub proto: Option<S<String>>,
}

/// `expect_status` as written: `200`, `"200-399"`, `[200, "300-399"]`.
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "expected a status (200), a string of statuses and ranges (\"200-399\", \"200,204\") or a list of them"
)]
pub enum RawStatus {
    Int(i64),
    Text(String),
    List(Vec<RawStatusItem>),
}

#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "expected a status (200) or a string of statuses and ranges (\"200-399\")"
)]
pub enum RawStatusItem {
    Int(i64),
    Text(String),
}

/// `[[backend.check.step]]`: exactly one of the three.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub send: Option<S<String>>,
    pub expect: Option<S<String>>,
    pub expect_regex: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub name: S<String>,
    pub address: S<String>,
    pub weight: Option<S<i64>>,
    pub check: Option<bool>,
    pub backup: Option<bool>,
    pub max_connections: Option<S<i64>>,
    /// Added key: HAProxy's `minconn`: the limit at low backend load, growing to
    /// `max_connections` at the backend's `full_connections`.
    pub min_connections: Option<S<i64>>,
    pub slow_start: Option<S<String>>,
    /// Added keys: TLS to the server.
    pub tls: Option<S<bool>>,
    pub sni: Option<S<String>>,
    pub verify: Option<bool>,
    pub ca_file: Option<S<String>>,
    /// Added keys: the TLS versions and suites offered to this server, and RFC 5077
    /// tickets (as `[frontend.tls]` `min_version`, `ciphers`, `session_tickets`).
    pub tls_min_version: Option<S<String>>,
    pub tls_ciphers: Option<Vec<S<String>>>,
    pub tls_session_tickets: Option<bool>,
    /// Added key: `"shutdown_sessions"`: when a health check marks this server down,
    /// its established TCP sessions are closed (HAProxy's `on-marked-down
    /// shutdown-sessions`); absent: they run on until they end.
    pub on_marked_down: Option<S<String>>,
    /// Added key: write a PROXY protocol header (`"v1"` or `"v2"`) first on every
    /// connection to this server (HAProxy's `send-proxy`, `send-proxy-v2`).
    pub send_proxy: Option<S<String>>,
    /// Added key: `"h2"` speaks HTTP/2 to this server (HAProxy's `proto h2`), over
    /// cleartext (prior knowledge) or TLS with ALPN `h2`; `"h1"` (default): HTTP/1.1.
    pub proto: Option<S<String>>,
    /// Added keys: this server's check target and TLS (HAProxy `port`, `addr`,
    /// `check-ssl`, `check-sni` on a server line).
    pub check_port: Option<S<i64>>,
    pub check_addr: Option<S<String>>,
    pub check_tls: Option<S<bool>>,
    pub check_sni: Option<S<String>>,
    /// Added key: health checks start with a PROXY protocol header (HAProxy's
    /// `check-send-proxy`); by default they do when the server has `send_proxy` and
    /// the check goes to the traffic address.
    pub check_send_proxy: Option<bool>,
    /// Added keys: HAProxy's `agent-check`, `agent-port`, `agent-addr`, `agent-send`,
    /// `agent-inter` (the backend's `[backend.check]` gives defaults).
    pub agent_check: Option<S<bool>>,
    pub agent_port: Option<S<i64>>,
    pub agent_addr: Option<S<String>>,
    pub agent_send: Option<S<String>>,
    pub agent_interval: Option<S<String>>,
    /// Added key: this server's value of the backend's persistence cookie.
    pub cookie: Option<S<String>>,
    /// Added keys: re-resolve `address` (a host name) at runtime, at most this far
    /// apart (sooner when the records' TTL says so); `"ipv6"` (default) or `"ipv4"`.
    pub resolve_interval: Option<S<String>>,
    pub resolve_prefer: Option<S<String>>,
    /// Added key: start in maintenance until the API sets the server `ready`
    /// (HAProxy's `disabled`).
    pub disabled: Option<bool>,
}
