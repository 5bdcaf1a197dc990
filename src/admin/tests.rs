//! The admin views rendered for a fixed input: a control plane built from a small
//! configuration, two workers' statistics and a virtual router's status.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use crate::config::Config;
use crate::control::Control;
use crate::lb::Admin;
use crate::msg::stats::{
    record_latency, BackendStats, FaultCounts, FrontendStats, ServerStats, WorkerStats,
};
use crate::msg::{Broadcaster, Driver};
use crate::vrrp::{Counters, State, Status};

const CONFIG: &str = r#"
[[frontend]]
name = "web"
bind = ["127.0.0.1:1"]
mode = "http"
default_backend = "app"

[[frontend]]
name = "tcp-front"
bind = ["127.0.0.1:4"]
mode = "tcp"
default_backend = "app"

[[backend]]
name = "app"

[[backend.server]]
name = "a"
address = "127.0.0.1:2"

[[backend.server]]
name = "b"
address = "127.0.0.1:3"
weight = 3

[[backend.server]]
name = "gone"
address = "127.0.0.1:5"
"#;

/// The control plane: server b drained at weight 3 (1.5 while slow start ramps it),
/// server `gone` removed (not live), three workers (one on each driver, one still
/// starting), started at Unix time 1000, one reload and two refused.
pub(super) fn control() -> Control {
    let config = Config::parse(CONFIG, "test").expect("valid test configuration");
    let mut control = Control::new(Arc::new(config), None, Broadcaster::default(), vec![], None);
    control.started = UNIX_EPOCH + Duration::from_secs(1000);
    *control.drivers.borrow_mut() = vec![Some(Driver::IoUring), Some(Driver::Legacy), None];
    control.reloads.set(1);
    control.reload_failures.set(2);
    {
        let mut table = control.table.borrow_mut();
        let servers = &mut table.backends[0].servers;
        servers[1].admin = Admin::Drain;
        servers[1].sent.admin = Admin::Drain;
        servers[1].sent.weight = 24; // slow start: 1.5 of 3
        servers[1].transitions = 4;
        servers[2].live = false;
        for s in servers.iter_mut() {
            s.last_change = UNIX_EPOCH + Duration::from_secs(2000);
        }
    }
    control
}

fn server(connections: u64, latencies_ms: &[u64]) -> ServerStats {
    let mut s = ServerStats {
        connections,
        requests: connections * 2,
        reused: connections + 1,
        responses: [0, connections, 1, 0, 2],
        connect_errors: 1,
        response_errors: 3,
        ..ServerStats::default()
    };
    for ms in latencies_ms {
        record_latency(&mut s.latency, Duration::from_millis(*ms));
    }
    s
}

/// Worker `w`'s copy: every counter differs, so a sum shows which were added.
fn worker(w: u64) -> Box<WorkerStats> {
    let front = FrontendStats {
        current: w + 1,
        connections: 10 * (w + 1),
        requests: 20 * (w + 1),
        h2_requests: 5 * (w + 1),
        h2_connections: w + 2,
        responses: [1, 2 + w, 3, 4, 5],
        invalid_requests: w,
        tls_failures: 2,
        tls12: 3,
        tls13: 4 + w,
        rule_hits: vec![w, 1],
        ..FrontendStats::default()
    };
    Box::new(WorkerStats {
        worker: w as usize,
        tables: Vec::new(),
        faults: FaultCounts {
            accept_errors: w,
            limit_reached: 1,
            local_errors: 0,
            log_lines_dropped: 2,
            pooled_buffer_bytes: 16_384 * (w + 1),
        },
        frontends: vec![front, FrontendStats::default()],
        backends: vec![BackendStats {
            no_server: 1,
            queue_current: w,
            queued: 5,
            queue_timeouts: 2,
            queue_full: 1 + w,
            servers: vec![server(3 + w, &[2, 30]), server(1, &[]), server(9, &[1])],
            active: vec![1, 2, 3],
            idle: vec![w as u32, 0, 1],
        }],
    })
}

