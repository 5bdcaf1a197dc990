//! What goes wrong in a worker that is nobody's request: a failed accept, the
//! connection limit reached, ringlb short of descriptors, buffers or ports. Each is
//! counted (for `/metrics` and the stats page) and logged at most once per period, with
//! the number of lines left out: a flood must not turn into a flood of log lines.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use crate::logging::{LogEvery, EVERY};
use crate::msg::stats::FaultCounts;

#[derive(Default)]
pub struct Faults {
    counts: Cell<FaultCounts>,
    accept_log: LogEvery,
    limit_log: LogEvery,
    local_log: LogEvery,
    proxy_log: LogEvery,
}

impl Faults {
    pub fn counts(&self) -> FaultCounts {
        self.counts.get()
    }

    fn bump(&self, f: impl FnOnce(&mut FaultCounts)) {
        let mut c = self.counts.get();
        f(&mut c);
        self.counts.set(c);
    }

    /// An accept on `addr` failed (the caller backs off before the next one).
    pub fn accept_failed(&self, worker: usize, addr: SocketAddr, e: &io::Error) {
        self.bump(|c| c.accept_errors += 1);
        if self.accept_log.due(Instant::now()) {
            let left_out = self.accept_log.take_skipped();
            tracing::warn!(worker, %addr, "accept failed: {e} ({left_out} more in the last {EVERY:?} not logged; ringlb_accept_errors_total counts them)");
        }
    }

    /// The worker holds its share of `global.max_connections`: accepting pauses
    /// (new clients wait in the kernel's backlog) until a connection ends.
    pub fn limit_reached(&self, worker: usize, limit: usize) {
        self.bump(|c| c.limit_reached += 1);
        if self.limit_log.due(Instant::now()) {
            let left_out = self.limit_log.take_skipped();
            tracing::warn!(worker, limit, "max_connections reached: this worker holds its share of {limit} connections; accepting paused until one ends ({left_out} more times in the last {EVERY:?})");
        }
    }

    /// ringlb itself ran short (EMFILE, ENOBUFS, EADDRNOTAVAIL...) on a connect: the
    /// request fails without counting against the server.
    pub fn local_shortage(&self, worker: usize, e: &io::Error) {
        self.bump(|c| c.local_errors += 1);
        if self.local_log.due(Instant::now()) {
            let left_out = self.local_log.take_skipped();
            tracing::warn!(worker, "cannot connect to a server: ringlb is short of resources: {e} (not counted against the server; {left_out} more in the last {EVERY:?})");
        }
    }

    /// A connection was closed for its PROXY protocol header (counted per frontend
    /// and reason by the caller; logged here at most once per period).
    pub fn proxy_refused(&self, worker: usize, frontend: &str, peer: SocketAddr, why: &str) {
        if self.proxy_log.due(Instant::now()) {
            let left_out = self.proxy_log.take_skipped();
            tracing::warn!(worker, frontend, %peer, why, "PROXY protocol header refused, connection closed ({left_out} more in the last {EVERY:?} not logged; ringlb_frontend_proxy_protocol_refused_total counts them)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fault_is_counted_even_when_not_logged() {
        let f = Faults::default();
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let e = io::Error::from_raw_os_error(libc::EMFILE);
        for _ in 0..5 {
            f.accept_failed(0, addr, &e);
            f.local_shortage(0, &e);
        }
        f.limit_reached(0, 10);
        let c = f.counts();
        assert_eq!(
            (c.accept_errors, c.local_errors, c.limit_reached),
            (5, 5, 1)
        );
    }
}
