//! The validated [`Backend`] and its rule summary.

use std::time::Duration;

use super::{Balance, Compression, CookiePersist, HashSpec, HealthCheck, HttpReuse, Server};

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
