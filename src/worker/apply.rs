//! How a worker takes what the control thread sends (a configuration, a server's new
//! state, a request for statistics) and what it reports back (outcomes that count for
//! passive health). All of it runs between requests on the worker's own thread.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::state::{BackendState, Worker};
use crate::msg::stats::{count_status, record_latency, BackendStats, WorkerStats};
use crate::config::Config;
use crate::msg::{Event, SetServer, Slots};
use crate::http::Limits;
use crate::lb::{self, Admin, ServerState};

/// What happened when a server was used.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    /// TCP mode: connected, `latency` after the session began.
    Connected(Duration),
    /// HTTP mode: the final response head arrived after `latency`.
    Response { status: u16, latency: Duration },
    /// A connect attempt failed or timed out.
    ConnectFailed,
    /// The response timed out, was malformed or was cut short.
    ResponseFailed,
}

impl Worker {
    /// Take a configuration (the first, or a reload) laid out by `slots`. State of
    /// servers that stay (connection counts, latency, statistics) is kept; slots that
    /// left the configuration stay as tombstones that take no traffic. `servers` is the
    /// control thread's state for each server of the new configuration.
    pub fn configure(&self, config: &Config, slots: &Slots, servers: Option<&[Vec<SetServer>]>) {
        {
            let mut fronts = self.frontends.borrow_mut();
            let mut stats = self.frontend_stats.borrow_mut();
            stats.resize_with(slots.frontend_slots, Default::default);
            for (i, fe) in config.frontends.iter().enumerate() {
                let mut fe = fe.clone();
                fe.default_backend = fe.default_backend.map(|b| slots.backends[b]);
                for r in &mut fe.routes {
                    r.backend = slots.backends[r.backend];
                }
                let slot = slots.frontends[i];
                if slot < fronts.len() {
                    fronts[slot] = Rc::new(fe);
                } else {
                    fronts.push(Rc::new(fe));
                }
            }
        }
        let g = &config.global;
        self.http_limits.set(Limits {
            max_request_line: g.max_request_line,
            max_header_bytes: g.max_header_bytes,
            max_headers: g.max_headers.min(super::http_heads::MAX_HEADERS),
        });
        self.max_body_bytes.set(g.max_body_bytes);
        self.pool.resize(&slots.server_slots);

        let mut backends = self.backends.borrow_mut();
        let mut live = vec![false; slots.server_slots.len()];
        for (bi, b) in config.backends.iter().enumerate() {
            let slot = slots.backends[bi];
            live[slot] = true;
            let seed = 0x9E37_79B9 ^ self.id as u64 ^ ((slot as u64) << 32);
            if slot >= backends.len() {
                backends.push(BackendState {
                    config: b.clone(),
                    servers: Vec::new(),
                    stats: Vec::new(),
                    no_server: 0,
                    balancer: lb::new_balancer(b.balance, 0, seed),
                    queue: Default::default(),
                    epoch: 0,
                });
            }
            let state = &mut backends[slot];
            let old_servers = std::mem::take(&mut state.config.servers);
            let n = slots.server_slots[slot];
            let mut placed: Vec<Option<crate::config::Server>> =
                old_servers.into_iter().map(Some).collect();
            placed.resize(n, None);
            state.servers.resize_with(n, || ServerState::new(0, false));
            state.stats.resize_with(n, Default::default);
            let mut keep = vec![false; n];
            for (si, s) in b.servers.iter().enumerate() {
                let ss = slots.servers[bi][si];
                keep[ss] = true;
                placed[ss] = Some(s.clone());
                let st = &mut state.servers[ss];
                st.backup = s.backup;
                st.limit = share(s.max_connections as usize, self.workers) as u32;
                let set = servers.and_then(|v| v.get(bi)?.get(si).copied());
                let set = set.unwrap_or(SetServer::initial(s.weight));
                st.oper = set.oper;
                st.admin = set.admin;
                st.weight = set.weight;
            }
            for (ss, kept) in keep.iter().enumerate() {
                if !kept {
                    retire(&mut state.servers[ss]);
                    self.pool.clear(slot, ss);
                }
            }
            state.config = b.clone();
            state.config.servers = placed
                .into_iter()
                .map(|s| s.unwrap_or_else(tombstone_server))
                .collect();
            state.balancer = lb::new_balancer(b.balance, n, seed);
            state.epoch += 1;
            state.queue.capacity = share(b.max_queue, self.workers);
        }
        for (slot, state) in backends.iter_mut().enumerate() {
            if !live[slot] {
                state.epoch += 1;
                for (ss, s) in state.servers.iter_mut().enumerate() {
                    retire(s);
                    self.pool.clear(slot, ss);
                }
            }
        }
        let n = backends.len();
        drop(backends);
        for b in 0..n {
            self.wake_next(b);
        }
    }

