//! Balancing algorithms through the real proxy (HTTP mode, 1 worker where order
//! matters), against backends that name themselves in their answers.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::http::Client;
use common::switch::{spread_keepalive, Switch};
use common::{admin, Ringlb, PATIENCE};

fn config(balance: &str, servers: &[(&Switch, &str)]) -> String {
    config_with(balance, "", servers)
}

/// `backend`: more backend keys (and tables) before the servers.
fn config_with(balance: &str, backend: &str, servers: &[(&Switch, &str)]) -> String {
    let mut s = format!(
        "[global]\nworkers = 1\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\nbalance = \"{balance}\"\n{backend}\n"
    );
    for (sw, extra) in servers {
        s.push_str(&format!(
            "[[backend.server]]\nname = \"{}\"\naddress = \"{}\"\n{extra}\n",
            sw.name, sw.addr
        ));
    }
    s
}

#[test]
fn backups_take_over_only_when_every_primary_is_out() {
    let (a, b, c) = (Switch::start("a"), Switch::start("b"), Switch::start("c"));
    let r = Ringlb::start(&config(
        "roundrobin",
        &[(&a, ""), (&b, ""), (&c, "backup = true")],
    ));
    let adm = r.admin_addr();
    assert_eq!(spread_keepalive(r.addr(), 10).get("c"), None);
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/a/state", "maint", None).0,
        200
    );
    assert_eq!(
        spread_keepalive(r.addr(), 6).get("b"),
        Some(&6),
        "one primary left: no backup yet"
    );
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/b/state", "maint", None).0,
        200
    );
    assert_eq!(spread_keepalive(r.addr(), 6).get("c"), Some(&6));
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/a/state", "ready", None).0,
        200
    );
    assert_eq!(
        spread_keepalive(r.addr(), 6).get("a"),
        Some(&6),
        "the backup stands down"
    );
}

#[test]
fn weighted_random_follows_the_weights() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let r = Ringlb::start(&config("random", &[(&a, "weight = 1"), (&b, "weight = 3")]));
    let seen = spread_keepalive(r.addr(), 400);
    let to_b = seen.get("b").copied().unwrap_or(0);
    // Expected 300; the bound is more than 5 standard deviations (8.7) wide.
    assert!((250..=350).contains(&to_b), "{seen:?}");
}

#[test]
fn smooth_round_robin_interleaves_by_weight() {
    let (a, b, c) = (Switch::start("a"), Switch::start("b"), Switch::start("c"));
    let r = Ringlb::start(&config(
        "roundrobin",
        &[(&a, "weight = 5"), (&b, "weight = 1"), (&c, "weight = 1")],
    ));
    let mut client = Client::connect(r.addr());
    let order: String = (0..7)
        .map(|i| {
            let (_, _, body) = client.get(&format!("/o{i}"));
            char::from(body[0])
        })
        .collect();
    assert_eq!(
        order, "aabacaa",
        "nginx's smooth weighted round robin, no bursts"
    );
}

#[test]
fn p2c_gives_a_server_20ms_slower_under_15_percent_of_requests() {
    let (a, b, slow) = (
        Switch::start("a"),
        Switch::start("b"),
        Switch::start("slow"),
    );
    slow.set_delay(Duration::from_millis(20));
    let r = Ringlb::start(&config("p2c", &[(&a, ""), (&b, ""), (&slow, "")]));
    let seen = spread_keepalive(r.addr(), 100);
    let to_slow = seen.get("slow").copied().unwrap_or(0);
    assert!(
        to_slow < 15,
        "the slow server got {to_slow} of 100: {seen:?}"
    );
}

