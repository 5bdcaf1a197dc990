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
}

impl AddAssign<&FaultCounts> for FaultCounts {
    fn add_assign(&mut self, o: &FaultCounts) {
        self.accept_errors += o.accept_errors;
        self.limit_reached += o.limit_reached;
        self.local_errors += o.local_errors;
        self.log_lines_dropped += o.log_lines_dropped;
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

    #[test]
    fn frontend_stats_add_field_by_field() {
        let a = FrontendStats {
            current: 1,
            connections: 2,
            requests: 3,
            h2_requests: 14,
            h2_connections: 15,
            responses: [4, 5, 6, 7, 8],
            invalid_requests: 9,
            tls_failures: 10,
            tls12: 11,
            tls13: 12,
            rule_hits: vec![1, 2],
            proxy_refused: [1; PROXY_REFUSALS.len()],
            proxy_accepted: 13,
            hello_failures: [2; HELLO_FAILURES.len()],
            latency_buckets: Buckets([1; super::super::buckets::BUCKETS]),
        };
        let mut sum = a.clone();
        sum += &FrontendStats {
            current: 100,
            connections: 200,
            requests: 300,
            h2_requests: 1400,
            h2_connections: 1500,
            responses: [400, 500, 600, 700, 800],
            invalid_requests: 900,
            tls_failures: 1000,
            tls12: 1100,
            tls13: 1200,
            rule_hits: vec![10, 20, 30],
            proxy_refused: [10; PROXY_REFUSALS.len()],
            proxy_accepted: 1300,
            hello_failures: [20; HELLO_FAILURES.len()],
            latency_buckets: Buckets([2; super::super::buckets::BUCKETS]),
        };
        let FrontendStats {
            current,
            connections,
            requests,
            h2_requests,
            h2_connections,
            responses,
            invalid_requests,
            tls_failures,
            tls12,
            tls13,
            rule_hits,
            proxy_refused,
            proxy_accepted,
            hello_failures,
            latency_buckets,
        } = sum;
        assert_eq!(latency_buckets.0, [3; super::super::buckets::BUCKETS]);
        assert_eq!(proxy_refused, [11; PROXY_REFUSALS.len()]);
        assert_eq!(proxy_accepted, 1313);
        assert_eq!((h2_requests, h2_connections), (1414, 1515));
        assert_eq!(hello_failures, [22; HELLO_FAILURES.len()]);
        assert_eq!(rule_hits, [11, 22, 30]);
        assert_eq!(
            (current, connections, requests, invalid_requests),
            (101, 202, 303, 909)
        );
        assert_eq!(responses, [404, 505, 606, 707, 808]);
        assert_eq!((tls_failures, tls12, tls13), (1010, 1111, 1212));
    }

    fn server(base: u64, latencies_ms: &[u64]) -> ServerStats {
        let mut s = ServerStats {
            connections: base,
            requests: base + 1,
            reused: base + 7,
            responses: [base, base + 1, base + 2, base + 3, base + 4],
            connect_errors: base + 5,
            response_errors: base + 6,
            error_streak: 3,
            ..ServerStats::default()
        };
        for ms in latencies_ms {
            record_latency(&mut s.latency, std::time::Duration::from_millis(*ms));
            s.latency_buckets
                .record(std::time::Duration::from_millis(*ms));
        }
        s
    }

    #[test]
    fn reuse_figures_of_a_backend() {
        let mut b = BackendStats::default();
        assert_eq!(b.new_connections_per_1000(), None);
        // 40 requests, 10 new connections, 30 on reused ones, over two servers.
        for (connections, requests, reused) in [(6, 20, 14), (4, 20, 16)] {
            b.servers.push(ServerStats {
                connections,
                requests,
                reused,
                ..ServerStats::default()
            });
        }
        assert_eq!((b.connections_opened(), b.requests_reused()), (10, 30));
        assert_eq!(b.new_connections_per_1000(), Some(250.0));
    }

    #[test]
    fn server_stats_add_and_histograms_merge() {
        let mut sum = server(10, &[1, 2]);
        sum += &server(100, &[1000]);
        assert_eq!(
            (
                sum.connections,
                sum.requests,
                sum.connect_errors,
                sum.response_errors
            ),
            (110, 112, 120, 122)
        );
        assert_eq!(sum.responses, [110, 112, 114, 116, 118]);
        assert_eq!(sum.reused, 124);
        assert_eq!(sum.latency.len(), 3);
        assert_eq!(sum.latency_buckets.count(), 3);
        assert_eq!(sum.latency.count_between(0, 2_100), 2);
        assert!(sum.latency.max() >= 990_000, "{}", sum.latency.max());
        // A run of failures is one worker's: not a sum.
        assert_eq!(sum.error_streak, 3);
        // Adding an empty copy changes nothing.
        let before = (sum.connections, sum.latency.len(), sum.latency.mean());
        sum += &ServerStats::default();
        assert_eq!(
            before,
            (sum.connections, sum.latency.len(), sum.latency.mean())
        );
    }

    #[test]
    fn backend_stats_add_counters_and_servers_slot_by_slot() {
        let one = BackendStats {
            no_server: 1,
            queue_current: 2,
            queued: 3,
            queue_timeouts: 4,
            queue_full: 5,
            servers: vec![server(1, &[1])],
            active: vec![7],
        };
        let two = BackendStats {
            no_server: 10,
            queue_current: 20,
            queued: 30,
            queue_timeouts: 40,
            queue_full: 50,
            servers: vec![server(10, &[5]), server(20, &[])],
            active: vec![70, 80],
        };
        let mut sum = BackendStats::default();
        sum += &one;
        sum += &two;
        assert_eq!(
            (
                sum.no_server,
                sum.queue_current,
                sum.queued,
                sum.queue_timeouts,
                sum.queue_full
            ),
            (11, 22, 33, 44, 55)
        );
        assert_eq!(sum.active, [77, 80]);
        assert_eq!(sum.servers.len(), 2);
        assert_eq!(sum.servers[0].connections, 11);
        assert_eq!(sum.servers[0].latency.len(), 2);
        assert_eq!(sum.servers[1].connections, 20);
        assert_eq!(sum.servers[1].latency.len(), 0);
    }

    #[test]
    fn slots_grow_to_the_longer_list() {
        let mut into = vec![FrontendStats {
            requests: 1,
            ..FrontendStats::default()
        }];
        let from = [
            FrontendStats {
                requests: 2,
                ..FrontendStats::default()
            },
            FrontendStats {
                requests: 3,
                ..FrontendStats::default()
            },
        ];
        add_slots(&mut into, &from);
        assert_eq!(into.iter().map(|f| f.requests).collect::<Vec<_>>(), [3, 3]);
        add_slots(&mut into, &[]);
        assert_eq!(into.len(), 2);
    }

    /// The history's copy keeps what the history reads (counters, coarse buckets)
    /// and leaves the 13 KiB fine histogram behind.
    #[test]
    fn a_sample_copy_is_small_and_keeps_what_the_history_reads() {
        let mut s = ServerStats {
            requests: 7,
            connect_errors: 2,
            response_errors: 1,
            responses: [0, 5, 0, 0, 2],
            ..ServerStats::default()
        };
        record_latency(&mut s.latency, std::time::Duration::from_millis(3));
        s.latency_buckets
            .record(std::time::Duration::from_millis(3));
        let c = s.sample_copy();
        assert_eq!(
            (c.requests, c.connect_errors, c.response_errors, c.responses),
            (7, 2, 1, [0, 5, 0, 0, 2])
        );
        assert_eq!(c.latency_buckets, s.latency_buckets);
        assert_eq!(c.latency.len(), 0);
        assert!(
            c.latency.distinct_values() * 100 < s.latency.distinct_values(),
            "{} vs {} counters",
            c.latency.distinct_values(),
            s.latency.distinct_values()
        );
    }
}
