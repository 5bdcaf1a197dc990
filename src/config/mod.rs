//! Configuration: TOML text → raw serde structs (`raw`) → a validated [`Config`]
//! (`validate*`). Validation applies defaults and `[defaults]` inheritance, resolves
//! names to indexes and reports every problem it finds with
//! `file:line:column: key path: message`.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the validated types ([`Config`], [`Frontend`], [`Backend`], [`Server`], [`Vrrp`]...), `load`, `parse`, `summary` |
//! | `raw_vrrp.rs` | the `[vrrp]` / `[[vrrp]]` and `[[vrrp_sync_group]]` keys as written |
//! | `server.rs` | the validated server types ([`Server`], [`ServerProto`], [`Resolve`], [`ServerTls`]) and the backend's [`CookiePersist`] |
//! | `raw.rs` | the file as written: serde structs mirroring the TOML, spans kept for messages |
//! | `raw_backend.rs` | the `[[backend]]` keys as written: servers, checks, hashing, cookies, compression |
//! | `validate.rs` | the validator: entry point, `[global]`, `[defaults]`, shared checks (durations, ranges, names, addresses) |
//! | `validate_frontend.rs` | `[[frontend]]`: binds, backend references, routes, redirects, timeouts |
//! | `validate_forwarded.rs` | a frontend's X-Forwarded-* keys ([`Forwarded`]: `forwarded_headers`, `forwarded_for_*`) |
//! | `validate_h2.rs` | a frontend's HTTP/2 keys: `h2c` and the `h2_*` limits ([`H2Settings`]) |
//! | `validate_l4.rs` | layer 4: `proxy_protocol` (+ `_from`), `sni` routes and `sni_fallback`, `send_proxy`; a server's `proto` |
//! | `validate_backend.rs` | `[[backend]]`: balance, queue, servers |
//! | `balance.rs` | `[backend.hash]` ([`HashSpec`]), `min_connections` / `full_connections` |
//! | `validate_cookie.rs` | `[backend.cookie]` and each server's `cookie` value |
//! | `validate_compression.rs` | `[frontend.compression]`, `[backend.compression]` ([`Compression`]) |
//! | `check.rs` | the validated check types ([`HealthCheck`], [`ServerProbe`], [`Agent`]) and the [`StatusSet`] parser (pure) |
//! | `validate_check.rs` | `[backend.check]`: kind, http request and expectations, steps, what servers inherit |
//! | `validate_probe.rs` | each server's check target (`port`, `addr`), check TLS and agent |
//! | `validate_check_tests.rs` | tests of check validation: per-server resolution, refusals with their line |
//! | `validate_resolve.rs` | `[resolvers]`, `resolve_interval`, `[[backend.server_template]]` |
//! | `validate_tls.rs` | `[frontend.tls]` (certificates, ALPN, rustls configuration) and `tls = true` on servers |
//! | `validate_tls_policy.rs` | TLS versions and cipher suites offered (`min_version`, `ciphers`; a server's `tls_*`) |
//! | `validate_vrrp.rs` | `[vrrp]`: one virtual router's settings |
//! | `vrrp.rs` | the validated virtual router types ([`Vrrp`], [`SyncGroup`], tracking) |
//! | `validate_vrrp_track.rs` | `[[vrrp.track_interface]]`, `[[vrrp.track_script]]`, `[[vrrp.track_file]]` |
//! | `validate_vrrp_sync.rs` | `[[vrrp]]` lists (names, ids and VIPs unique) and `[[vrrp_sync_group]]` |
//! | `validate_mail.rs` | `[mail]`: alert mails' SMTP server, addresses, level, routers and backends ([`Mail`]) |
//! | `validate_announce.rs` | `[announce]`: service addresses announced through BIRD ([`Announce`]) |
//! | `validate_log.rs` | `global.log_target`, `global.syslog`, `syslog_copy`, `access_log_format` (global and per frontend) |
//! | `validate_userlist.rs` | `[[userlist]]` (basic authentication users) and `global.admin_userlist` |
//! | `validate_admin_socket.rs` | `global.admin_socket`, `_mode`, `_level` ([`AdminSocket`], [`CliLevel`]) |
//! | `validate_user.rs` | `global.user`, `global.group`: names resolved to ids on this host |
//! | `validate_script.rs` | `global.script_user`, `enable_script_security`: whom VRRP's programs run as |
//! | `raw_rules.rs` | the rule keys as written: `[[table]]`, `[[frontend.acl]]`, `*_rule`, `error_page` |
//! | `validate_rules.rs` | `[[table]]`, a frontend's rules → a [`crate::rules::RuleSet`], error pages |
//! | `validate_acl.rs` | `[[frontend.acl]]` → the rule engine's tests (CIDR files, regexes, counters) |
//! | `validate_actions.rs` | the actions of `tcp_rule`, `http_rule`, `response_rule` |
//! | `validate_values.rs` | header values (`value` or a log-format `format`) and redirect targets |
//! | `duration.rs` | duration strings (`"500ms"`, `"1m30s"`) → [`Duration`] |
//! | `error.rs` | [`ConfigError`]s, each naming file, line, column and key |

