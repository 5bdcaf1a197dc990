//! The examples in configs/ do what their comments say, run against local backends.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::http::Client;
use common::peers::{tcp_round_trips, StatusApi};
use common::switch::Switch;
use common::{Echo, Ringlb};

fn example(name: &str) -> String {
    let path = format!("{}/configs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn tcp_example_sends_traffic_to_the_backup_once_the_primary_is_down() {
    let (pg1, pg2) = (Switch::start("pg1"), Switch::start("pg2"));
    let text = example("tcp.toml")
        .replace("127.0.0.1:6432", "127.0.0.1:0")
        .replace("127.0.0.1:5432", &pg1.addr.to_string())
        .replace("127.0.0.1:5433", &pg2.addr.to_string())
        .replace("interval = \"2s\"", "interval = \"100ms\"");
    let mut r = Ringlb::start(&text);
    // (The backends speak HTTP, which a TCP frontend carries as bytes.)
    let (status, _, body) = Client::connect(r.addr()).get("/q");
    assert_eq!((status, body.as_slice()), (200, &b"pg1 /q"[..]));
    pg1.stop();
    r.wait_for("pg/pg1 DOWN");
    let (status, _, body) = Client::connect(r.addr()).get("/q");
    assert_eq!((status, body.as_slice()), (200, &b"pg2 /q"[..]));
}

/// Patroni's REST API of node `me`: `/primary` is 200 on the leader only, `/replica`
/// 200 on the others (503 otherwise); no node leads when `leader` names none.
fn patroni_api(me: usize, leader: Arc<AtomicUsize>) -> StatusApi {
    StatusApi::start(move |head: &str| {
        let leads = leader.load(Ordering::SeqCst) == me;
        let path = head.split(' ').nth(1).unwrap_or("");
        let ok = match path {
            "/primary" => leads,
            "/replica" => !leads && leader.load(Ordering::SeqCst) < 3,
            _ => false,
        };
        (if ok { 200 } else { 503 }, String::new())
    })
}

#[test]
fn patroni_example_writes_follow_the_leader_reads_go_to_replicas_and_the_backup_takes_over() {
    let pg: Vec<Echo> = (0..3).map(|_| Echo::start()).collect();
    let dr = Echo::start();
    let leader = Arc::new(AtomicUsize::new(0));
    let api: Vec<StatusApi> = (0..3).map(|i| patroni_api(i, leader.clone())).collect();
    let mut text = example("patroni.toml")
        .replace("workers = 0", "workers = 1")
        .replace("127.0.0.1:5000", "127.0.0.1:0")
        .replace("127.0.0.1:5001", "127.0.0.1:0")
        .replace("127.0.0.1:9900", "127.0.0.1:0")
        .replace("127.0.0.4:5432", &dr.addr.to_string())
        .replace("interval = \"3s\"", "interval = \"100ms\"")
        .replace("fast_interval = \"1s\"", "fast_interval = \"50ms\"")
        .replace("timeout = \"2s\"", "timeout = \"300ms\"");
    for i in 0..3 {
        // Every node has its own loopback port here; in production all use 8008.
        text = text.replace(
            &format!("address = \"127.0.0.{}:5432\"", i + 1),
            &format!(
                "address = \"{}\"\ncheck_port = {}",
                pg[i].addr,
                api[i].addr.port()
            ),
        );
    }
    let mut r = Ringlb::start(&text);
    let applied = |r: &mut Ringlb, backend: usize, server: usize, what: &str| {
        let (b, s) = (format!("backend={backend}"), format!("server={server}"));
        r.wait_count(&["server state applied", &b, &s, what], 1);
    };
    for line in [
        "pg_primary/pg2 DOWN",
        "pg_primary/pg3 DOWN",
        "pg_replicas/pg1 DOWN",
    ] {
        r.wait_logged(line);
    }
    applied(&mut r, 0, 1, "oper: Down");
    applied(&mut r, 0, 2, "oper: Down");
    applied(&mut r, 1, 0, "oper: Down");
    let (write, read) = (r.addrs[0], r.addrs[1]);
    let counts = |pg: &[Echo]| pg.iter().map(Echo::count).collect::<Vec<_>>();
    tcp_round_trips(write, 4);
    assert_eq!(counts(&pg), vec![4, 0, 0], "writes go to the leader");
    tcp_round_trips(read, 4);
    let c = counts(&pg);
    assert_eq!(
        (c[0], c[1] + c[2]),
        (4, 4),
        "reads go to the replicas: {c:?}"
    );

    // Failover to pg3: writes follow it, the old leader serves reads.
    leader.store(2, Ordering::SeqCst);
    for line in [
        "pg_primary/pg1 DOWN",
        "pg_primary/pg3 UP",
        "pg_replicas/pg3 DOWN",
        "pg_replicas/pg1 UP",
    ] {
        r.wait_logged(line);
    }
    r.wait_count(
        &["server state applied", "backend=0", "server=2", "oper: Up"],
        1,
    );
    r.wait_count(
        &["server state applied", "backend=1", "server=0", "oper: Up"],
        1,
    );
    r.wait_count(
        &[
            "server state applied",
            "backend=0",
            "server=0",
            "oper: Down",
        ],
        1,
    );
    let before = counts(&pg);
    tcp_round_trips(write, 3);
    assert_eq!(
        counts(&pg)[2] - before[2],
        3,
        "writes follow the new leader"
    );

    // No leader at all: the standby cluster in the other site gets the writes.
    leader.store(9, Ordering::SeqCst);
    r.wait_for("pg_primary/pg3 DOWN");
    // pg3 went down in this backend once already, at start.
    r.wait_count(
        &[
            "server state applied",
            "backend=0",
            "server=2",
            "oper: Down",
        ],
        2,
    );
    tcp_round_trips(write, 2);
    assert_eq!(
        dr.count(),
        2,
        "the backup takes the writes while no node leads"
    );
}
