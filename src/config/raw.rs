//! The configuration file as written: serde structs that mirror the TOML contract
//! (`shared/config-schema.md`) one to one. Unknown keys are refused. Values that
//! validation may reject are kept `Spanned` so that an error can name the line.

use serde::Deserialize;
use toml::Spanned;

pub use super::raw_backend::{
    Balance, CheckKind, RawBackend, RawCheck, RawCompression, RawCookie, RawServer, RawStatus,
    RawStatusItem, RawStep,
};
pub use super::raw_vrrp::{RawSyncGroup, RawVrrps};

pub type S<T> = Spanned<T>;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub global: RawGlobal,
    #[serde(default)]
    pub defaults: RawDefaults,
    #[serde(default)]
    pub frontend: Vec<RawFrontend>,
    #[serde(default)]
    pub backend: Vec<RawBackend>,
    /// `[vrrp]` (one virtual router) or, added, `[[vrrp]]` (several).
    pub vrrp: Option<S<RawVrrps>>,
    /// Added key: virtual routers that change state together (keepalived's
    /// `vrrp_sync_group`).
    #[serde(default)]
    pub vrrp_sync_group: Vec<S<RawSyncGroup>>,
    /// Added key: tracking tables (HAProxy's stick tables), one copy per worker.
    #[serde(default)]
    pub table: Vec<S<super::raw_rules::RawTable>>,
    /// Added key: the DNS servers runtime resolution asks (HAProxy's `resolvers`).
    pub resolvers: Option<S<RawResolvers>>,
    /// Added key: service addresses announced through BIRD while healthy.
    pub announce: Option<S<RawAnnounce>>,
    /// Added key: users for HTTP basic authentication (HAProxy's `userlist`).
    #[serde(default)]
    pub userlist: Vec<S<super::raw_rules::RawUserlist>>,
    /// Added key: alert mails over SMTP (keepalived's `smtp_alert`, HAProxy's
    /// `email-alert`).
    pub mail: Option<S<RawMail>>,
}

/// `[mail]`: where alert mails go and which events send one (see `validate_mail.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMail {
    pub server: S<String>,
    pub from: S<String>,
    #[serde(default)]
    pub to: Vec<S<String>>,
    pub connect_timeout: Option<S<String>>,
    pub helo: Option<S<String>>,
    pub router_id: Option<S<String>>,
    pub vrrp: Option<bool>,
    pub level: Option<S<String>>,
    pub backends: Option<Vec<S<String>>>,
}

/// `[announce]`: active-active over BGP/ECMP (see `validate_announce.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAnnounce {
    pub interface: Option<S<String>>,
    #[serde(default)]
    pub addresses: Vec<S<String>>,
    pub track_frontends: Option<Vec<S<String>>>,
    pub hold_down: Option<S<String>>,
    pub withdraw_grace: Option<S<String>>,
}

/// `[resolvers]`: where servers with `resolve_interval` and server templates are
/// resolved at runtime.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResolvers {
    #[serde(default)]
    pub nameservers: Vec<S<String>>,
    pub timeout: Option<S<String>>,
    pub attempts: Option<S<i64>>,
}