fn vrrp_status() -> Status {
    let mut counters = Counters {
        adverts_sent: 7,
        adverts_received: 8,
        transitions: 2,
        became_master: 1,
        errors: 0,
        ..Counters::default()
    };
    counters.dropped[3] = 1;
    Status {
        name: "VI_51".into(),
        group: None,
        interface: "eth0".into(),
        primary: Ipv4Addr::new(10, 0, 0, 1).into(),
        vrid: 51,
        state: State::Master,
        base_priority: 150,
        priority: 100,
        master: Some(Ipv4Addr::new(10, 0, 0, 1).into()),
        virtual_ips: vec![(Ipv4Addr::new(10, 0, 0, 100).into(), 24)],
        tracking: vec![],
        peers: vec![(Ipv4Addr::new(10, 0, 0, 2).into(), 90)],
        counters,
    }
}

/// `/metrics` for the fixed input, with the virtual router's families after it (a
/// `Control` with a live router needs sockets; the router's part is the same function).
fn metrics_text() -> String {
    let mut text = super::metrics::metrics(&control(), &[worker(0), worker(1)]);
    super::vrrp_view::metrics(&mut text, &[vrrp_status()]);
    super::announce_view::metrics(&mut text, &super::announce_view::sample_status());
    text
}

#[test]
fn metrics_of_a_fixed_input_have_these_lines() {
    let text = metrics_text();
    for want in [
        "# HELP ringlb_frontend_connections_total Client connections accepted.",
        "# TYPE ringlb_frontend_connections_total counter",
        // Two workers' copies added up; a frontend no worker counted shows zeros.
        "ringlb_frontend_connections_total{frontend=\"web\"} 30",
        "ringlb_frontend_connections_total{frontend=\"tcp-front\"} 0",
        "ringlb_frontend_tls_handshakes_total{frontend=\"web\",version=\"TLSv1.3\"} 9",
        "ringlb_frontend_h2_connections_total{frontend=\"web\"} 5",
        "ringlb_frontend_h2_requests_total{frontend=\"web\"} 15",
        "ringlb_frontend_responses_total{frontend=\"web\",code=\"2xx\"} 5",
        "# TYPE ringlb_backend_queue_current gauge",
        // A gauge of each worker's, added up: 16 KiB and 32 KiB.
        "# TYPE ringlb_buffers_pooled_bytes gauge",
        "ringlb_buffers_pooled_bytes 49152",
        "ringlb_backend_queue_full_total{backend=\"app\"} 3",
        // Every server slot's counters, a retired one's too (counters never go back).
        "ringlb_backend_connections_opened_total{backend=\"app\"} 27",
        "ringlb_backend_requests_reused_total{backend=\"app\"} 33",
        // b is drained: a is the only usable server.
        "ringlb_backend_usable_servers{backend=\"app\"} 1",
        "ringlb_server_admin_state{backend=\"app\",server=\"b\",state=\"ready\"} 0",
        "ringlb_server_admin_state{backend=\"app\",server=\"b\",state=\"drain\"} 1",
        "ringlb_server_weight{backend=\"app\",server=\"b\"} 3",
        "ringlb_server_effective_weight{backend=\"app\",server=\"b\"} 1.5",
        "ringlb_server_effective_weight{backend=\"app\",server=\"a\"} 1",
        "ringlb_server_current_connections{backend=\"app\",server=\"b\"} 4",
        // idle: w per worker on a (workers 0 and 1).
        "ringlb_server_idle_connections{backend=\"app\",server=\"a\"} 1",
        "ringlb_server_responses_total{backend=\"app\",server=\"a\",code=\"5xx\"} 4",
        "ringlb_server_status_changes_total{backend=\"app\",server=\"b\"} 4",
        "# TYPE ringlb_server_latency_seconds histogram",
        // a: 2 ms and 30 ms from each worker.
        "ringlb_server_latency_seconds_bucket{backend=\"app\",server=\"a\",le=\"0.001\"} 0",
        "ringlb_server_latency_seconds_bucket{backend=\"app\",server=\"a\",le=\"0.0025\"} 2",
        "ringlb_server_latency_seconds_bucket{backend=\"app\",server=\"a\",le=\"0.05\"} 4",
        "ringlb_server_latency_seconds_bucket{backend=\"app\",server=\"a\",le=\"+Inf\"} 4",
        "ringlb_server_latency_seconds_count{backend=\"app\",server=\"a\"} 4",
        "ringlb_server_latency_seconds_sum{backend=\"app\",server=\"b\"} 0",
        "ringlb_worker_info{worker=\"1\",driver=\"epoll\"} 1",
        "ringlb_worker_info{worker=\"2\",driver=\"starting\"} 1",
        "ringlb_config_reloads_total 1",
        "ringlb_config_reload_failures_total 2",
        "ringlb_start_time_seconds 1000",
        "ringlb_vrrp_state{vrid=\"51\",interface=\"eth0\",name=\"VI_51\",state=\"MASTER\"} 1",
        "ringlb_vrrp_state{vrid=\"51\",interface=\"eth0\",name=\"VI_51\",state=\"INIT\"} 0",
        "ringlb_vrrp_priority{vrid=\"51\",interface=\"eth0\",name=\"VI_51\"} 100",
        "ringlb_vrrp_master_info{vrid=\"51\",interface=\"eth0\",name=\"VI_51\",master=\"10.0.0.1\"} 1",
        "ringlb_vrrp_dropped_total{vrid=\"51\",interface=\"eth0\",name=\"VI_51\",reason=\"ttl\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == want),
            "no line {want:?} in:\n{text}"
        );
    }
    // The removed server is not shown; the histogram sum is in seconds.
    assert!(!text.contains("server=\"gone\""), "{text}");
    let sum = "ringlb_server_latency_seconds_sum{backend=\"app\",server=\"a\"} ";
    let sum: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(sum))
        .and_then(|v| v.parse().ok())
        .expect("a's latency sum");
    assert!((0.0635..0.0645).contains(&sum), "{sum}");
}

