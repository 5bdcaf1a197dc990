//! What a worker records: what happened on a server (statistics, the latency the
//! balancers read, passive-health error runs reported to the control thread) and the
//! access log. Methods of [`Worker`], kept apart from `state.rs` (what it owns).

use std::time::{Duration, Instant};

use super::access::{AccessLog, Record};
use super::access_format::Conns;
use super::backend::{count, Outcome};
use super::state::Worker;
use crate::msg::Event;

impl Worker {
    // ---- What happened on a server: statistics and passive health ----

    /// Count what happened on a server, feed its latency to the balancer and, when
    /// the backend has passive health on, tell the control thread about errors in a row.
    pub fn record(&self, backend: usize, server: usize, outcome: Outcome) {
        let report = {
            let mut backends = self.backends.borrow_mut();
            backends.get_mut(backend).and_then(|b| {
                if let Outcome::Response { latency, at, .. } = outcome {
                    b.note_latency(server, latency, at);
                }
                let passive = b.passive(server);
                let streak = count(
                    outcome,
                    b.servers.get_mut(server)?,
                    b.stats.get_mut(server)?,
                );
                streak.filter(|_| passive)
            })
        };
        if let Some(streak) = report {
            self.report(Event::ServerErrors {
                worker: self.id(),
                backend,
                server,
                streak,
            });
        }
    }

    /// A response head from `server`, asked for at `since`, is still awaited after the
    /// backend's `slow_response`: counted, and a passive-health error when another
    /// server answered faster meanwhile.
    pub fn slow_response(&self, backend: usize, server: usize, since: Instant) {
        let at_fault = self
            .backends
            .borrow()
            .get(backend)
            .is_some_and(|b| b.others_faster(server, since));
        if at_fault {
            self.record(backend, server, Outcome::Slow);
        } else {
            self.with_server(backend, server, |_, stats| stats.slow_responses += 1);
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

    // ---- The access log ----

    /// Log through `log` from now on (`global.access_log`).
    pub(super) fn set_access_log(&mut self, log: Option<AccessLog>) {
        self.access = log;
    }

    /// Whether requests are logged (sessions then read the clock for their duration).
    pub fn logging(&self) -> bool {
        self.access.is_some()
    }

    /// Write the access log line of `r` (`request`: the request line), if logging.
    pub fn log_access(&self, r: &Record, request: &[u8]) {
        let Some(log) = &self.access else { return };
        let frontend = self.frontend(r.frontend);
        let backends = self.backends.borrow();
        let state = r.backend.and_then(|b| backends.get(b));
        let conns = || Conns {
            active: self.gate.open() as u64,
            frontend: self
                .frontend_stats
                .borrow()
                .get(r.frontend)
                .map_or(0, |s| s.current),
            backend: state.map_or(0, |b| b.servers.iter().map(|s| u64::from(s.active)).sum()),
            server: state
                .zip(r.server)
                .and_then(|(b, s)| b.servers.get(s))
                .map_or(0, |s| u64::from(s.active)),
            backend_queue: state.map_or(0, |b| b.queue.len() as u64),
        };
        log.record(r, request, &frontend, state.map(|b| &b.config), conns);
    }

    /// Hand what the access log buffered to its writer (never waits).
    pub fn flush_access_log(&self) {
        if let Some(log) = &self.access {
            log.flush();
        }
    }

    /// The worker is done: hand the rest of the log over. Returns the lines dropped
    /// because the writer fell behind.
    pub fn close_access_log(&self) -> u64 {
        self.access.as_ref().map_or(0, |log| {
            log.close();
            log.dropped.get()
        })
    }
}