/// `[[backend.server_template]]`: `count` servers named `prefix1`..`prefixN`, filled
/// with the addresses a DNS name resolves to (HAProxy's `server-template`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServerTemplate {
    pub prefix: S<String>,
    pub count: S<i64>,
    pub address: S<String>,
    pub resolve_interval: Option<S<String>>,
    pub resolve_prefer: Option<S<String>>,
    pub weight: Option<S<i64>>,
    pub check: Option<bool>,
    pub backup: Option<bool>,
    pub max_connections: Option<S<i64>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawGlobal {
    pub workers: Option<S<i64>>,
    pub pin_workers: Option<bool>,
    pub max_connections: Option<S<i64>>,
    pub admin_bind: Option<S<String>>,
    /// Added key: when set, the admin API wants `Authorization: Bearer <token>`.
    pub admin_token: Option<S<String>>,
    /// Added key: the admin listener also takes `Authorization: Basic` of a user of
    /// this `[[userlist]]` (HAProxy's `stats auth`).
    pub admin_userlist: Option<S<String>>,
    /// Added key: requests that change something (not GET/HEAD) need a user of
    /// `admin_userlist` in one of these groups, or the token (HAProxy's `stats admin
    /// if` an `http_auth_group` ACL).
    pub admin_write_groups: Option<S<Vec<S<String>>>>,
    pub log_level: Option<S<String>>,
    pub access_log: Option<S<bool>>,
    /// Added key: how long open connections may finish after SIGTERM/SIGINT.
    pub grace_period: Option<S<String>>,
    /// Added key: `"auto"` (io_uring, else epoll), `"io_uring"`, `"legacy"`.
    pub io_driver: Option<IoDriver>,
    /// Added keys: HTTP request limits.
    pub max_header_bytes: Option<S<i64>>,
    pub max_headers: Option<S<i64>>,
    pub max_request_line: Option<S<i64>>,
    pub max_body_bytes: Option<S<i64>>,
    /// Added keys: where logs go (`"stderr"`, the default, or `"syslog"`), syslog
    /// settings, and the access-log format for every frontend (`"httplog"`,
    /// `"tcplog"` or HAProxy `log-format` aliases).
    pub log_target: Option<S<String>>,
    pub syslog: Option<S<RawSyslog>>,
    /// Added keys: a second syslog target for ringlb's own lines at
    /// `syslog_copy_level` and above (HAProxy's second `log` line); no access lines.
    pub syslog_copy: Option<S<RawSyslog>>,
    pub syslog_copy_level: Option<S<String>>,
    pub access_log_format: Option<S<String>>,
    /// Added keys: the user (and group) to run as once every socket is bound, when
    /// started as root; `allow_root = true` says running as root is intended.
    pub user: Option<S<String>>,
    pub group: Option<S<String>>,
    pub allow_root: Option<bool>,
    /// Added keys: keepalived's `script_user USER [GROUP]` and
    /// `enable_script_security` (global_defs): whom VRRP's notify and track
    /// programs run as, and refusing programs a non-root user could change.
    pub script_user: Option<S<String>>,
    pub script_group: Option<S<String>>,
    pub enable_script_security: Option<bool>,
    /// Added key: the Unix socket `ringlb upgrade` talks to (empty: none).
    pub upgrade_socket: Option<S<String>>,
    /// Added key: most tracking-table entries a binary upgrade carries over.
    pub upgrade_table_entries: Option<S<i64>>,
    /// Added keys: HAProxy's runtime CLI (`stats socket`) on this Unix socket path,
    /// its file mode (octal text, default "600") and its level.
    pub admin_socket: Option<S<String>>,
    pub admin_socket_mode: Option<S<String>>,
    pub admin_socket_level: Option<S<String>>,
}

/// `global.syslog`: where and how syslog lines go.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSyslog {
    pub address: Option<S<String>>,
    pub format: Option<S<String>>,
    pub facility: Option<S<String>>,
    pub tag: Option<S<String>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum IoDriver {
    #[default]
    Auto,
    IoUring,
    Legacy,
}

/// Timeouts and retry policy. `[defaults]` holds them for everyone; a frontend or
/// backend may set its own, as HAProxy allows in every section.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub timeout_connect: Option<S<String>>,
    pub timeout_client: Option<S<String>>,
    pub timeout_server: Option<S<String>>,
    pub timeout_http_request: Option<S<String>>,
    pub timeout_http_keep_alive: Option<S<String>>,
    pub timeout_queue: Option<S<String>>,
    pub timeout_tunnel: Option<S<String>>,
    /// Added keys: inactivity limits of a side once one direction is closed
    /// (HAProxy `timeout client-fin`, `timeout server-fin`); absent: as open.
    pub timeout_client_fin: Option<S<String>>,
    pub timeout_server_fin: Option<S<String>>,
    /// Added key: the whole TLS handshake must complete within this.
    pub timeout_client_handshake: Option<S<String>>,
    pub retries: Option<S<i64>>,
    pub redispatch: Option<bool>,
    /// Added key: when idle server connections may carry another client's request.
    pub http_reuse: Option<HttpReuse>,
}

