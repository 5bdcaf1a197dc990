//! One backend as a worker sees it ([`BackendState`]): its configuration, its servers'
//! state and statistics by slot, its balancer and its queue; what happened when a
//! server was used ([`Outcome`]); and the pure helpers a configuration is applied
//! with (`backend_configure.rs`). The `Worker` methods about one backend borrow it
//! and call these.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::queue::Queue;
use super::upstream::RetryPolicy;
use crate::config;
use crate::lb::{self, Balancer, Pick, ServerState};
use crate::msg::stats::{count_status, record_latency, BackendStats, ServerStats};
pub use configure::{configure_backends, slotted_frontend};

#[path = "backend_configure.rs"]
mod configure;

/// One backend as this worker sees it. `config.servers`, `servers` and `stats` are
/// indexed by server slot; a removed server keeps its slot, never usable again.
pub struct BackendState {
    pub config: config::Backend,
    pub servers: Vec<ServerState>,
    pub stats: Vec<ServerStats>,
    /// Requests refused because no server was usable.
    pub no_server: u64,
    pub balancer: Box<dyn Balancer>,
    /// Requests waiting for a server slot.
    pub queue: Queue,
    /// Bumped whenever which servers are candidates may have changed (see `Pick::epoch`).
    pub epoch: u64,
    /// This worker's seed for the backend's balancers.
    seed: u64,
    /// How many workers share the limits (`max_connections`, `max_queue`).
    workers: usize,
    /// With `slow_response`: when each server last answered within it, by slot.
    last_fast: Vec<Option<Instant>>,
    /// Servers with `min_connections`: this worker's share of each one's
    /// `(min_connections, max_connections)` by slot, and of `full_connections`;
    /// empty when no server has a dynamic limit.
    dynamic: Vec<(u32, u32)>,
    full: u32,
    /// Active connections on all servers of the backend (with `dynamic`).
    load: u32,
}

/// What a session reads of its backend's configuration, copied out so that it holds
/// no borrow across an `await`.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub retry: RetryPolicy,
    pub timeout_connect: Duration,
    pub timeout_server: Duration,
    pub timeout_tunnel: Option<Duration>,
    pub timeout_server_fin: Option<Duration>,
    pub slow_response: Option<Duration>,
    pub http_reuse: config::HttpReuse,
}

/// What the balancer said.
pub enum Choice {
    Server(usize),
    /// Usable servers exist but all are at their limit (or others wait already).
    Full,
    NoServer,
}

/// What happened when a server was used.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    /// TCP mode: connected, `latency` after the session began.
    Connected(Duration),
    /// HTTP mode: the final response head arrived after `latency`, at `at` (the clock
    /// read that gave `latency`: the balancer's estimate and `slow_response` need no
    /// other).
    Response {
        status: u16,
        latency: Duration,
        at: Instant,
    },
    /// A connect attempt failed or timed out.
    ConnectFailed,
    /// The response timed out, was malformed or was cut short.
    ResponseFailed,
    /// No response head after `slow_response` while another server answered faster:
    /// a passive-health error (the request still waits, up to `timeout_server`).
    Slow,
}

impl BackendState {
    /// A backend slot seen for the first time; [`BackendState::configure`] fills it.
    pub fn new(b: &config::Backend, seed: u64, workers: usize) -> BackendState {
        BackendState {
            config: b.clone(),
            servers: Vec::new(),
            stats: Vec::new(),
            no_server: 0,
            balancer: lb::backend_balancer(b, 0, seed),
            queue: Default::default(),
            epoch: 0,
            seed,
            workers,
            last_fast: Vec::new(),
            dynamic: Vec::new(),
            full: 0,
            load: 0,
        }
    }

    /// With `slow_response`: note that `server` answered within it.
    pub fn note_latency(&mut self, server: usize, latency: Duration, at: Instant) {
        let Some(limit) = self.config.slow_response else {
            return;
        };
        if latency < limit {
            if self.last_fast.len() <= server {
                self.last_fast.resize(server + 1, None);
            }
            self.last_fast[server] = Some(at);
        }
    }

