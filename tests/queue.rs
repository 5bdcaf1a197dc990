//! Server `max_connections` and the backend queue, through the real binary: a backend
//! that holds requests counts how many it sees at once; queued requests wait FIFO, get
//! 503 after `timeout_queue` or at once when the queue is full, and move to another
//! server as soon as one has room.

mod common;

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use common::http::Client;
use common::switch::Switch;
use common::{admin, Ringlb};
use std::sync::atomic::Ordering;

fn config(workers: usize, backend: &str, servers: &[(&Switch, &str)]) -> String {
    let mut s = format!(
        "[global]\nworkers = {workers}\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n{backend}\n"
    );
    for (sw, extra) in servers {
        s.push_str(&format!(
            "[[backend.server]]\nname = \"{}\"\naddress = \"{}\"\n{extra}\n",
            sw.name, sw.addr
        ));
    }
    s
}

/// `n` concurrent requests (one connection each); their statuses, bodies, and when
/// each answer arrived.
fn concurrent(addr: SocketAddr, n: usize) -> Vec<(u16, String, Instant)> {
    let handles: Vec<_> = (0..n)
        .map(|i| {
            thread::spawn(move || {
                let (status, _, body) = Client::connect(addr).get(&format!("/r{i}"));
                (
                    status,
                    String::from_utf8_lossy(&body).to_string(),
                    Instant::now(),
                )
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn count(results: &[(u16, String, Instant)], status: u16) -> usize {
    results.iter().filter(|(s, _, _)| *s == status).count()
}

#[test]
fn max_connections_caps_concurrency_and_the_rest_wait_their_turn() {
    let a = Switch::start("a");
    a.set_delay(Duration::from_millis(150));
    let r = Ringlb::start(&config(
        1,
        "timeout_queue = \"10s\"",
        &[(&a, "max_connections = 2")],
    ));
    let results = concurrent(r.addr(), 8);
    assert_eq!(count(&results, 200), 8, "{results:?}");
    assert_eq!(a.state.max_in_flight.load(Ordering::SeqCst), 2);
    let (_, json) = admin(r.admin_addr(), "GET", "/api/servers", "", None);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let queued = v["backends"][0]["queue"]["queued_total"].as_u64().unwrap();
    assert!(queued >= 5, "only {queued} waited: {json}");
    assert_eq!(v["backends"][0]["queue"]["current"], 0);
}

#[test]
fn the_limit_is_split_across_workers() {
    let a = Switch::start("a");
    a.set_delay(Duration::from_millis(100));
    let r = Ringlb::start(&config(
        2,
        "timeout_queue = \"10s\"",
        &[(&a, "max_connections = 2")],
    ));
    let results = concurrent(r.addr(), 12);
    assert_eq!(count(&results, 200), 12, "{results:?}");
    assert!(a.state.max_in_flight.load(Ordering::SeqCst) <= 2);
}

#[test]
fn a_request_that_waits_past_timeout_queue_gets_503() {
    let a = Switch::start("a");
    a.set_delay(Duration::from_millis(1500));
    let backend = "timeout_queue = \"100ms\"";
    let r = Ringlb::start(&config(1, backend, &[(&a, "max_connections = 1")]));
    let started = Instant::now();
    let results = concurrent(r.addr(), 3);
    assert_eq!(
        (count(&results, 200), count(&results, 503)),
        (1, 2),
        "{results:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert_eq!(
        a.requests(),
        1,
        "a timed-out request must never reach the server"
    );
    let (_, metrics) = admin(r.admin_addr(), "GET", "/metrics", "", None);
    assert!(
        metrics.contains("ringlb_backend_queue_timeouts_total{backend=\"app\"} 2"),
        "{metrics}"
    );
}

#[test]
fn a_full_queue_refuses_at_once() {
    let a = Switch::start("a");
    a.set_delay(Duration::from_millis(400));
    let backend = "max_queue = 1\ntimeout_queue = \"10s\"";
    let r = Ringlb::start(&config(1, backend, &[(&a, "max_connections = 1")]));
    let results = concurrent(r.addr(), 3);
    // One served, one waits then is served, one finds the queue full.
    assert_eq!(
        (count(&results, 200), count(&results, 503)),
        (2, 1),
        "{results:?}"
    );
    let (_, metrics) = admin(r.admin_addr(), "GET", "/metrics", "", None);
    assert!(
        metrics.contains("ringlb_backend_queue_full_total{backend=\"app\"} 1"),
        "{metrics}"
    );
}

#[test]
fn queued_requests_go_to_a_server_as_soon_as_it_has_room() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    a.set_delay(Duration::from_millis(3000));
    let r = Ringlb::start(&config(
        1,
        "timeout_queue = \"10s\"",
        &[(&a, "max_connections = 1"), (&b, "max_connections = 5")],
    ));
    let adm = r.admin_addr();
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/b/state", "maint", None).0,
        200
    );
    let front = r.addr();
    let waiting = thread::spawn(move || concurrent(front, 3));
    a.wait_requests(1);
    // a holds one request for 3 s, two wait; bringing b back lets them go at once.
    let started = Instant::now();
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/b/state", "ready", None).0,
        200
    );
    b.wait_requests(2);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "queued requests waited for a"
    );
    let results = waiting.join().unwrap();
    assert_eq!(count(&results, 200), 3, "{results:?}");
    assert_eq!(
        results
            .iter()
            .filter(|(_, body, _)| body.starts_with("b "))
            .count(),
        2
    );
}

#[test]
fn when_no_server_is_usable_waiting_requests_are_answered_at_once() {
    let a = Switch::start("a");
    a.set_delay(Duration::from_millis(2000));
    let r = Ringlb::start(&config(
        1,
        "timeout_queue = \"10s\"",
        &[(&a, "max_connections = 1")],
    ));
    let adm = r.admin_addr();
    let front = r.addr();
    let waiting = thread::spawn(move || concurrent(front, 3));
    a.wait_requests(1);
    let started = Instant::now();
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/a/state", "maint", None).0,
        200
    );
    let results = waiting.join().unwrap();
    // The request in flight finishes; the two waiting get 503 without waiting 10 s.
    assert_eq!(
        (count(&results, 200), count(&results, 503)),
        (1, 2),
        "{results:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
