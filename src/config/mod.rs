//! Configuration: TOML text → raw serde structs (`raw`) → a validated [`Config`]
//! (`validate*`). Validation applies defaults and `[defaults]` inheritance, resolves
//! names to indexes and reports every problem it finds with
//! `file:line:column: key path: message`.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the validated [`Config`] (tables, error pages), `load`, `parse`, `summary`; re-exports the types below |
//! | `global.rs` | the validated `[global]` types ([`Global`], [`RunAs`], [`LogTarget`]) |
//! | `frontend.rs` | the validated frontend types ([`Frontend`], [`FrontendTls`], [`SniRoute`], [`Steering`], [`Route`], [`Redirect`]) |
//! | `backend.rs` | the validated [`Backend`] |
//! | `raw_vrrp.rs` | the `[vrrp]` / `[[vrrp]]` and `[[vrrp_sync_group]]` keys as written |
//! | `server.rs` | the validated server types ([`Server`], [`ServerProto`], [`Resolve`], [`ServerTls`]) and the backend's [`CookiePersist`] |
//! | `raw.rs` | the file as written: serde structs mirroring the TOML, spans kept for messages |
//! | `raw_backend.rs` | the `[[backend]]` keys as written: servers, checks, hashing, cookies, compression |
//! | `validate.rs` | the validator: entry point, `[defaults]`, shared checks (durations, ranges, names, addresses) |
//! | `validate_global.rs` | `[global]`: workers, limits, admin listener, log level, upgrade socket (a child of `validate.rs`) |
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
//! | `duration.rs` | duration strings (`"500ms"`, `"1m30s"`) → [`Duration`](std::time::Duration) |
//! | `error.rs` | [`ConfigError`]s, each naming file, line, column and key |

mod backend;
mod balance;
mod check;
mod duration;
mod error;
mod frontend;
mod global;
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

use std::path::Path;

pub use backend::Backend;
pub use balance::{dynamic_limits, HashFunction, HashSpec};
pub use check::{Agent, CheckTls, HealthCheck, ServerProbe, StatusSet, Step};
pub use duration::parse_duration;
pub use error::{ConfigError, ConfigErrors};
pub use frontend::{Frontend, FrontendTls, ProxyProtocolIn, Redirect, Route, SniRoute, Steering};
pub use global::{Global, LogTarget, RunAs};
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
    /// The map files the rules' values read (`map_*` converters), by name; shared
    /// read-only by the rule sets that use them.
    pub maps: Vec<std::sync::Arc<crate::rules::Map>>,
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
