//! Raw configuration → [`Config`]: global (`validate_global.rs`), defaults and
//! frontends. Backends are in `validate_backend`. Problems are collected, not
//! returned early, so one `check` run shows every mistake in the file.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::{Range, RangeInclusive};
use std::time::Duration;

use super::error::{readable_shape_error, ConfigErrors, SourceMap};
use super::raw::{RawConfig, RawDefaults, S};
use super::{parse_duration, Config};

#[path = "validate_global.rs"]
mod global;

/// Built-in values for what `[defaults]` leaves out.
const TIMEOUT_CONNECT: Duration = Duration::from_secs(2);
const TIMEOUT_CLIENT: Duration = Duration::from_secs(30);
const TIMEOUT_SERVER: Duration = Duration::from_secs(30);
const TIMEOUT_HTTP_REQUEST: Duration = Duration::from_secs(10);
const TIMEOUT_HTTP_KEEP_ALIVE: Duration = Duration::from_secs(10);
const TIMEOUT_QUEUE: Duration = Duration::from_secs(2);
const TIMEOUT_CLIENT_HANDSHAKE: Duration = Duration::from_secs(5);

pub(super) fn parse(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
    let map = SourceMap { file: origin, text };
    let raw = deserialize_all(text).map_err(|errors| {
        ConfigErrors(errors.into_iter().map(|(s, m)| map.error(s, m)).collect())
    })?;
    let mut v = Validator {
        base: std::path::Path::new(origin)
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default(),
        ..Validator::default()
    };
    let mut config = v.config(&raw);
    if !v.errors.is_empty() {
        v.errors.sort_by_key(|(span, _)| span.start);
        return Err(ConfigErrors(
            v.errors.into_iter().map(|(s, m)| map.error(s, m)).collect(),
        ));
    }
    v.warnings.sort_by_key(|(span, _)| span.start);
    config.warnings = v
        .warnings
        .into_iter()
        .map(|(s, m)| map.error(s, m).to_string())
        .collect();
    Ok(config)
}

/// Most unknown keys reported in one run (a file with several typos is fixed in one
/// go, as `haproxy -c` reports every unknown keyword).
const MAX_UNKNOWN_KEYS: usize = 50;

/// [`deserialize`], reporting every unknown key of the file: serde stops at the first,
/// so its line is blanked (spaces keep every position) and the file read again, until
/// it reads or stops at another kind of error.
fn deserialize_all(text: &str) -> Result<RawConfig, Vec<(Range<usize>, String)>> {
    let mut errors = Vec::new();
    let mut copy: Option<String> = None;
    loop {
        let current = copy.as_deref().unwrap_or(text);
        let (span, message) = match deserialize(current) {
            Ok(raw) if errors.is_empty() => return Ok(raw),
            Ok(_) => return Err(errors),
            Err(e) => e,
        };
        let unknown = message.contains("unknown field");
        errors.push((span.clone(), message));
        if !unknown || errors.len() >= MAX_UNKNOWN_KEYS {
            return Err(errors);
        }
        let mut next = current.to_string();
        if !blank_line(&mut next, span.start) {
            return Err(errors);
        }
        copy = Some(next);
    }
}

/// Replace the line holding byte `at` with spaces (newlines and positions kept).
/// False when there is nothing left to blank there.
fn blank_line(text: &mut String, at: usize) -> bool {
    let at = at.min(text.len());
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    if text[start..end].trim().is_empty() {
        return false;
    }
    let spaces = " ".repeat(text[start..end].len());
    text.replace_range(start..end, &spaces);
    true
}

/// TOML syntax and shape errors (unknown key, wrong type) come from serde; the path
/// tracker adds the key path (`backend[0].server[1].wieght`) to toml's message.
fn deserialize(text: &str) -> Result<RawConfig, (Range<usize>, String)> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let span = inner.span().unwrap_or(0..0);
        let doc = toml::from_str::<toml::Table>(text).ok();
        let message = readable_shape_error(&path, inner.message().trim(), doc.as_ref());
        (span, message)
    })
}

