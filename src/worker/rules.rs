//! The rule engine on a worker (docs/rules.md): the worker's tracking tables and
//! scratch space, connection rules at accept, request rules after a head is parsed,
//! response rules, and the responses rules answer with, written into the session's
//! reused head buffer (`rules_answer.rs`).

use std::net::SocketAddr;
use std::time::Instant;

use super::backend::BackendState;
use super::route::{Action, Answer};
use super::state::Worker;
use crate::config::{Frontend, TableSpec};
use crate::http::edit;
use crate::lb::ServerState;
use crate::msg::stats::{TableView, TABLE_TOP};
use crate::msg::tables::SavedTable;
use crate::rules::{
    ConnState, Counter, Edit, Facts, HeaderEdit, HeaderOp, Scratch, Slots, Table, UpServers,
};
pub use answer::answer_of;

#[path = "rules_answer.rs"]
mod answer;

/// What request rules need of their connection: what it is tracked in (connection
/// rules), the local port it came to, and what its TLS handshake said (only kept
/// when the frontend has rules).
#[derive(Debug, Clone, Default)]
pub struct RuleConn {
    pub state: ConnState,
    pub dst_port: u16,
    pub sni: Option<Box<str>>,
    pub alpn: Option<Box<[u8]>>,
}

/// What a worker keeps for rules: its tables (in the configuration's order, kept
/// across reloads while a table's key kind is unchanged) and one scratch space.
pub struct RuleState {
    pub tables: Vec<Table>,
    names: Vec<String>,
    pub scratch: Scratch,
    start: Instant,
}

impl Default for RuleState {
    fn default() -> Self {
        RuleState {
            tables: Vec::new(),
            names: Vec::new(),
            scratch: Scratch::default(),
            // An hour back: entries handed over by an upgrade keep their ages.
            start: Instant::now()
                .checked_sub(std::time::Duration::from_secs(3600))
                .unwrap_or_else(Instant::now),
        }
    }
}

impl RuleState {
    /// Milliseconds since the worker started (the tables' clock).
    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// What the admin API shows of each table (off the request path: a snapshot).
    pub fn views(&self) -> Vec<TableView> {
        let now = self.now_ms();
        self.names
            .iter()
            .zip(&self.tables)
            .map(|(name, t)| {
                let stats = t.stats();
                TableView {
                    name: name.clone(),
                    entries: t.len(),
                    top: t
                        .top(TABLE_TOP, Counter::HttpReqRate, now)
                        .into_iter()
                        .map(|(k, c)| (k.to_string(), c))
                        .collect(),
                    evicted: stats.evicted,
                    expired: stats.expired,
                    refused: stats.refused,
                }
            })
            .collect()
    }

    /// Drop the entries of every table idle past its `expire` (the once-a-second
    /// sweep; `track` drops a few on the way too).
    pub fn expire(&mut self) {
        let now = self.now_ms();
        for t in &mut self.tables {
            t.expire(now);
        }
    }

    /// Drop the entry `key` (as the admin API spells it) of table `name`; whether it
    /// was there.
    pub fn clear(&mut self, name: &str, key: &str) -> bool {
        let Some(i) = self.names.iter().position(|n| n == name) else {
            return false;
        };
        let table = &mut self.tables[i];
        let kind = table.config().key.clone();
        match kind.parse_key(key) {
            Ok(k) => table.remove(k),
            Err(_) => false,
        }
    }

    /// A binary upgrade: every table's entries, at most `max` each.
    pub fn save(&self, max: usize) -> Vec<SavedTable> {
        let now = self.now_ms();
        self.names
            .iter()
            .zip(&self.tables)
            .map(|(name, t)| {
                let entries = t.save(now, max);
                SavedTable {
                    name: name.clone(),
                    left_out: t.len().saturating_sub(entries.len()),
                    entries,
                }
            })
            .collect()
    }

    /// A binary upgrade's new process: the old process's entries, into the tables of
    /// the same name; how many went in and how many did not fit (no such table, a key
    /// of another kind, a table full of entries in use).
    pub fn restore(&mut self, saved: &[SavedTable]) -> (usize, usize) {
        let now = self.now_ms();
        let (mut done, mut left) = (0, 0);
        for s in saved {
            let Some(i) = self.names.iter().position(|n| *n == s.name) else {
                left += s.entries.len();
                continue;
            };
            for e in &s.entries {
                if self.tables[i].restore(e, now) {
                    done += 1;
                } else {
                    left += 1;
                }
            }
        }
        (done, left)
    }