#[test]
fn without_a_known_master_the_master_info_family_has_no_sample() {
    let mut status = vrrp_status();
    status.master = None;
    status.state = State::Backup;
    let mut text = String::new();
    super::vrrp_view::metrics(&mut text, &[status]);
    assert!(
        text.contains("# TYPE ringlb_vrrp_master_info gauge\n"),
        "{text}"
    );
    assert!(!text.contains("ringlb_vrrp_master_info{"), "{text}");
    assert!(text.contains(
        "ringlb_vrrp_state{vrid=\"51\",interface=\"eth0\",name=\"VI_51\",state=\"BACKUP\"} 1\n"
    ));
}

#[test]
fn an_ipv6_router_shows_its_addresses() {
    let ip = |t: &str| -> std::net::IpAddr { t.parse().unwrap() };
    let mut status = vrrp_status();
    status.primary = ip("fe80::1");
    status.master = Some(ip("fe80::2"));
    status.virtual_ips = vec![(ip("2001:db8::100"), 64)];
    status.peers = vec![(ip("fe80::2"), 200)];
    let json = super::vrrp_view::router_json(&status);
    assert_eq!(json["address"], "fe80::1");
    assert_eq!(json["virtual_ips"][0], "2001:db8::100/64");
    assert_eq!(json["peers"][0]["address"], "fe80::2");
    let mut html = String::new();
    super::vrrp_view::html(&mut html, &[status.clone()], |s| s.to_string());
    assert!(
        html.contains("<td class=\"l\">2001:db8::100/64</td>"),
        "{html}"
    );
    let mut text = String::new();
    super::vrrp_view::metrics(&mut text, &[status]);
    assert!(text.contains("master=\"fe80::2\"} 1"), "{text}");
}

