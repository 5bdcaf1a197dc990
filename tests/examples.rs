//! The examples in configs/ do what their comments say, run against local backends
//! (configs/bgp-node.toml and the BIRD files beside it run in tests/bgp.rs, which
//! needs namespaces).

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

/// The Patroni example with loopback addresses: the three nodes `pg` (their Patroni
/// APIs `api` as check ports), the other site's standby `dr`, faster checks.
fn patroni_config(pg: &[Echo], dr: &Echo, api: &[StatusApi]) -> String {
    let mut text = example("patroni.toml")
        .replace("workers = 0", "workers = 1")
        .replace("127.0.0.1:5000", "127.0.0.1:0")
        .replace("127.0.0.1:5001", "127.0.0.1:0")
        .replace("127.0.0.1:9900", "127.0.0.1:0")
        .replace("127.0.0.4:5432", &dr.addr.to_string())
        .replace("interval = \"3s\"", "interval = \"100ms\"")
        .replace("fast_interval = \"1s\"", "fast_interval = \"50ms\"");
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
    text
}

#[test]
fn patroni_example_writes_follow_the_leader_reads_go_to_replicas_and_the_backup_takes_over() {
    let pg: Vec<Echo> = (0..3).map(|_| Echo::start()).collect();
    let dr = Echo::start();
    let leader = Arc::new(AtomicUsize::new(0));
    let api: Vec<StatusApi> = (0..3).map(|i| patroni_api(i, leader.clone())).collect();
    let text = patroni_config(&pg, &dr, &api);
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

#[test]
fn tls_passthrough_example_routes_by_sni_behind_a_proxy_protocol_sender() {
    use common::pp_peers::ProxyBackend;
    use common::tls::{connect, CertDir, Hello, TlsBackend};
    use std::io::{Read, Write};
    let dir = CertDir::new();
    let apps_der = dir.write("apps", &["*.apps.example.com"]);
    let dflt_der = dir.write("dflt", &["default.example.com"]);
    let (apps1, apps2, dflt) = (
        TlsBackend::start(&dir, "apps"),
        TlsBackend::start(&dir, "apps"),
        TlsBackend::start(&dir, "dflt"),
    );
    // The api server takes a PROXY header first (send_proxy = "v2"): it records it,
    // then terminates TLS like the others would.
    let api = ProxyBackend::start();
    let text = example("tls-passthrough.toml")
        .replace("127.0.0.1:8443", "127.0.0.1:0")
        .replace("127.0.0.1:9441", &api.addr.to_string())
        .replace("127.0.0.1:9442", &apps1.addr.to_string())
        .replace("127.0.0.1:9443", &apps2.addr.to_string())
        .replace("127.0.0.1:9444", &dflt.addr.to_string());
    let r = Ringlb::start(&text);
    // A front proxy's connection: a PROXY v2 header, then the client's TLS.
    let through_front = |sni: &str| {
        let mut h = Vec::new();
        let client = Some((
            "203.0.113.9:40000".parse().unwrap(),
            "198.51.100.1:443".parse().unwrap(),
        ));
        ringlb::proxy_protocol::encode_v2(client, &Default::default(), &mut h);
        let mut tcp = std::net::TcpStream::connect(r.addr()).unwrap();
        tcp.write_all(&h).unwrap();
        let hello = Hello {
            sni: Some(sni),
            ..Default::default()
        };
        common::tls::connect_over(tcp, &hello)
    };
    let mut c = through_front("x.apps.example.com").unwrap();
    assert_eq!(c.presented, apps_der);
    assert_eq!(c.get("/a").0, 200);
    let c = through_front("nothing.example.net").unwrap();
    assert_eq!(c.presented, dflt_der);
    // api: the server got ringlb's header naming the client, then the raw hello
    // (the recording backend echoes what follows, so the handshake cannot finish:
    // the echo of the ClientHello is no ServerHello).
    assert!(through_front("api.example.com").is_err());
    let deadline = std::time::Instant::now() + common::PATIENCE;
    while api.sources().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "api got no connection"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(api.sources(), ["203.0.113.9:40000"]);
    // A client straight in, without the front proxy's header: refused.
    assert!(connect(r.addr(), &Hello::default()).is_err());
    // Not TLS after a good header: closed (sni_fallback = "close").
    let mut h = Vec::new();
    ringlb::proxy_protocol::encode_v2(None, &Default::default(), &mut h);
    let mut tcp = std::net::TcpStream::connect(r.addr()).unwrap();
    tcp.set_read_timeout(Some(common::PATIENCE)).unwrap();
    tcp.write_all(&h).unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest);
    assert!(rest.is_empty());
}
