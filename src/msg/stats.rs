//! Per-worker statistics: plain counters owned by one worker (no atomics, nothing
//! shared between cores). The control thread asks for a copy (`Update::Snapshot`) when
//! the admin API needs one and adds up the copies of all workers.

use hdrhistogram::Histogram;

/// Highest latency recorded, in microseconds (one minute); longer ones count as this.
const LATENCY_MAX_US: u64 = 60_000_000;

/// Responses by class: 1xx, 2xx, 3xx, 4xx, 5xx.
pub type ByClass = [u64; 5];

pub fn count_status(by_class: &mut ByClass, status: u16) {
    if let Some(c) = by_class.get_mut(usize::from(status / 100).wrapping_sub(1)) {
        *c += 1;
    }
}

/// Latencies in microseconds, two significant digits (about 13 KiB each).
pub type Latency = Histogram<u32>;

pub fn new_latency() -> Latency {
    // Bounds are constants that Histogram accepts; the fallback is never taken.
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 2)
        .unwrap_or_else(|_| Histogram::new(2).expect("2 significant digits is valid"))
}

pub fn record_latency(h: &mut Latency, d: std::time::Duration) {
    let us = (d.as_micros() as u64).clamp(1, LATENCY_MAX_US);
    h.saturating_record(us);
}

#[derive(Debug, Clone, Default)]
pub struct FrontendStats {
    /// Client connections open now.
    pub current: u64,
    /// Client connections accepted.
    pub connections: u64,
    /// HTTP requests received (TCP mode: none).
    pub requests: u64,
    /// Responses sent to clients, by class, whoever made them.
    pub responses: ByClass,
    /// Requests refused by ringlb itself as malformed, too large or too slow (4xx).
    pub invalid_requests: u64,
    /// TLS handshakes that failed or timed out.
    pub tls_failures: u64,
    /// TLS handshakes completed, by version.
    pub tls12: u64,
    pub tls13: u64,
}

#[derive(Debug, Clone)]
pub struct ServerStats {
    /// New connections opened to the server.
    pub connections: u64,
    /// HTTP requests sent (TCP mode: sessions).
    pub requests: u64,
    /// Responses from the server, by class.
    pub responses: ByClass,
    /// Connect attempts that failed or timed out.
    pub connect_errors: u64,
    /// Responses that failed: timed out, malformed, cut short.
    pub response_errors: u64,
    /// Time to connect (TCP mode) or to the final response head (HTTP mode).
    pub latency: Latency,
    /// Server-side failures in a row (passive health); reset by a success.
    pub error_streak: u32,
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats {
            connections: 0,
            requests: 0,
            responses: ByClass::default(),
            connect_errors: 0,
            response_errors: 0,
            latency: new_latency(),
            error_streak: 0,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct BackendStats {
    /// Requests or connections refused because no server was usable (503).
    pub no_server: u64,
    /// Waiting for a server slot now; ever queued; gave up after `timeout_queue`;
    /// refused because the queue was full.
    pub queue_current: u64,
    pub queued: u64,
    pub queue_timeouts: u64,
    pub queue_full: u64,
    pub servers: Vec<ServerStats>,
    /// Connections or in-flight requests per server, from the balancer's state.
    pub active: Vec<u32>,
}

/// One worker's copy, as sent to the control thread. Indexed by slot (see
/// `control::layout`): stable across reloads.
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    pub worker: usize,
    pub frontends: Vec<FrontendStats>,
    pub backends: Vec<BackendStats>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        let mut c = ByClass::default();
        for s in [100, 101, 200, 204, 302, 404, 431, 500, 503, 599, 99, 600] {
            count_status(&mut c, s);
        }
        assert_eq!(c, [2, 2, 1, 2, 3]);
    }

    #[test]
    fn latency_is_clamped_not_lost() {
        let mut h = new_latency();
        record_latency(&mut h, std::time::Duration::ZERO);
        record_latency(&mut h, std::time::Duration::from_secs(3600));
        assert_eq!(h.len(), 2);
        assert!(h.max() >= LATENCY_MAX_US * 99 / 100);
    }
}
