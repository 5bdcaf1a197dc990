//! What one worker owns, and its methods (those that record outcomes and the access
//! log are in `record.rs`, those that pick and lease servers in `state_servers.rs`):
//! its copy of the frontends and backends, the servers' state as this worker sees
//! it, a balancer per backend, its statistics, the connection gate, the idle server
//! connection pool, its relay buffers and its access log. Everything here is touched
//! by this worker's thread only; sessions reach it through these methods. Frontends
//! and backends are indexed by slot (see `msg::Slots`), so indexes held by open
//! connections survive a reload.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use futures_channel::mpsc::UnboundedSender;

use super::access::AccessLog;
use super::backend::{BackendState, Settings};
use super::buffers::Buffers;
use super::faults::Faults;
use super::listener::ListenerSlot;
use super::local::{Flag, Gate, GateTicket};
use super::pool::Pool;
use super::rules::RuleState;
use crate::config::{self, Config, Frontend, ServerTls};
use crate::http::Limits;
use crate::msg::stats::{BackendStats, FaultCounts, FrontendStats, WorkerStats};
use crate::msg::{Event, Slots};
use crate::tls::ServerStream;

/// Connections closed since the busiest moment of the last second that make the
/// heap worth trimming: a flood that ended, not the steady churn of a busy proxy.
const TRIM_AFTER_CLOSED: usize = 256;

#[path = "state_configure.rs"]
mod configure;
#[path = "state_servers.rs"]
mod servers;

pub struct Worker {
    id: usize,
    /// How many workers share the limits (`max_connections`, `max_queue`).
    workers: usize,
    /// By frontend slot; a removed frontend keeps its last configuration.
    frontends: RefCell<Vec<Rc<Frontend>>>,
    pub(super) frontend_stats: RefCell<Vec<FrontendStats>>,
    /// By backend slot.
    pub(super) backends: RefCell<Vec<BackendState>>,
    pub(super) gate: Rc<Gate>,
    /// Raised when the worker must stop accepting (shutdown, or an upgrade's release).
    pub(super) stopping: Flag,
    /// Raised by a shutdown (not by a release): idle keep-alive connections close now.
    pub(super) closing_idle: Flag,
    /// The ends of keep-alive hot waits, on the worker's tick (`hot_ticks.rs`).
    pub(super) hot: super::hot_ticks::HotTicks,
    /// A binary upgrade released the listening sockets: another process accepts on the
    /// same sockets, so stopping must not shut them down.
    pub(super) released: Cell<bool>,
    /// Accept loops still running (each ends once its cancelled accept completes).
    pub(super) accept_loops: Cell<usize>,
    /// Idle keep-alive connections to servers (HTTP mode).
    pool: Pool,
    http_limits: Cell<Limits>,
    /// 0 = unlimited.
    max_body_bytes: Cell<u64>,
    listeners: RefCell<Vec<ListenerSlot>>,
    /// To the control thread: passive health reports and statistics.
    events: UnboundedSender<Event>,
    /// With `global.access_log`: this worker's buffered access log.
    pub(super) access: Option<AccessLog>,
    buffers: Buffers,
    faults: Faults,
    /// Tracking tables and the rule engine's scratch space.
    rules: RefCell<RuleState>,
    /// Flags of servers with `on_marked_down = "shutdown_sessions"`, by (backend,
    /// server) slot: their sessions wait on them (see `kill.rs`).
    pub(super) kills: RefCell<std::collections::HashMap<(usize, usize), Rc<super::local::Flag>>>,
    /// Idle response compressors (`compress.rs`).
    pub(super) encoders: RefCell<Vec<crate::http::compress::Encoder>>,
}

impl Worker {
    pub fn new(
        id: usize,
        config: &Config,
        connection_limit: usize,
        events: UnboundedSender<Event>,
    ) -> Self {
        let worker = Worker {
            id,
            workers: config.global.workers.max(1),
            frontends: RefCell::new(Vec::new()),
            frontend_stats: RefCell::new(Vec::new()),
            backends: RefCell::new(Vec::new()),
            gate: Rc::new(Gate::new(connection_limit)),
            stopping: Flag::default(),
            closing_idle: Flag::default(),
            hot: Default::default(),
            released: Cell::new(false),
            accept_loops: Cell::new(0),
            pool: Pool::default(),
            http_limits: Cell::new(Limits::default()),
            max_body_bytes: Cell::new(0),
            events,
            listeners: RefCell::new(Vec::new()),
            access: None,
            buffers: Buffers::default(),
            faults: Faults::default(),
            rules: RefCell::new(RuleState::default()),
            kills: RefCell::default(),
            encoders: RefCell::new(Vec::new()),
        };
        worker.configure(config, &Slots::identity(config), None);
        worker
    }