    /// A response from `server`, asked for at `since`, is still awaited after
    /// `slow_response`: whether another usable server answered within the limit since
    /// then. Only then is the slow one at fault (when every server is slow, the load
    /// or the application is, and taking servers out would make it worse).
    pub fn others_faster(&self, server: usize, since: Instant) -> bool {
        self.last_fast.iter().enumerate().any(|(s, at)| {
            s != server
                && at.is_some_and(|at| at >= since)
                && self.servers.get(s).is_some_and(ServerState::usable)
        })
    }

    pub fn settings(&self) -> Settings {
        let b = &self.config;
        Settings {
            retry: RetryPolicy {
                retries: b.retries,
                redispatch: b.redispatch,
            },
            timeout_connect: b.timeout_connect,
            timeout_server: b.timeout_server,
            timeout_tunnel: b.timeout_tunnel,
            timeout_server_fin: b.timeout_server_fin,
            slow_response: b.slow_response,
            http_reuse: b.http_reuse,
        }
    }

    /// Ask the balancer for a server. `hash`: the request's key hash (`uri`, `hdr`...).
    /// `queued`: the caller was just woken from the queue (newcomers queue behind
    /// waiters).
    pub fn pick(
        &mut self,
        avoid: Option<usize>,
        (client, hash): (IpAddr, Option<u32>),
        queued: bool,
        now: Instant,
    ) -> Choice {
        if queued {
            self.queue.resumed();
        } else if self.queue.busy() {
            return Choice::Full;
        }
        let pick = Pick {
            avoid,
            client: Some(client),
            hash,
            now,
            epoch: self.epoch,
        };
        match self.balancer.pick(&self.servers, &pick) {
            Some(s) => Choice::Server(s),
            None if self.servers.iter().any(|s| s.usable()) => Choice::Full,
            None => {
                self.no_server += 1;
                Choice::NoServer
            }
        }
    }

    /// Count one more active connection on `server` if it is usable and has room;
    /// its address.
    pub fn lease(&mut self, server: usize) -> Option<SocketAddr> {
        self.servers
            .get(server)
            .filter(|s| s.usable() && s.has_room())?;
        Some(self.take(server))
    }

    /// One more active connection on `server` (which has room); its address.
    fn take(&mut self, server: usize) -> SocketAddr {
        let state = &mut self.servers[server];
        state.active += 1;
        if state.limit > 0 && state.active == state.limit {
            self.epoch += 1; // now full: no longer a candidate
        }
        self.balancer.active_changed(server, &self.servers);
        self.load_changed(1);
        self.config.servers[server].address
    }

    /// With dynamic limits: the backend's load (active connections, up or down by
    /// `up`, and waiters) changed; each limit follows it (a server that gains or
    /// loses room changes the candidates). True when a server gained room.
    fn load_changed(&mut self, up: i32) -> bool {
        if self.dynamic.is_empty() {
            return false;
        }
        self.load = self.load.saturating_add_signed(up);
        let load = self.load.saturating_add(self.queue.len() as u32);
        let mut gained = false;
        for (s, &(min, max)) in self.servers.iter_mut().zip(&self.dynamic) {
            if min == 0 {
                continue;
            }
            let before = s.has_room();
            s.limit = lb::dynamic_limit(min, max, self.full, load);
            if s.has_room() != before {
                self.epoch += 1;
                gained |= !before;
            }
        }
        gained
    }

    /// A request just joined the queue: with dynamic limits the load grew, and a
    /// server may have room for the first waiter now.
    pub fn joined(&mut self) {
        if self.load_changed(0) {
            self.wake_next();
        }
    }

    /// Like [`BackendState::lease`] for a request whose persistence cookie names
    /// `server`: a draining server (admin drain or weight 0) still takes it, as in
    /// HAProxy; a server down, in maintenance or full does not.
    pub fn lease_sticky(&mut self, server: usize) -> Option<SocketAddr> {
        self.servers
            .get(server)
            .filter(|s| s.persistable() && s.has_room())?;
        Some(self.take(server))
    }