mod balance;
mod check;
mod duration;
mod error;
mod raw;
mod raw_backend;
mod raw_rules;
mod raw_vrrp;
mod server;
mod validate;
mod validate_acl;
mod validate_actions;
mod validate_admin_socket;
mod validate_announce;
mod validate_backend;
mod validate_check;
mod validate_compression;
mod validate_cookie;
mod validate_forwarded;
mod validate_frontend;
mod validate_h2;
mod validate_l4;
mod validate_log;
mod validate_mail;
mod validate_probe;
mod validate_resolve;
mod validate_rules;
mod validate_script;
mod validate_tls;
mod validate_tls_policy;
mod validate_user;
mod validate_userlist;
mod validate_values;
mod validate_vrrp;
mod validate_vrrp_sync;
mod validate_vrrp_track;
mod vrrp;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub use balance::{dynamic_limits, HashFunction, HashSpec};
pub use check::{Agent, CheckTls, HealthCheck, ServerProbe, StatusSet, Step};
pub use duration::parse_duration;
pub use error::{ConfigError, ConfigErrors};
pub use raw::{Balance, CheckKind, HttpReuse, IoDriver, Mode};
pub use server::{
    CookieMode, CookiePersist, Family, Resolve, Resolvers, Server, ServerProto, ServerTls,
};
pub use validate_admin_socket::{AdminSocket, CliLevel};
pub use validate_announce::Announce;
pub use validate_backend::{POOL_IDLE_TIMEOUT, POOL_PURGE_DELAY};
pub use validate_compression::{
    CompressAlgo, Compression, DEFAULT_LEVEL as DEFAULT_COMPRESSION_LEVEL,
};
pub use validate_forwarded::Forwarded;
pub use validate_h2::H2Settings;
pub use validate_mail::{Mail, LEVELS as MAIL_LEVELS};
pub use vrrp::{
    StateCommands, SyncGroup, TrackFile, TrackInterface, TrackScript, Vrrp, VrrpChecksum,
};

/// A validated configuration. Indexes (`default_backend`, `Route::backend`) point into
/// `backends`; every value has its default applied.
#[derive(Debug, Clone)]
pub struct Config {
    pub global: Global,
    pub frontends: Vec<Frontend>,
    pub backends: Vec<Backend>,
    /// The virtual routers (`[vrrp]` or `[[vrrp]]`), when ringlb owns virtual IPs.
    pub vrrp: Vec<Vrrp>,
    /// `[[vrrp_sync_group]]`: routers (indexes into `vrrp`) that change state together.
    pub vrrp_sync_groups: Vec<SyncGroup>,
    /// `[[table]]`: tracking tables, one copy of each per worker.
    pub tables: Vec<TableSpec>,
    /// DNS servers for runtime resolution (empty when no server needs it).
    pub resolvers: Resolvers,
    /// Service addresses announced through BIRD while this node is healthy.
    pub announce: Option<Announce>,
    /// `[mail]`: alert mails, sent by the control plane.
    pub mail: Option<Mail>,
    /// Things that are allowed but worth telling the operator, already formatted
    /// as `file:line:column: message`.
    pub warnings: Vec<String>,
}