    pub fn id(&self) -> usize {
        self.id
    }

    /// Tell the control thread (never waits).
    pub fn report(&self, event: Event) {
        let _ = self.events.unbounded_send(event);
    }

    // ---- The connection gate, listeners (stopping: stop.rs) ----

    pub fn open_connections(&self) -> usize {
        self.gate.open()
    }

    /// Resolves while this worker is below its share of `max_connections` and of
    /// frontend `fe`'s own; when at the global one, counts and logs (at most every
    /// 10 s) that accepting pauses. A connection of the frontend leaves its count
    /// before the gate, so the gate's wake-up sees it gone.
    pub async fn until_below_limit(&self, fe: usize) {
        if self.gate.open() >= self.gate.limit() {
            self.faults
                .limit_reached(self.id, self.gate.limit() * self.workers);
        }
        let fe_limit = match self.frontend(fe).max_connections {
            0 => u64::MAX,
            n => n.div_ceil(self.workers.max(1)) as u64,
        };
        let fe_open = || {
            let stats = self.frontend_stats.borrow();
            stats.get(fe).map_or(0, |s| s.current)
        };
        self.gate.wait_below_limit(|| fe_open() < fe_limit).await
    }

    /// Faults that are nobody's request (accept errors, ringlb's own shortages).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub async fn until_no_connections(&self) {
        self.gate.wait_empty().await
    }

    /// Count an accepted connection; the ticket uncounts it when dropped.
    pub fn admit(&self) -> GateTicket {
        self.gate.enter();
        GateTicket(Rc::clone(&self.gate))
    }

    pub fn add_listener(&self, slot: ListenerSlot) {
        self.listeners.borrow_mut().push(slot);
    }

    pub fn retain_listeners(&self, keep: impl FnMut(&ListenerSlot) -> bool) {
        self.listeners.borrow_mut().retain(keep);
    }

    // ---- Memory a session borrows: relay buffers and pooled server connections ----

    /// An empty relay buffer, reused when one is free (see [`Buffers`]).
    pub fn take_buffer(&self) -> Vec<u8> {
        self.buffers.take()
    }

    /// Give a relay buffer back; whatever it still holds is discarded.
    pub fn give_buffer(&self, buf: Vec<u8>) {
        self.buffers.give(buf);
    }

    /// An empty head buffer (an HTTP session's), reused when one is free.
    pub fn take_head(&self) -> Vec<u8> {
        self.buffers.take_head()
    }

    /// Give a head buffer back; whatever it still holds is discarded.
    pub fn give_head(&self, buf: Vec<u8>) {
        self.buffers.give_head(buf);
    }

    /// Give freed buffer memory back to the system. glibc keeps free chunks between
    /// live allocations resident; after a burst of busy connections turns idle that is
    /// most of the process's memory (HAProxy trims its pools for the same reason).
    /// Called off the request path, once a second at most, only after frees: buffers
    /// the pool could not keep or that went unused for a whole round ([`Buffers::settle`]:
    /// not while a steady load keeps using them, which trimming would make fault their
    /// pages back in), or many connections closed (each frees its memory, whichever path
    /// closed it) since the last round.
    pub fn trim_heap(&self) {
        let closed = self.gate.settle_peak();
        // (HTTP/2 streams' slots settle the same way: `h2/slot.rs`.)
        let freed = self.buffers.settle() + super::slot::settle();
        if freed > 0 || closed >= TRIM_AFTER_CLOSED {
            // SAFETY: malloc_trim has no preconditions; it only releases free memory.
            unsafe { libc::malloc_trim(0) };
        }
    }

    /// An idle connection to the server that passes its check (see [`Pool::take`]),
    /// counted as a reuse when there is one.
    pub fn pool_take(
        &self,
        backend: usize,
        server: usize,
        now: Instant,
        proven_only: bool,
    ) -> Option<ServerStream> {
        let used = self.in_use(backend, server);
        let stream = self.pool.take(backend, server, now, proven_only, used)?;
        self.count_reused(backend, server);
        Some(stream)
    }

    /// A request goes to `server` on a connection that carried one before.
    pub fn count_reused(&self, backend: usize, server: usize) {
        self.with_server(backend, server, |_, stats| stats.reused += 1);
    }

    /// Keep a server connection for reuse (see [`Pool::put`]).
    pub fn pool_put(
        &self,
        backend: usize,
        server: usize,
        stream: ServerStream,
        now: Instant,
        proven: bool,
    ) {
        let used = self.in_use(backend, server);
        let at = super::pool::Put { now, proven, used };
        self.pool.put(backend, server, stream, at);
    }

    /// Connections (or requests) on a server now, leased ones (see [`ServerLease`]).
    fn in_use(&self, backend: usize, server: usize) -> usize {
        let backends = self.backends.borrow();
        backends.get(backend).map_or(0, |b| b.in_use(server))
    }

    /// This worker's connections to `proto = "h2"` servers.
    pub(super) fn h2_conns(&self) -> &super::h2::ServerConns {
        self.pool.h2()
    }

    /// Close each pooled server connection as soon as data or EOF arrives on it
    /// (see [`Pool::watch`]); runs for the worker's life.
    pub async fn watch_pool(&self) {
        self.pool.watch().await
    }

    /// Close pooled server connections idle too long, and purge those past their
    /// servers' recent need (see [`Pool::sweep`]).
    pub fn sweep_pool(&self, now: Instant) {
        self.pool.sweep(now, |b, s| self.in_use(b, s));
    }

    // ---- What sessions read of the configuration ----

    /// The frontend of `slot` as configured now.
    pub fn frontend(&self, slot: usize) -> Rc<Frontend> {
        Rc::clone(&self.frontends.borrow()[slot])
    }

    pub fn with_frontend_stats(&self, slot: usize, f: impl FnOnce(&mut FrontendStats)) {
        if let Some(s) = self.frontend_stats.borrow_mut().get_mut(slot) {
            f(s);
        }
    }

    /// The tables and scratch space of the rule engine (never held across an await).
    pub fn with_rules<R>(&self, f: impl FnOnce(&mut RuleState) -> R) -> R {
        f(&mut self.rules.borrow_mut())
    }

    /// Count the rules that acted (`hits`, numbered from `base`) for frontend `slot`.
    pub fn count_rule_hits(&self, slot: usize, base: usize, hits: &[u32]) {
        if !hits.is_empty() {
            self.with_frontend_stats(slot, |s| s.count_rule_hits(base, hits));
        }
    }

    pub fn http_limits(&self) -> Limits {
        self.http_limits.get()
    }

    /// `global.max_body_bytes`; 0 = unlimited.
    pub fn max_body_bytes(&self) -> u64 {
        self.max_body_bytes.get()
    }

    /// The backend's `tcp_keepalive`: SO_KEEPALIVE on each new server connection.
    pub fn backend_tcp_keepalive(&self, backend: usize) -> bool {
        self.backends.borrow()[backend].config.tcp_keepalive
    }

    pub fn backend_settings(&self, backend: usize) -> Settings {
        self.backends.borrow()[backend].settings()
    }

    pub fn backend_name(&self, backend: usize) -> String {
        self.backends.borrow()[backend].config.name.clone()
    }

    pub fn server_name(&self, backend: usize, server: usize) -> String {
        self.backends.borrow()[backend].config.servers[server]
            .name
            .clone()
    }

    /// The server's `send_proxy`: a PROXY header goes first on each connection.
    pub fn server_send_proxy(
        &self,
        backend: usize,
        server: usize,
    ) -> Option<crate::proxy_protocol::Version> {
        self.backends.borrow()[backend].config.servers[server].send_proxy
    }

    /// The server's `proto`: HTTP/1.1 or HTTP/2.
    pub fn server_proto(&self, backend: usize, server: usize) -> config::ServerProto {
        self.backends.borrow()[backend].config.servers[server].proto
    }

    pub fn server_tls(&self, backend: usize, server: usize) -> Option<Arc<ServerTls>> {
        self.backends.borrow()[backend].config.servers[server]
            .tls
            .clone()
    }

    /// A copy of this worker's statistics.
    pub fn snapshot(&self) -> WorkerStats {
        WorkerStats {
            tables: self.rules.borrow().views(),
            ..self.copy(BackendState::stats)
        }
    }

    /// The history's sample: the counters, without the tracking tables nor the
    /// servers' fine latency histograms (the history reads the coarse buckets).
    pub fn counters(&self) -> WorkerStats {
        self.copy(BackendState::sample)
    }

    fn copy(&self, backend: fn(&BackendState) -> BackendStats) -> WorkerStats {
        WorkerStats {
            worker: self.id,
            frontends: self.frontend_stats.borrow().clone(),
            backends: self
                .backends
                .borrow()
                .iter()
                .enumerate()
                .map(|(b, state)| BackendStats {
                    idle: self.pool.idle_counts(b),
                    ..backend(state)
                })
                .collect(),
            faults: FaultCounts {
                log_lines_dropped: self.access.as_ref().map_or(0, |a| a.dropped.get()),
                pooled_buffer_bytes: self.buffers.pooled_bytes(),
                ..self.faults.counts()
            },
            tables: Vec::new(),
        }
    }
}
