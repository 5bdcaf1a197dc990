//! Per-worker statistics: plain counters owned by one worker (no atomics, nothing
//! shared between cores). The control thread asks for a copy (`Update::Snapshot`) when
//! the admin API needs one and adds up the copies of all workers.

use std::ops::AddAssign;

use hdrhistogram::Histogram;

use super::buckets::Buckets;

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
    /// HTTP requests received (TCP mode: none), of every HTTP version.
    pub requests: u64,
    /// Of those, HTTP/2 streams (malformed ones too).
    pub h2_requests: u64,
    /// Client connections that spoke HTTP/2 (the handshake was done).
    pub h2_connections: u64,
    /// Responses sent to clients, by class, whoever made them.
    pub responses: ByClass,
    /// Requests refused by ringlb itself as malformed, too large or too slow (4xx).
    pub invalid_requests: u64,
    /// TLS handshakes that failed or timed out.
    pub tls_failures: u64,
    /// TLS handshakes completed, by version.
    pub tls12: u64,
    pub tls13: u64,
    /// Times each rule acted, by the frontend's rule numbering (connection rules,
    /// then request rules, then response rules).
    pub rule_hits: Vec<u64>,
    /// Connections closed for their PROXY protocol header, by [`PROXY_REFUSALS`].
    pub proxy_refused: [u64; PROXY_REFUSALS.len()],
    /// Connections accepted with a PROXY protocol header (LOCAL ones included).
    pub proxy_accepted: u64,
    /// tcp mode with `sni` routes: connections whose ClientHello could not be read,
    /// by [`HELLO_FAILURES`] (then sent to `default_backend` or closed).
    pub hello_failures: [u64; HELLO_FAILURES.len()],
    /// Time to the final response head of the requests a server answered (TCP mode:
    /// time to connect), coarse: for the history's percentiles.
    pub latency_buckets: Buckets,
}

/// Why a PROXY protocol header was refused: the peer is not in
/// `proxy_protocol_from`, nothing (whole) came within the handshake timeout, the
/// peer closed first, then the parser's reasons (`proxy_protocol::Reason::as_str`).
pub const PROXY_REFUSALS: [&str; 10] = [
    "untrusted",
    "timeout",
    "closed",
    "signature",
    "version",
    "too_long",
    "malformed",
    "command",
    "family",
    "length",
];

/// Why a ClientHello could not be read for SNI routing.
pub const HELLO_FAILURES: [&str; 5] = ["not_tls", "malformed", "too_long", "timeout", "closed"];

/// The index in [`PROXY_REFUSALS`] of a parser's refusal.
pub fn proxy_refusal_index(r: crate::proxy_protocol::Reason) -> usize {
    PROXY_REFUSALS
        .iter()
        .position(|l| *l == r.as_str())
        .unwrap_or(0)
}

#[derive(Debug, Clone)]
pub struct ServerStats {
    /// New connections opened to the server.
    pub connections: u64,
    /// HTTP requests sent (TCP mode: sessions).
    pub requests: u64,
    /// HTTP requests sent on a connection that had carried a request before (from
    /// the pool, or kept by the client connection), replays included.
    pub reused: u64,
    /// Responses from the server, by class.
    pub responses: ByClass,
    /// Connect attempts that failed or timed out.
    pub connect_errors: u64,
    /// Responses that failed: timed out, malformed, cut short.
    pub response_errors: u64,
    /// Response heads still awaited after the backend's `slow_response`.
    pub slow_responses: u64,
    /// Time to connect (TCP mode) or to the final response head (HTTP mode).
    pub latency: Latency,
    /// The same latencies, coarse: for the history's percentiles.
    pub latency_buckets: Buckets,
    /// Server-side failures in a row (passive health); reset by a success.
    pub error_streak: u32,
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats {
            connections: 0,
            requests: 0,
            reused: 0,
            responses: ByClass::default(),
            connect_errors: 0,
            response_errors: 0,
            slow_responses: 0,
            latency: new_latency(),
            latency_buckets: Buckets::default(),
            error_streak: 0,
        }
    }
}

impl ServerStats {
    /// A copy for the history's sample, every 2 s: the counters and the coarse
    /// buckets, but an empty fine histogram (13 KiB per server and worker otherwise).
    pub fn sample_copy(&self) -> ServerStats {
        ServerStats {
            connections: self.connections,
            requests: self.requests,
            reused: self.reused,
            responses: self.responses,
            connect_errors: self.connect_errors,
            response_errors: self.response_errors,
            slow_responses: self.slow_responses,
            // Bounds 1..2 with no significant digit: a few bytes, never recorded into.
            latency: Histogram::new(0).unwrap_or_else(|_| new_latency()),
            latency_buckets: self.latency_buckets.clone(),
            error_streak: self.error_streak,
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
    /// Idle connections per server kept for reuse (the worker's pool; HAProxy's
    /// `idle_conn_cur`).
    pub idle: Vec<u32>,
}

/// One worker's copy, as sent to the control thread. Indexed by slot (see
/// `control::layout`): stable across reloads.
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    pub worker: usize,
    pub frontends: Vec<FrontendStats>,
    pub backends: Vec<BackendStats>,
    pub faults: FaultCounts,
    /// This worker's tracking tables, in the configuration's order.
    pub tables: Vec<TableView>,
}

/// One worker's view of a tracking table: its size and its busiest entries.
#[derive(Debug, Clone, Default)]
pub struct TableView {
    pub name: String,
    pub entries: usize,
    /// The busiest entries by request rate (at most `TABLE_TOP`), key as text.
    pub top: Vec<(String, crate::rules::Counters)>,
    pub evicted: u64,
    pub expired: u64,
    pub refused: u64,
}

/// How many entries of each table a worker sends with its statistics.
pub const TABLE_TOP: usize = 20;

/// What a worker counts that belongs to no frontend or server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Accepts that failed (descriptors, memory...).
    pub accept_errors: u64,
    /// Times the worker reached its share of `max_connections` and paused accepting.
    pub limit_reached: u64,
    /// Connects that failed for ringlb's own shortage, not counted against servers.
    pub local_errors: u64,
    /// Access-log lines this worker could not hand to the writer (it was behind).
    pub log_lines_dropped: u64,
    /// A gauge, not a counter: the memory of the session buffers this worker keeps
    /// free for reuse, in bytes, when the copy was taken.
    pub pooled_buffer_bytes: u64,
}