    /// A runtime-resolved server's new address (DNS).
    pub fn set_address(&mut self, server: usize, addr: SocketAddr) {
        if let Some(s) = self.config.servers.get_mut(server) {
            s.address = addr;
        }
    }

    /// Active connections (or attempts, or requests) on `server` now.
    pub fn in_use(&self, server: usize) -> usize {
        self.servers.get(server).map_or(0, |s| s.active as usize)
    }

    /// Give back one active connection of `server`.
    pub fn release(&mut self, server: usize) {
        let Some(s) = self.servers.get_mut(server) else {
            return;
        };
        let was_full = s.limit > 0 && s.active >= s.limit;
        s.active = s.active.saturating_sub(1);
        if was_full && s.has_room() {
            self.epoch += 1; // a candidate again
        }
        self.balancer.active_changed(server, &self.servers);
        self.load_changed(-1);
    }

    /// A slot may have freed up: wake the first waiter if a server has room, or every
    /// waiter if no server is usable at all (they get their 503 now).
    pub fn wake_next(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        if !self.servers.iter().any(|s| s.usable()) {
            self.queue.wake_all();
            return;
        }
        let c = lb::candidates(&self.servers, None);
        if self
            .servers
            .iter()
            .enumerate()
            .any(|(i, s)| c.contains(i, s))
        {
            self.queue.wake_first();
        }
    }

    /// A copy of this backend's statistics.
    pub fn stats(&self) -> BackendStats {
        self.stats_with(ServerStats::clone)
    }

    /// [`BackendState::stats`] for the history's sample (no fine latency histograms).
    pub fn sample(&self) -> BackendStats {
        self.stats_with(ServerStats::sample_copy)
    }

    fn stats_with(&self, copy: fn(&ServerStats) -> ServerStats) -> BackendStats {
        BackendStats {
            no_server: self.no_server,
            queue_current: self.queue.len() as u64,
            queued: self.queue.queued,
            queue_timeouts: self.queue.timeouts,
            queue_full: self.queue.full,
            servers: self.stats.iter().map(copy).collect(),
            active: self.servers.iter().map(|s| s.active).collect(),
            // Filled by the worker, which holds the pool (`WorkerState::copy`).
            idle: Vec::new(),
        }
    }

    /// Whether passive health (`error_limit`) watches `server`.
    pub fn passive(&self, server: usize) -> bool {
        self.config.error_limit > 0 && self.config.servers.get(server).is_some_and(|s| s.check)
    }
}

/// Count `outcome` in a server's statistics and latency estimate. Returns the server's
/// new run of errors in a row when it changed.
pub fn count(outcome: Outcome, state: &mut ServerState, stats: &mut ServerStats) -> Option<u32> {
    let failed = match outcome {
        Outcome::Connected(latency) => {
            stats.requests += 1;
            record_latency(&mut stats.latency, latency);
            stats.latency_buckets.record(latency);
            false
        }
        Outcome::Response {
            status,
            latency,
            at,
        } => {
            stats.requests += 1;
            count_status(&mut stats.responses, status);
            record_latency(&mut stats.latency, latency);
            stats.latency_buckets.record(latency);
            state.latency.observe(latency, at);
            // HAProxy's layer-7 observation: 5xx but 501 and 505 are errors.
            status >= 500 && status != 501 && status != 505
        }
        Outcome::ConnectFailed => {
            stats.connect_errors += 1;
            true
        }
        Outcome::ResponseFailed => {
            stats.response_errors += 1;
            true
        }
        Outcome::Slow => {
            stats.slow_responses += 1;
            true
        }
    };
    let before = stats.error_streak;
    stats.error_streak = if failed { before + 1 } else { 0 };
    (before != stats.error_streak).then_some(stats.error_streak)
}

/// This worker's share of a limit split across `workers`: at least 1 each (so a small
/// limit may be exceeded by up to `workers - 1` in all); 0 stays 0 (no limit / no queue).
pub fn share(limit: usize, workers: usize) -> usize {
    if limit == 0 {
        0
    } else {
        (limit / workers.max(1)).max(1)
    }
}