#[test]
fn the_frontend_table_counts_http2_connections_and_streams() {
    let page = super::page::html(&control(), &[worker(0), worker(1)]);
    assert!(page.contains("HTTP/2</th>"), "{page}");
    let row = page.split("<td class=\"l\">web</td>").nth(1).unwrap();
    let row = row.split("</tr>").next().unwrap();
    // Requests, then HTTP/2 connections and streams, both workers added up.
    assert!(row.contains("<td>60</td><td>5</td><td>15</td>"), "{row}");
}

/// The whole output read back by a Prometheus text parser, plus what that parser does
/// not check: every family has one HELP and one TYPE line before its samples, its
/// samples are together, and no series (name and label set) appears twice.
#[test]
fn metrics_parse_with_help_and_type_per_family_and_no_duplicate_series() {
    use prometheus_parse::{LineInfo, SampleType, Scrape, Value};
    use std::collections::{BTreeSet, HashMap, HashSet};

    let text = metrics_text();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
    let mut helps = HashSet::new();
    let mut types: HashMap<String, SampleType> = HashMap::new();
    let mut current: Option<String> = None;
    let mut series = HashSet::new();
    for line in text.lines() {
        match LineInfo::parse(line) {
            LineInfo::Doc { metric_name, .. } => {
                assert!(helps.insert(metric_name.to_string()), "second HELP: {line}");
            }
            LineInfo::Type {
                metric_name,
                metric_alias,
                sample_type,
            } => {
                // The parser names a histogram by its _bucket series.
                let family = metric_alias.unwrap_or(metric_name);
                assert!(helps.contains(&family), "TYPE before HELP: {line}");
                assert!(
                    types.insert(family.clone(), sample_type).is_none(),
                    "{line}"
                );
                current = Some(family);
            }
            LineInfo::Sample {
                metric_name,
                labels,
                ..
            } => {
                let family = current.as_deref().expect("a sample before any TYPE");
                let suffix = metric_name.strip_prefix(family);
                let ok = match types[family] {
                    SampleType::Histogram => {
                        matches!(suffix, Some("_bucket" | "_sum" | "_count"))
                    }
                    _ => suffix == Some(""),
                };
                assert!(ok, "{line} is outside its family {family}");
                let labels: BTreeSet<&str> = labels.unwrap_or("").split(',').collect();
                assert!(series.insert((metric_name, labels)), "duplicate: {line}");
            }
            LineInfo::Empty | LineInfo::Ignored => panic!("unexpected line {line:?}"),
        }
    }
    assert_eq!(helps.len(), types.len());
    assert_eq!(
        types.len(),
        45 + 10 + 5,
        "metrics.rs has 45 families, vrrp_view.rs 10, announce_view.rs 5"
    );
    assert_eq!(scrape.docs.len(), types.len());
    for s in &scrape.samples {
        let typed = !matches!(s.value, Value::Untyped(_));
        // The parser leaves a histogram's _sum and _count untyped.
        let histogram_part = s.metric.ends_with("_sum") || s.metric.ends_with("_count");
        assert!(typed || histogram_part, "untyped sample {s:?}");
    }
}

/// The VRRP table's text columns (state, master, virtual IPs, dropped, tracking)
/// have left-aligned headers, as their cells and other tables' text columns do.
#[test]
fn the_vrrp_table_aligns_text_headers_left() {
    let mut o = String::new();
    super::vrrp_view::html(&mut o, &[vrrp_status()], |s| s.to_string());
    for name in ["state", "master", "virtual IPs", "dropped", "tracking"] {
        assert!(
            o.contains(&format!("<th class=\"l\">{name}</th>")),
            "{name}: {o}"
        );
    }
    for name in ["priority", "transitions", "adverts sent", "received"] {
        assert!(o.contains(&format!("<th>{name}</th>")), "{name}: {o}");
    }
}