/// `[[table]]`, validated: its name and the rule engine's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    pub config: crate::rules::TableConfig,
}

/// `[[frontend.error_page]]`: the raw response sent instead of ringlb's own for `status`.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub status: u16,
    pub response: std::sync::Arc<[u8]>,
}

impl Config {
    /// Whether `ip` is one of the virtual IPs or announced service addresses, which
    /// come and go (listeners on it need `IP_FREEBIND`).
    pub fn is_virtual_ip(&self, ip: std::net::IpAddr) -> bool {
        if self.announce.as_ref().is_some_and(|a| a.contains(ip)) {
            return true;
        }
        self.vrrp
            .iter()
            .any(|v| v.virtual_ips.iter().any(|(a, _)| *a == ip))
    }
}

#[derive(Debug, Clone)]
pub struct Global {
    /// Number of worker threads, resolved: 0 only without any frontend (the control
    /// plane alone, for `[vrrp]`).
    pub workers: usize,
    pub pin_workers: bool,
    pub max_connections: usize,
    pub admin_bind: Option<SocketAddr>,
    /// Bearer token the admin API requires, when set.
    pub admin_token: Option<String>,
    /// Users whose `Authorization: Basic` the admin API accepts (`admin_userlist`).
    pub admin_users: Option<std::sync::Arc<crate::rules::Userlist>>,
    /// `admin_write_groups`: the groups of `admin_users` allowed to change things.
    pub admin_write_groups: Option<Box<[Box<str>]>>,
    pub log_level: String,
    pub access_log: bool,
    pub grace_period: Duration,
    pub io_driver: IoDriver,
    /// Largest request head, request line included (431 beyond).
    pub max_header_bytes: usize,
    /// Most header fields in a request (431 beyond).
    pub max_headers: usize,
    /// Longest request line (414 beyond).
    pub max_request_line: usize,
    /// Largest request body; 0 = unlimited (413 beyond).
    pub max_body_bytes: u64,
    /// Where ringlb's own lines and the access log go (`global.log_target`).
    pub log_target: LogTarget,
    /// `global.syslog_copy`: another syslog target for ringlb's own lines at this
    /// level (`"error"`, `"warn"`, `"info"`, `"debug"`) and above.
    pub log_copy: Option<(crate::logging::syslog::Syslog, String)>,
    /// Whom to run as once every socket is bound (`global.user`/`group`).
    pub run_as: Option<RunAs>,
    /// `global.allow_root`: running as root without `user` is intended (no warning).
    pub allow_root: bool,
    /// `global.upgrade_socket`: `None` for the default (see `run::upgrade`), an empty
    /// path when binary upgrades are turned off.
    pub upgrade_socket: Option<std::path::PathBuf>,
    /// `global.upgrade_table_entries`: most tracking-table entries a binary upgrade
    /// carries over (the most recently used; 0: none).
    pub upgrade_table_entries: usize,
    /// `global.admin_socket`: HAProxy's runtime CLI on a Unix socket.
    pub admin_socket: Option<AdminSocket>,
}

/// A user and group, resolved when the file is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub user: String,
    pub uid: u32,
    pub group: String,
    pub gid: u32,
}

/// `global.log_target`: stderr (own lines) and stdout (access log), or syslog for both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LogTarget {
    #[default]
    Stderr,
    Syslog(crate::logging::syslog::Syslog),
}

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