    /// A new configuration's tables: a table of the same name and key kind keeps its
    /// entries and counters.
    pub fn configure(&mut self, specs: &[TableSpec]) {
        let mut old: Vec<(String, Table)> = std::mem::take(&mut self.names)
            .into_iter()
            .zip(std::mem::take(&mut self.tables))
            .collect();
        for s in specs {
            let kept = old
                .iter()
                .position(|(n, t)| *n == s.name && t.config().key == s.config.key)
                .map(|i| old.swap_remove(i).1)
                .and_then(|mut t| t.reconfigure(s.config.clone()).ok().map(|_| t));
            let table = match kept {
                Some(t) => t,
                // Validated with the configuration: cannot fail.
                None => match Table::new(s.config.clone()) {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::error!("table {:?}: {e}", s.name);
                        continue;
                    }
                },
            };
            self.names.push(s.name.clone());
            self.tables.push(table);
        }
    }
}

/// Connection rules at accept. `None`: rejected (close at once). The state returned
/// must be closed with [`close`] when the connection ends.
pub fn on_connect(
    w: &Worker,
    fe: usize,
    frontend: &Frontend,
    peer: SocketAddr,
    dst_port: u16,
) -> Option<ConnState> {
    let mut cs = ConnState::default();
    let Some(rs) = frontend.rules.as_deref() else {
        return Some(cs);
    };
    if rs.connection_rules().is_empty() {
        return Some(cs);
    }
    w.with_rules(|st| {
        let now = st.now_ms();
        let facts = Facts::connection(peer.ip(), dst_port);
        let out = with_backends(w, &frontend.rule_backends, &facts, |f| {
            rs.on_connect(f, &mut st.tables, &mut cs, &mut st.scratch, now)
        });
        w.count_rule_hits(fe, 0, out.hits);
        if out.reject {
            cs.close(&mut st.tables, now);
            None
        } else {
            Some(cs)
        }
    })
}

/// The connection ended: its tracked entries' `conn_cur` go down.
pub fn close(w: &Worker, cs: &mut ConnState) {
    if cs.tracked.iter().any(Option::is_some) {
        w.with_rules(|st| {
            let now = st.now_ms();
            cs.close(&mut st.tables, now);
        });
    }
}

/// A 4xx/5xx answered to a request tracked in `tracked`.
pub fn count_error(w: &Worker, tracked: &Slots) {
    if tracked.iter().any(Option::is_some) {
        w.with_rules(|st| {
            let now = st.now_ms();
            crate::rules::count_error(&mut st.tables, tracked, now);
        });
    }
}

/// What request rules decided.
#[derive(Debug, Default)]
pub struct ReqDecision {
    /// Answered by a rule: the response is in `head`.
    pub answer: Option<Answer>,
    /// `use_backend`: the backend's slot.
    pub backend: Option<usize>,
    pub tracked: Slots,
    /// The rule that gave the verdict, in the frontend's hit numbering.
    pub rule: Option<usize>,
    /// The request is forwarded: its head for the server is in `head`, edited.
    pub written: bool,
}

/// Request rules on a parsed head. An answer is written into `head`; `keep`: the
/// connection may stay open after an answer (keep-alive and no request body). When
/// the request goes to a backend (`route` says so, or a `use_backend` rule does
/// unless `route` redirects), `upstream` writes its head into `head` and the rules'
/// edits are applied to it, in rule order.
#[allow(clippy::too_many_arguments)]
pub fn on_request(
    w: &Worker,
    fe: usize,
    frontend: &Frontend,
    cs: &ConnState,
    facts: &Facts<'_>,
    head: &mut Vec<u8>,
    keep: bool,
    route: &Action,
    upstream: impl FnOnce(&mut Vec<u8>),
) -> ReqDecision {
    let Some(rs) = frontend.rules.as_deref() else {
        return ReqDecision::default();
    };
    let base = rs.connection_rules().len();
    w.with_rules(|st| {
        let now = st.now_ms();
        let out = with_backends(w, &frontend.rule_backends, facts, |f| {
            rs.on_request(f, &mut st.tables, cs, &mut st.scratch, now)
        });
        w.count_rule_hits(fe, base, out.hits());
        let mut d = ReqDecision {
            tracked: out.tracked,
            rule: out.rule.map(|r| base + r),
            backend: out
                .backend
                .and_then(|(_, b)| frontend.rule_backends.get(b as usize).copied()),
            answer: None,
            written: false,
        };
        let forwards = out.forwards()
            && match route {
                Action::Backend(_) => true,
                Action::Redirect(_) => false,
                _ => d.backend.is_some(),
            };
        if forwards {
            upstream(head);
            apply_edits(head, out.edits());
            d.written = true;
        }
        d.answer = answer_of(out.verdict, frontend, head, keep);
        d
    })
}