/// Bounded wait until `ok()` holds (a state the proxy and the backends reach).
fn until(what: &str, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !ok() {
        assert!(Instant::now() < deadline, "never: {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

fn in_flight(s: &Switch) -> usize {
    s.state.in_flight.load(Ordering::SeqCst)
}

/// One request on its own connection, in a thread: (status, body).
fn request(addr: SocketAddr, path: &str) -> JoinHandle<(u16, String)> {
    let path = path.to_string();
    thread::spawn(move || {
        let (status, _, body) = Client::connect(addr).get(&path);
        (status, String::from_utf8_lossy(&body).to_string())
    })
}

/// The server that answered a request with `headers` on `c`.
fn server_for(c: &mut Client, path: &str, headers: &str) -> String {
    c.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n{headers}\r\n").as_bytes());
    let (status, _, body) = c.response(false);
    assert_eq!(status, 200);
    let body = String::from_utf8_lossy(&body).to_string();
    body.split(' ').next().unwrap_or("").to_string()
}

#[test]
fn first_fills_servers_in_declaration_order() {
    let (a, b, c) = (Switch::start("a"), Switch::start("b"), Switch::start("c"));
    for s in [&a, &b, &c] {
        s.set_delay(Duration::from_secs(4));
    }
    let limit = "max_connections = 2";
    let r = Ringlb::start(&config("first", &[(&a, limit), (&b, limit), (&c, limit)]));
    let total = || in_flight(&a) + in_flight(&b) + in_flight(&c);
    let held: Vec<_> = (0..5)
        .map(|k| {
            let h = request(r.addr(), &format!("/f{k}"));
            until(&format!("{} requests held", k + 1), || total() == k + 1);
            h
        })
        .collect();
    // The first two fill a, the next two b, the fifth goes to c.
    assert_eq!(
        (in_flight(&a), in_flight(&b), in_flight(&c)),
        (2, 2, 1),
        "first server first, the next only when it is full"
    );
    for h in held {
        assert_eq!(h.join().unwrap().0, 200);
    }
    for s in [&a, &b, &c] {
        s.set_delay(Duration::ZERO);
    }
    // Nothing in flight: everything to the first server.
    assert_eq!(spread_keepalive(r.addr(), 6).get("a"), Some(&6));
}

/// HAProxy's default hash function (sdbm), as the oracle of `balance uri`: in its
/// textbook form (`h * 65599 + c`), not as ringlb computes it.
fn sdbm(key: &[u8]) -> u32 {
    key.iter().fold(0u32, |h, &c| {
        h.wrapping_mul(65_599).wrapping_add(u32::from(c))
    })
}

#[test]
fn uri_hashing_sends_each_path_where_haproxy_would() {
    let names = ["a", "b", "c"];
    let sw: Vec<Switch> = names.iter().map(|n| Switch::start(n)).collect();
    let r = Ringlb::start(&config("uri", &[(&sw[0], ""), (&sw[1], ""), (&sw[2], "")]));
    let mut c = Client::connect(r.addr());
    let mut used = HashMap::new();
    for i in 0..30 {
        let path = format!("/p/{i}");
        // map-based over three equal servers: entry (hash % 3), declaration order.
        let want = names[sdbm(path.as_bytes()) as usize % 3];
        for q in 0..2 {
            // The query string is not hashed (no `whole`).
            let got = server_for(&mut c, &format!("{path}?q={q}"), "");
            assert_eq!(got, want, "{path}");
        }
        *used.entry(want).or_insert(0) += 1;
    }
    assert_eq!(used.len(), 3, "paths spread over every server: {used:?}");
}

#[test]
fn url_param_hashing_and_round_robin_without_the_parameter() {
    let (a, b, c) = (Switch::start("a"), Switch::start("b"), Switch::start("c"));
    let r = Ringlb::start(&config_with(
        "url_param",
        "[backend.hash]\nparam = \"user\"",
        &[(&a, ""), (&b, ""), (&c, "")],
    ));
    let mut cl = Client::connect(r.addr());
    let mut seen = HashMap::new();
    for user in ["alice", "bob", "carol", "dave", "erin", "frank"] {
        let first = server_for(&mut cl, &format!("/x?user={user}"), "");
        for other in ["/y?a=1&user=", "/z?b=2&user="] {
            assert_eq!(server_for(&mut cl, &format!("{other}{user}"), ""), first);
        }
        seen.insert(user, first);
    }
    let distinct: std::collections::HashSet<_> = seen.values().collect();
    assert!(distinct.len() > 1, "users spread over servers: {seen:?}");
    // No parameter: round robin.
    let rr = spread_keepalive(r.addr(), 6);
    assert_eq!(
        rr.values().copied().collect::<Vec<_>>(),
        vec![2, 2, 2],
        "{rr:?}"
    );
}

#[test]
fn consistent_header_hashing_moves_only_the_keys_of_a_server_in_maintenance() {
    let names = ["a", "b", "c", "d"];
    let sw: Vec<Switch> = names.iter().map(|n| Switch::start(n)).collect();
    let r = Ringlb::start(&config_with(
        "hdr",
        "[backend.hash]\nheader = \"X-Tenant\"\ntype = \"consistent\"",
        &[(&sw[0], ""), (&sw[1], ""), (&sw[2], ""), (&sw[3], "")],
    ));
    let tenants: Vec<String> = (0..60).map(|i| format!("tenant{i}")).collect();
    let servers = |c: &mut Client| -> Vec<String> {
        tenants
            .iter()
            .map(|t| server_for(c, "/", &format!("X-Tenant: {t}\r\n")))
            .collect()
    };
    let mut cl = Client::connect(r.addr());
    let before = servers(&mut cl);
    assert!(before.iter().any(|s| s == "c"), "{before:?}");
    let adm = r.admin_addr();
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/c/state", "maint", None).0,
        200
    );
    let during = servers(&mut cl);
    for (b, d) in before.iter().zip(&during) {
        if b == "c" {
            assert_ne!(d, "c");
        } else {
            assert_eq!(b, d, "only c's tenants move");
        }
    }
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/c/state", "ready", None).0,
        200
    );
    assert_eq!(servers(&mut cl), before, "c's tenants come back");
}

#[test]
fn min_connections_grow_with_the_backend_load() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    for s in [&a, &b] {
        s.set_delay(Duration::from_secs(4));
    }
    // Limits 1..4 per server, full at 8 requests: the limit is load * 4 / 8.
    let dynamic = "max_connections = 4\nmin_connections = 1";
    let r = Ringlb::start(&config_with(
        "roundrobin",
        "full_connections = 8\ntimeout_queue = \"20s\"",
        &[(&a, dynamic), (&b, dynamic)],
    ));
    let queued = || {
        let (_, json) = admin(r.admin_addr(), "GET", "/api/servers", "", None);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["backends"][0]["queue"]["current"].as_u64().unwrap_or(0)
    };
    let total = || in_flight(&a) + in_flight(&b);
    let mut held = Vec::new();
    for k in 0..2 {
        held.push(request(r.addr(), &format!("/m{k}")));
        until("requests held", || total() == k + 1);
    }
    // A third request at load 3: the limit is still 1 (3 * 4 / 8): it waits.
    held.push(request(r.addr(), "/m2"));
    until("a request queued", || queued() == 1);
    assert_eq!((in_flight(&a), in_flight(&b)), (1, 1));
    // A fourth brings the load to 4: limits of 2, both go in.
    held.push(request(r.addr(), "/m3"));
    until("four requests held", || total() == 4);
    assert_eq!((in_flight(&a), in_flight(&b)), (2, 2));
    for h in held {
        assert_eq!(h.join().unwrap().0, 200);
    }
}
