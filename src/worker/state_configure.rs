//! `Worker`'s methods for what the control thread sends: a configuration (the first, or
//! a reload) and its decisions about servers. A child of `state.rs`, so it reaches the
//! worker's fields.

use std::rc::Rc;

use super::Worker;
use crate::config::Config;
use crate::http::Limits;
use crate::lb::Oper;
use crate::msg::{SetServer, Slots};
use crate::worker::backend::{configure_backends, slotted_frontend};

impl Worker {
    /// Take a configuration (the first, or a reload) laid out by `slots`. State of
    /// servers that stay (connection counts, latency, statistics) is kept; slots that
    /// left the configuration stay as tombstones that take no traffic. `servers` is the
    /// control thread's state for each server of the new configuration.
    pub fn configure(&self, config: &Config, slots: &Slots, servers: Option<&[Vec<SetServer>]>) {
        self.configure_frontends(config, slots);
        self.rules.borrow_mut().configure(&config.tables);
        let g = &config.global;
        self.http_limits.set(Limits {
            max_request_line: g.max_request_line,
            max_header_bytes: g.max_header_bytes,
            max_headers: g.max_headers.min(crate::worker::http_heads::MAX_HEADERS),
        });
        self.max_body_bytes.set(g.max_body_bytes);
        self.pool.resize(&slots.server_slots);
        for (bi, b) in config.backends.iter().enumerate() {
            let limits = crate::worker::pool::Limits {
                max: b.pool_max_connections,
                timeout: b.pool_idle_timeout,
                purge_delay: b.pool_purge_delay,
            };
            self.pool.set_limits(slots.backends[bi], limits);
        }
        // Idle server connections in all: half this worker's share of the client
        // connections (see `pool.rs`).
        let share = crate::worker::backend::share(g.max_connections, self.workers);
        self.pool.set_budget((share / 2).max(1));

        let mut backends = self.backends.borrow_mut();
        let seed = |slot: usize| 0x9E37_79B9 ^ self.id as u64 ^ ((slot as u64) << 32);
        configure_backends(
            &mut backends,
            config,
            slots,
            servers,
            seed,
            self.workers,
            |b, s| self.pool.clear(b, s),
        );
        let n = backends.len();
        drop(backends);
        for b in 0..n {
            self.wake_next(b);
        }
    }

    fn configure_frontends(&self, config: &Config, slots: &Slots) {
        let mut fronts = self.frontends.borrow_mut();
        self.frontend_stats
            .borrow_mut()
            .resize_with(slots.frontend_slots, Default::default);
        for (i, fe) in config.frontends.iter().enumerate() {
            let fe = Rc::new(slotted_frontend(fe, slots));
            match fronts.get_mut(slots.frontends[i]) {
                Some(old) => *old = fe,
                None => fronts.push(fe),
            }
        }
    }

    /// Apply the control thread's decision about one server.
    pub fn set_server(&self, backend: usize, server: usize, set: SetServer) {
        let (usable, went_down) = self
            .with_server(backend, server, |s, stats| {
                let went_down = s.oper == Oper::Up && set.oper == Oper::Down;
                if s.oper != set.oper {
                    // A new operational state starts a new count of errors in a row.
                    stats.error_streak = 0;
                }
                s.oper = set.oper;
                s.admin = set.admin;
                s.weight = set.weight;
                (Some(s.usable()), went_down)
            })
            .unwrap_or((None, false));
        if went_down {
            self.shut_sessions_down(backend, server);
        }
        // Which servers are candidates may have changed.
        if let Some(b) = self.backends.borrow_mut().get_mut(backend) {
            b.epoch += 1;
        }
        if usable == Some(false) {
            // Idle connections to a server that takes no traffic are of no use.
            self.pool.clear(backend, server);
        }
        // More room (a server back, more weight) or none left at all: tell the queue.
        self.wake_next(backend);
    }
}