/// The edits of request rules, in rule order, on the head written for the server.
pub fn apply_edits<'s>(head: &mut Vec<u8>, edits: impl Iterator<Item = Edit<'s>>) {
    for e in edits {
        match e {
            Edit::Header(h, value) => apply_header(head, h, value),
            Edit::Path(p) => edit::replace_path(head, p),
        }
    }
}

/// A header edit, with its value (rendered when it has a format), on a head written
/// for the other side.
pub fn apply_header(head: &mut Vec<u8>, e: &HeaderEdit, value: &[u8]) {
    match e.op {
        HeaderOp::Del => {
            edit::remove_fields(head, e.name.as_bytes());
        }
        HeaderOp::Set => {
            edit::remove_fields(head, e.name.as_bytes());
            edit::append_field(head, e.name.as_bytes(), value);
        }
        HeaderOp::Add => edit::append_field(head, e.name.as_bytes(), value),
    }
}

/// Run an evaluation on `facts` with the worker's view of its backends (for `nbsrv`),
/// borrowed only while it runs.
pub(super) fn with_backends<R>(
    w: &Worker,
    slots: &[usize],
    facts: &Facts<'_>,
    eval: impl FnOnce(&Facts<'_>) -> R,
) -> R {
    let backends = w.backends.try_borrow().ok();
    let up = backends.as_deref().map(|backends| Up { slots, backends });
    let mut facts = *facts;
    facts.backends = up.as_ref().map(|u| u as &dyn UpServers);
    eval(&facts)
}

/// What `nbsrv()` reads: the worker's own view of each backend's servers (kept up to
/// date by the control thread's messages), through the frontend's rule numbering
/// (or a backend's).
struct Up<'a> {
    slots: &'a [usize],
    backends: &'a [BackendState],
}

impl std::fmt::Debug for Up<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Up").field("slots", &self.slots).finish()
    }
}

impl UpServers for Up<'_> {
    fn up(&self, backend: u32) -> Option<u32> {
        let slot = *self.slots.get(backend as usize)?;
        Some(nbsrv(&self.backends.get(slot)?.servers))
    }
}

/// HAProxy's `nbsrv`: the usable active servers, or when there are none the usable
/// backups.
pub fn nbsrv(servers: &[ServerState]) -> u32 {
    let count = |backup: bool| {
        servers
            .iter()
            .filter(|s| s.backup == backup && s.usable())
            .count() as u32
    };
    match count(false) {
        0 => count(true),
        n => n,
    }
}

/// Response rules on the final response head from a server (written for the client
/// in `head`, before any body byte is appended): the edits of every rule whose
/// condition holds, in order.
pub fn on_response(
    w: &Worker,
    fe: usize,
    frontend: &Frontend,
    facts: &Facts<'_>,
    tracked: &Slots,
    head: &mut Vec<u8>,
) {
    let Some(rs) = frontend.rules.as_deref() else {
        return;
    };
    if rs.response_rules().is_empty() {
        return;
    }
    let base = rs.connection_rules().len() + rs.request_rules().len();
    w.with_rules(|st| {
        let now = st.now_ms();
        let out = with_backends(w, &frontend.rule_backends, facts, |f| {
            rs.on_response(f, &st.tables, tracked, &mut st.scratch, now)
        });
        w.count_rule_hits(fe, base, out.hits());
        for (e, value) in out.edits() {
            apply_header(head, e, value);
        }
    });
}
