//! Tests of `stats.rs`: counting, adding up and slot growth of the statistics workers send.

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
        latency_buckets: Buckets([1; crate::msg::buckets::BUCKETS]),
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
        latency_buckets: Buckets([2; crate::msg::buckets::BUCKETS]),
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
    assert_eq!(latency_buckets.0, [3; crate::msg::buckets::BUCKETS]);
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
        idle: vec![2],
    };
    let two = BackendStats {
        no_server: 10,
        queue_current: 20,
        queued: 30,
        queue_timeouts: 40,
        queue_full: 50,
        servers: vec![server(10, &[5]), server(20, &[])],
        active: vec![70, 80],
        idle: vec![3, 4],
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
    assert_eq!(sum.idle, [5, 4]);
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