    /// Apply the control thread's decision about one server.
    pub fn set_server(&self, backend: usize, server: usize, set: SetServer) {
        let usable = self.with_server(backend, server, |s, stats| {
            if s.oper != set.oper {
                // A new operational state starts a new count of errors in a row.
                stats.error_streak = 0;
            }
            s.oper = set.oper;
            s.admin = set.admin;
            s.weight = set.weight;
            s.usable()
        });
        self.bump_epoch(backend);
        if usable == Some(false) {
            // Idle connections to a server that takes no traffic are of no use.
            self.pool.clear(backend, server);
        }
        // More room (a server back, more weight) or none left at all: tell the queue.
        self.wake_next(backend);
    }

    /// A copy of this worker's statistics.
    pub fn snapshot(&self) -> WorkerStats {
        let backends = self.backends.borrow();
        WorkerStats {
            worker: self.id,
            frontends: self.frontend_stats.borrow().clone(),
            backends: backends
                .iter()
                .map(|b| BackendStats {
                    no_server: b.no_server,
                    queue_current: b.queue.len() as u64,
                    queued: b.queue.queued,
                    queue_timeouts: b.queue.timeouts,
                    queue_full: b.queue.full,
                    servers: b.stats.clone(),
                    active: b.servers.iter().map(|s| s.active).collect(),
                })
                .collect(),
        }
    }

    /// Count what happened on a server, feed its latency to the balancer and, when
    /// the backend has passive health on, tell the control thread about errors in a row.
    pub fn record(&self, backend: usize, server: usize, outcome: Outcome) {
        let passive = {
            let backends = self.backends.borrow();
            backends.get(backend).is_some_and(|b| {
                b.config.error_limit > 0 && b.config.servers.get(server).is_some_and(|s| s.check)
            })
        };
        let report = self.with_server(backend, server, |state, stats| {
            let failed = match outcome {
                Outcome::Connected(latency) => {
                    stats.requests += 1;
                    record_latency(&mut stats.latency, latency);
                    false
                }
                Outcome::Response { status, latency } => {
                    stats.requests += 1;
                    count_status(&mut stats.responses, status);
                    record_latency(&mut stats.latency, latency);
                    state.latency.observe(latency, Instant::now());
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
            };
            let before = stats.error_streak;
            stats.error_streak = if failed { before + 1 } else { 0 };
            (before != stats.error_streak).then_some(stats.error_streak)
        });
        if let (true, Some(Some(streak))) = (passive, report) {
            let _ = self.events.unbounded_send(Event::ServerErrors {
                worker: self.id,
                backend,
                server,
                streak,
            });
        }
    }

    /// A new connection to a server is up after `rtt`: count it, and feed the connect
    /// time to the latency estimate.
    pub fn record_connect(&self, backend: usize, server: usize, rtt: Duration) {
        self.with_server(backend, server, |state, stats| {
            stats.connections += 1;
            state.latency.observe(rtt, Instant::now());
        });
    }

    /// A connect attempt timed out after `waited`: the estimate learns it is slow.
    pub fn record_connect_timeout(&self, backend: usize, server: usize, waited: Duration) {
        self.with_server(backend, server, |state, _| {
            state.latency.observe(waited, Instant::now())
        });
        self.record(backend, server, Outcome::ConnectFailed);
    }
}

/// This worker's share of a limit split across `workers`: at least 1 each (so a small
/// limit may be exceeded by up to `workers - 1` in all); 0 stays 0 (no limit / no queue).
fn share(limit: usize, workers: usize) -> usize {
    if limit == 0 {
        0
    } else {
        (limit / workers.max(1)).max(1)
    }
}

/// A server slot that left the configuration: no traffic ever again.
fn retire(s: &mut ServerState) {
    s.admin = Admin::Maint;
    s.weight = 0;
}

fn tombstone_server() -> crate::config::Server {
    crate::config::Server {
        name: String::new(),
        address_text: String::new(),
        address: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        weight: 0,
        check: false,
        backup: false,
        max_connections: 0,
        slow_start: Duration::ZERO,
        tls: None,
    }
}