#[derive(Debug, Clone)]
pub struct Backend {
    pub name: String,
    pub balance: Balance,
    /// What `uri`, `url_param` and `hdr` hash, and how.
    pub hash: HashSpec,
    /// The backend load at which servers with `min_connections` reach their
    /// `max_connections` (HAProxy's `fullconn`).
    pub full_connections: u32,
    pub max_queue: usize,
    pub check: HealthCheck,
    pub servers: Vec<Server>,
    pub timeout_connect: Duration,
    pub timeout_server: Duration,
    pub timeout_queue: Duration,
    pub timeout_tunnel: Option<Duration>,
    /// The server side's inactivity limit once a direction is closed (TCP relays and
    /// tunnels); `None`: `timeout_server` (or the tunnel's) still.
    pub timeout_server_fin: Option<Duration>,
    /// Connect attempts after the first one fails.
    pub retries: u32,
    /// The last retry goes to another server.
    pub redispatch: bool,
    /// TCP keep-alive probes on server connections (HAProxy's `option srvtcpka`).
    pub tcp_keepalive: bool,
    /// Which requests may go on an idle server connection (HTTP mode).
    pub http_reuse: HttpReuse,
    /// Idle server connections kept per server and worker (HTTP mode); 0: none;
    /// `None` (the default): as many as were in use at once recently.
    pub pool_max_connections: Option<usize>,
    /// An idle server connection unused this long is closed.
    pub pool_idle_timeout: Duration,
    /// Every this long, half of the idle server connections past the recent need
    /// are closed.
    pub pool_purge_delay: Duration,
    /// Consecutive proxy-side errors that mark a checked server down; 0 = off.
    pub error_limit: u32,
    /// A response head still awaited after this is a passive-health error of its
    /// server, when another server of the backend answered faster meanwhile.
    pub slow_response: Option<Duration>,
    /// Cookie persistence; `None`: off.
    pub cookie: Option<CookiePersist>,
    /// `[backend.compression]`: response compression; `None`: not set here.
    pub compression: Option<Compression>,
    /// The backend's own ACLs, request, response and `use_server` rules, run once a
    /// request is routed here (docs/rules.md); `None` without any.
    pub rules: Option<std::sync::Arc<crate::rules::RuleSet>>,
    /// For those rules: `nbsrv`'s backend numbers and `use_server`'s server numbers
    /// (configuration indexes) → indexes in the worker (slots, set by the worker).
    pub rule_backends: Vec<usize>,
    pub rule_servers: Vec<usize>,
}

impl Backend {
    /// The line `ringlb check` prints about this backend's rules; `None` without any.
    pub fn rule_summary(&self) -> Option<String> {
        let r = self.rules.as_ref()?;
        Some(format!(
            "backend {:?}: {} acl(s), {} http_rule(s), {} response_rule(s), {} use_server rule(s)",
            self.name,
            r.acls().len(),
            r.request_rules().len(),
            r.response_rules().len(),
            r.server_rules().len()
        ))
    }
}

impl Config {
    /// Read and validate a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| {
            ConfigErrors(vec![ConfigError::Read {
                file: file.clone(),
                source,
            }])
        })?;
        Self::parse(&text, &file)
    }

    /// Validate configuration text; `origin` names it in messages (usually the path).
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
        validate::parse(text, origin)
    }

    pub fn backend_index(&self, name: &str) -> Option<usize> {
        self.backends.iter().position(|b| b.name == name)
    }

    /// The one-line summary `ringlb check` prints for a valid file.
    pub fn summary(&self) -> String {
        let servers: usize = self.backends.iter().map(|b| b.servers.len()).sum();
        let binds: usize = self.frontends.iter().map(|f| f.binds.len()).sum();
        let vrrp: String = self
            .vrrp
            .iter()
            .map(|v| {
                format!(
                    ", virtual router {}{} on {} (priority {}, {} virtual IP(s))",
                    v.vrid,
                    if v.is_v6() { " (IPv6)" } else { "" },
                    v.interface,
                    v.priority,
                    v.virtual_ips.len()
                )
            })
            .collect();
        let tables = if self.tables.is_empty() {
            String::new()
        } else {
            format!(", {} table(s)", self.tables.len())
        };
        format!(
            "{} frontend(s) on {} address(es), {} backend(s), {} server(s), {} worker(s){tables}{vrrp}",
            self.frontends.len(),
            binds,
            self.backends.len(),
            servers,
            self.global.workers
        )
    }
}