/// Timeouts and retry policy after `[defaults]` is applied.
#[derive(Clone, Copy)]
pub(super) struct Defaults {
    pub timeout_connect: Duration,
    pub timeout_client: Duration,
    pub timeout_server: Duration,
    pub timeout_http_request: Duration,
    pub timeout_http_keep_alive: Duration,
    pub timeout_queue: Duration,
    pub timeout_tunnel: Option<Duration>,
    pub timeout_client_fin: Option<Duration>,
    pub timeout_server_fin: Option<Duration>,
    pub timeout_client_handshake: Duration,
    pub retries: u32,
    pub redispatch: bool,
    pub http_reuse: super::HttpReuse,
}

#[derive(Default)]
pub(super) struct Validator {
    pub errors: Vec<(Range<usize>, String)>,
    pub warnings: Vec<(Range<usize>, String)>,
    /// Relative paths in the file (certificates) are relative to its directory.
    pub base: std::path::PathBuf,
    /// The `[[userlist]]`s, for `http_auth` ACLs (set before frontends are validated).
    pub userlists: Vec<std::sync::Arc<crate::rules::Userlist>>,
    /// Map files read for `map_*` converters, each once per match kind.
    pub maps: super::validate_values::Maps,
}

impl Validator {
    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.errors.push((span, message.into()));
    }

    pub fn warn(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.warnings.push((span, message.into()));
    }

    /// A duration value, or `fallback` when absent or invalid (after recording the error).
    pub fn duration(
        &mut self,
        value: Option<&S<String>>,
        fallback: Duration,
        key: &str,
    ) -> Duration {
        let Some(value) = value else { return fallback };
        match parse_duration(value.get_ref()) {
            Ok(d) => d,
            Err(msg) => {
                self.error(value.span(), format!("{key}: {msg}"));
                fallback
            }
        }
    }

    pub fn optional_duration(&mut self, value: Option<&S<String>>, key: &str) -> Option<Duration> {
        value.map(|v| self.duration(Some(v), Duration::ZERO, key))
    }

    /// An integer that must lie in `range`; `default` when absent.
    pub fn int_in(
        &mut self,
        value: Option<&S<i64>>,
        default: i64,
        range: RangeInclusive<i64>,
        key: &str,
    ) -> i64 {
        let Some(value) = value else { return default };
        let n = *value.get_ref();
        if range.contains(&n) {
            n
        } else {
            self.error(
                value.span(),
                format!(
                    "{key} {n} is out of range {}..={}",
                    range.start(),
                    range.end()
                ),
            );
            default
        }
    }

    /// Names appear in logs, metrics labels and admin URLs: keep them plain.
    pub fn name(&mut self, name: &S<String>, what: &str) {
        let n = name.get_ref();
        let ok = !n.is_empty()
            && n.len() <= 64
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
        if !ok {
            self.error(
                name.span(),
                format!("{what} name {n:?} is invalid: use 1 to 64 letters, digits, '-', '_', '.' or ':'"),
            );
        }
    }

    fn config(&mut self, raw: &RawConfig) -> Config {
        let global = self.global(raw);
        let defaults = self.defaults(&raw.defaults);
        let mut backends = self.backends(&raw.backend, &defaults);
        let names: HashMap<&str, usize> = raw
            .backend
            .iter()
            .enumerate()
            .map(|(i, b)| (b.name.get_ref().as_str(), i))
            .collect();
        let tables = self.tables(&raw.table);
        let admin_users = self.userlists(raw);
        self.backend_rules(&raw.backend, &mut backends, &tables, &names);
        let mut frontends = self.frontends(&raw.frontend, &defaults, &names, &tables);
        let sends_proxy = backends
            .iter()
            .any(|b| b.servers.iter().any(|s| s.send_proxy.is_some()));
        let backend_rules = backends.iter().any(|b| b.rules.is_some());
        for f in &mut frontends {
            f.keeps_origin = sends_proxy;
            f.backend_rules = backend_rules;
        }
        self.global_log_format(raw, &mut frontends);
        if raw.frontend.is_empty() && raw.vrrp.is_none() {
            self.error(
                0..0,
                "no [[frontend]] and no [vrrp]: nothing to listen on and no virtual IP to hold",
            );
        }
        for (i, b) in raw.backend.iter().enumerate() {
            let used = frontends
                .iter()
                .any(|f| super::balance::frontend_uses(f, i));
            if !used && !frontends.is_empty() {
                self.warn(
                    b.name.span(),
                    format!("backend {:?} is not used by any frontend", b.name.get_ref()),
                );
            }
        }
        super::balance::default_full_connections(&mut backends, &frontends, global.max_connections);
        let (mut vrrp, mut vrrp_sync_groups) = self.vrrps(raw);
        self.scripts(raw, &global, &mut vrrp, &mut vrrp_sync_groups);
        let resolvers = self.resolvers(raw.resolvers.as_ref(), &backends);
        let announce = raw
            .announce
            .as_ref()
            .and_then(|a| self.announce(a, &frontends));
        let mail = self.mail(raw, &backends, &vrrp, &vrrp_sync_groups);
        let mut global = global;
        global.admin_write_groups = self.admin_write_groups(raw, admin_users.as_deref());
        global.admin_users = admin_users;
        if raw.frontend.is_empty() {
            global.workers = self.control_plane_alone(raw);
        }
        Config {
            global,
            frontends,
            backends,
            vrrp,
            vrrp_sync_groups,
            tables,
            resolvers,
            announce,
            mail,
            maps: self.maps_read(),
            warnings: Vec::new(),
        }
    }

    fn defaults(&mut self, d: &RawDefaults) -> Defaults {
        Defaults {
            timeout_connect: self.duration(
                d.timeout_connect.as_ref(),
                TIMEOUT_CONNECT,
                "defaults.timeout_connect",
            ),
            timeout_client: self.duration(
                d.timeout_client.as_ref(),
                TIMEOUT_CLIENT,
                "defaults.timeout_client",
            ),
            timeout_server: self.duration(
                d.timeout_server.as_ref(),
                TIMEOUT_SERVER,
                "defaults.timeout_server",
            ),
            timeout_http_request: self.duration(
                d.timeout_http_request.as_ref(),
                TIMEOUT_HTTP_REQUEST,
                "defaults.timeout_http_request",
            ),
            timeout_http_keep_alive: self.duration(
                d.timeout_http_keep_alive.as_ref(),
                TIMEOUT_HTTP_KEEP_ALIVE,
                "defaults.timeout_http_keep_alive",
            ),
            timeout_queue: self.duration(
                d.timeout_queue.as_ref(),
                TIMEOUT_QUEUE,
                "defaults.timeout_queue",
            ),
            timeout_tunnel: self
                .optional_duration(d.timeout_tunnel.as_ref(), "defaults.timeout_tunnel"),
            timeout_client_fin: self
                .optional_duration(d.timeout_client_fin.as_ref(), "defaults.timeout_client_fin"),
            timeout_server_fin: self
                .optional_duration(d.timeout_server_fin.as_ref(), "defaults.timeout_server_fin"),
            timeout_client_handshake: self.duration(
                d.timeout_client_handshake.as_ref(),
                TIMEOUT_CLIENT_HANDSHAKE,
                "defaults.timeout_client_handshake",
            ),
            retries: self.int_in(d.retries.as_ref(), 3, 0..=100, "defaults.retries") as u32,
            redispatch: d.redispatch.unwrap_or(true),
            http_reuse: d.http_reuse.unwrap_or_default(),
        }
    }

    pub fn socket_addr(&mut self, text: &S<String>, key: &str) -> Option<SocketAddr> {
        match text.get_ref().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.error(
                    text.span(),
                    format!(
                        "{key}: {:?} is not an address of the form IP:PORT (IPv6 as [::1]:80)",
                        text.get_ref()
                    ),
                );
                None
            }
        }
    }
}