/// HAProxy's `http-reuse`: which requests may go on an idle server connection that
/// another client connection opened (HTTP mode).
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum HttpReuse {
    /// Never another client's: a server connection stays with the client connection
    /// that opened it (keep-alive to the server for that client only).
    Never,
    /// A client connection's first request always goes on a new server connection;
    /// later ones may take any idle one.
    #[default]
    Safe,
    /// Like `safe`, except that a first request may take an idle connection that has
    /// already carried more than one request (proven keep-alive).
    Aggressive,
    /// Any request may take any idle connection.
    Always,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Http,
    Tcp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFrontend {
    pub name: S<String>,
    #[serde(default)]
    pub bind: Vec<S<String>>,
    pub mode: Option<Mode>,
    pub default_backend: Option<S<String>>,
    pub forwarded_for: Option<bool>,
    /// Added keys: which X-Forwarded-* fields `forwarded_for = true` adds (default all
    /// three) and HAProxy's `option forwardfor` options (see `validate_forwarded.rs`).
    pub forwarded_headers: Option<S<Vec<S<String>>>>,
    pub forwarded_for_header: Option<S<String>>,
    pub forwarded_for_except: Option<S<Vec<S<String>>>>,
    pub forwarded_for_if_none: Option<bool>,
    /// Added key: this frontend's client connections at once (HAProxy's frontend
    /// `maxconn`); 0 or absent: only `global.max_connections`.
    pub max_connections: Option<S<i64>>,
    pub tls: Option<S<RawTls>>,
    #[serde(default)]
    pub route: Vec<S<RawRoute>>,
    #[serde(default)]
    pub redirect: Vec<S<RawRedirect>>,
    pub timeout_client: Option<S<String>>,
    pub timeout_http_request: Option<S<String>>,
    pub timeout_http_keep_alive: Option<S<String>>,
    pub timeout_tunnel: Option<S<String>>,
    /// Added key: see `RawDefaults::timeout_client_fin`.
    pub timeout_client_fin: Option<S<String>>,
    pub timeout_client_handshake: Option<S<String>>,
    /// Added keys: rules (see `raw_rules.rs` and docs/rules.md).
    #[serde(default)]
    pub acl: Vec<S<super::raw_rules::RawAcl>>,
    #[serde(default)]
    pub tcp_rule: Vec<S<super::raw_rules::RawTcpRule>>,
    #[serde(default)]
    pub http_rule: Vec<S<super::raw_rules::RawHttpRule>>,
    #[serde(default)]
    pub response_rule: Vec<S<super::raw_rules::RawResponseRule>>,
    #[serde(default)]
    pub error_page: Vec<S<super::raw_rules::RawErrorPage>>,
    /// Added key: `"kernel"` (default) or `"source"` (each client to one worker).
    pub steering: Option<S<String>>,
    /// Added keys: accept a PROXY protocol header (`"v1"`, `"v2"`, `"any"`) from the
    /// peers `proxy_protocol_from` lists (required with it).
    pub proxy_protocol: Option<S<String>>,
    pub proxy_protocol_from: Option<S<Vec<S<String>>>>,
    /// Added key: tcp mode with `sni` routes: what a connection whose first bytes are
    /// no readable ClientHello does: `"default"` (default_backend) or `"close"`.
    pub sni_fallback: Option<S<String>>,
    /// Added key: this frontend's access-log format (see `global.access_log_format`).
    pub access_log_format: Option<S<String>>,
    /// Added keys: HTTP/2 with clients (`h2c = "prior-knowledge"` on cleartext; over
    /// TLS, `alpn` offers `h2`) and its limits (see `validate_h2.rs`).
    pub h2c: Option<S<String>>,
    pub h2_max_concurrent_streams: Option<S<i64>>,
    pub h2_max_header_list_size: Option<S<i64>>,
    pub h2_header_table_size: Option<S<i64>>,
    pub h2_initial_window_size: Option<S<i64>>,
    pub h2_connection_window_size: Option<S<i64>>,
    pub h2_max_frame_size: Option<S<i64>>,
    pub h2_max_client_resets: Option<S<i64>>,
    /// Added key: tcp mode: `false` writes no access line for a connection whose client
    /// sent no byte (HAProxy's `option dontlognull`). Default `true`.
    pub log_empty_connections: Option<bool>,
    /// Added key: response compression (HAProxy `compression`).
    pub compression: Option<S<RawCompression>>,
    /// Added key: TCP keep-alive probes (SO_KEEPALIVE) on client connections
    /// (HAProxy's `option clitcpka`). Default `false`.
    pub tcp_keepalive: Option<bool>,
    /// Added key: write an HTTP request's access line when its response head is sent
    /// (a TCP connection's once its server is connected), not at the end (HAProxy's
    /// `option logasap`). Default `false`.
    pub log_asap: Option<bool>,
    /// Added key: access lines of failed requests/connections (status 5xx, an
    /// abnormal termination state, a retry) go to syslog at level err instead of info
    /// (HAProxy's `option log-separate-errors`). Default `false`.
    pub log_separate_errors: Option<bool>,
    /// Added key: http mode: close the client connection after each response and do
    /// not keep the server connection (HAProxy 2.6's `option httpclose`). Default `false`.
    pub http_close: Option<bool>,
    /// Added key: TCP_DEFER_ACCEPT on this frontend's listening sockets: a
    /// connection is accepted once its first bytes arrived (HAProxy's bind option
    /// `defer-accept`). Default `false`.
    pub defer_accept: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    #[serde(default)]
    pub certificates: Vec<S<RawCertificate>>,
    pub alpn: Option<Vec<S<String>>>,
    /// Added key: refuse the handshake when SNI is absent or matches no certificate.
    pub strict_sni: Option<bool>,
    /// Added keys: `"1.2"` (default) or `"1.3"`; the cipher suites offered, by rustls'
    /// names (default: all); `false`: no session tickets (see `validate_tls_policy.rs`).
    pub min_version: Option<S<String>>,
    pub ciphers: Option<Vec<S<String>>>,
    pub session_tickets: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertificate {
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub host: Option<S<String>>,
    /// Added key: tcp mode, TLS passthrough: the ClientHello's server name, exact or
    /// `"*.example.com"`.
    pub sni: Option<S<String>>,
    pub path_prefix: Option<S<String>>,
    pub backend: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedirect {
    pub path_prefix: Option<S<String>>,
    pub location: S<String>,
    pub status: Option<S<i64>>,
}