impl AddAssign<&FaultCounts> for FaultCounts {
    fn add_assign(&mut self, o: &FaultCounts) {
        self.accept_errors += o.accept_errors;
        self.limit_reached += o.limit_reached;
        self.local_errors += o.local_errors;
        self.log_lines_dropped += o.log_lines_dropped;
        self.pooled_buffer_bytes += o.pooled_buffer_bytes;
    }
}

/// Add `from`'s responses, class by class.
pub fn add_classes(into: &mut ByClass, from: &ByClass) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

// Adding up: the control thread sums the workers' copies (`admin`'s totals). Every
// counter adds, histograms merge.

impl FrontendStats {
    /// Count the rules that acted (`hits`, numbered from `base`).
    pub fn count_rule_hits(&mut self, base: usize, hits: &[u32]) {
        for &h in hits {
            let i = base + h as usize;
            if self.rule_hits.len() <= i {
                self.rule_hits.resize(i + 1, 0);
            }
            self.rule_hits[i] += 1;
        }
    }
}

impl AddAssign<&FrontendStats> for FrontendStats {
    fn add_assign(&mut self, o: &FrontendStats) {
        self.current += o.current;
        self.connections += o.connections;
        self.requests += o.requests;
        self.h2_requests += o.h2_requests;
        self.h2_connections += o.h2_connections;
        add_classes(&mut self.responses, &o.responses);
        self.invalid_requests += o.invalid_requests;
        self.tls_failures += o.tls_failures;
        self.tls12 += o.tls12;
        self.tls13 += o.tls13;
        if self.rule_hits.len() < o.rule_hits.len() {
            self.rule_hits.resize(o.rule_hits.len(), 0);
        }
        for (a, b) in self.rule_hits.iter_mut().zip(&o.rule_hits) {
            *a += b;
        }
        for (a, b) in self.proxy_refused.iter_mut().zip(&o.proxy_refused) {
            *a += b;
        }
        self.proxy_accepted += o.proxy_accepted;
        for (a, b) in self.hello_failures.iter_mut().zip(&o.hello_failures) {
            *a += b;
        }
        self.latency_buckets += &o.latency_buckets;
    }
}

/// `error_streak` is left as it is: it is one worker's run of failures in a row
/// (passive health), and two workers' runs do not add up to a run.
impl AddAssign<&ServerStats> for ServerStats {
    fn add_assign(&mut self, o: &ServerStats) {
        self.connections += o.connections;
        self.requests += o.requests;
        self.reused += o.reused;
        add_classes(&mut self.responses, &o.responses);
        self.connect_errors += o.connect_errors;
        self.response_errors += o.response_errors;
        self.slow_responses += o.slow_responses;
        // Both come from new_latency(), same bounds: merging cannot fail (a failure
        // would only leave the other's samples out).
        let _ = self.latency.add(&o.latency);
        self.latency_buckets += &o.latency_buckets;
    }
}

/// Servers add slot by slot (the longer list wins), with their `active` counts.
impl AddAssign<&BackendStats> for BackendStats {
    fn add_assign(&mut self, o: &BackendStats) {
        self.no_server += o.no_server;
        self.queue_current += o.queue_current;
        self.queued += o.queued;
        self.queue_timeouts += o.queue_timeouts;
        self.queue_full += o.queue_full;
        add_slots(&mut self.servers, &o.servers);
        self.active
            .resize(self.active.len().max(self.servers.len()), 0);
        for (a, b) in self.active.iter_mut().zip(&o.active).take(o.servers.len()) {
            *a += b;
        }
        self.idle.resize(self.idle.len().max(self.servers.len()), 0);
        for (a, b) in self.idle.iter_mut().zip(&o.idle).take(o.servers.len()) {
            *a += b;
        }
    }
}

impl BackendStats {
    /// New connections opened to the servers, every slot's (retired ones too).
    pub fn connections_opened(&self) -> u64 {
        self.servers.iter().map(|s| s.connections).sum()
    }

    /// Requests sent on a connection that had carried one before.
    pub fn requests_reused(&self) -> u64 {
        self.servers.iter().map(|s| s.reused).sum()
    }

    /// New server connections per 1,000 requests (HTTP mode; TCP mode: 1,000), once
    /// there were requests. Replays and failed requests open connections but are not
    /// requests here, so the figure can exceed 1,000.
    pub fn new_connections_per_1000(&self) -> Option<f64> {
        let requests: u64 = self.servers.iter().map(|s| s.requests).sum();
        (requests > 0).then(|| 1000.0 * self.connections_opened() as f64 / requests as f64)
    }
}

/// Add `from` to `into` element by element, growing `into` with defaults to
/// `from`'s length (statistics are indexed by slot).
pub fn add_slots<T>(into: &mut Vec<T>, from: &[T])
where
    T: Default + for<'a> AddAssign<&'a T>,
{
    if into.len() < from.len() {
        into.resize_with(from.len(), T::default);
    }
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
