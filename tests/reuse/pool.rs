//! The pool's bounds: pool_max_connections, the recent need, the purge, the idle timeout, the worker's budget, TIME_WAIT, bad keys, a connection closed while pooled.

use super::*;

#[test]
fn an_unknown_http_reuse_is_refused_naming_the_key() {
    let cfg = config(common::closed_port(), "http_reuse = \"sometimes\"", 1);
    let file = common::TempConfig::new(&cfg);
    let out = std::process::Command::new(common::BIN)
        .args(["check", "-c"])
        .arg(&file.0)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // file:line:column, the backend, the key, the value and the ones allowed.
    assert!(err.contains(".toml:14:"), "{err}");
    assert!(err.contains("backend \"app\": http_reuse"), "{err}");
    assert!(
        err.contains("`sometimes`") && err.contains("`aggressive`"),
        "{err}"
    );
}

/// `n` GETs on `n` client connections at once (all sent before any is answered: the
/// backend waits before each response), so each needs a server connection of its own.
fn concurrent_requests(r: &Ringlb, n: usize) {
    let mut clients: Vec<Client> = (0..n).map(|_| Client::connect(r.addr())).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(format!("GET /c/{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    for c in &mut clients {
        assert_eq!(c.response(false).0, 200);
    }
}

#[test]
fn pool_max_connections_bounds_the_idle_connections_kept_per_server() {
    let backend = Backend::start_with_delay(std::time::Duration::from_millis(200));
    let reuse = "http_reuse = \"always\"\npool_max_connections = 2";
    let r = Ringlb::start(&config(backend.addr, reuse, 1));
    concurrent_requests(&r, 4);
    assert_eq!(backend.accepted(), 4);
    // Four came back to a pool that keeps two: the two oldest are given up.
    backend.wait_closed(2);
    // Four at once again: two take the idle ones, two open new connections.
    concurrent_requests(&r, 4);
    assert_eq!(backend.accepted(), 6);
    assert_counters_agree(&r, &backend);
}

#[test]
fn pool_max_connections_zero_keeps_none() {
    let backend = Backend::start();
    let reuse = "http_reuse = \"always\"\npool_max_connections = 0";
    let r = Ringlb::start(&config(backend.addr, reuse, 1));
    one_request_each(&r, 5);
    assert_eq!(backend.accepted(), 5);
    backend.wait_closed(5);
    // Keep-alive on the client side still works; each request on a new connection.
    let mut c = Client::connect(r.addr());
    for _ in 0..3 {
        assert_eq!(c.get("/ka").0, 200);
    }
    assert_eq!(backend.accepted(), 8);
    assert_counters_agree(&r, &backend);
}

/// The local ends of the TIME_WAIT sockets whose peer port is `to`'s
/// (`/proc/net/tcp`: state 06), i.e. left on the side that closed first when `to` is
/// the backend. Other tests' sockets may match (a client that closed first to an
/// earlier test's ringlb on the port the backend got now): compare with a set taken
/// before.
fn time_wait_to(to: SocketAddr) -> std::collections::HashSet<String> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let peer = format!(":{:04X}", to.port());
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 3 && f[2].ends_with(&peer) && f[3] == "06").then(|| f[1].to_string())
        })
        .collect()
}

#[test]
fn a_server_connection_the_pool_does_not_keep_is_reset_leaving_no_time_wait() {
    let backend = Backend::start();
    let before = time_wait_to(backend.addr);
    let r = Ringlb::start(&config(backend.addr, "pool_max_connections = 0", 1));
    let mut c = Client::connect(r.addr());
    for _ in 0..5 {
        assert_eq!(c.get("/ka").0, 200);
    }
    backend.wait_closed(5);
    // ringlb closed each first, with nothing in flight: a reset, as HAProxy does, so
    // no TIME_WAIT socket holds one of ringlb's local ports for a minute.
    let new: Vec<String> = time_wait_to(backend.addr)
        .difference(&before)
        .cloned()
        .collect();
    assert!(new.is_empty(), "TIME_WAIT sockets to the backend: {new:?}");
    assert_eq!(backend.accepted(), 5);
}

#[test]
fn the_default_pool_keeps_as_many_idle_connections_as_were_in_use() {
    let backend = Backend::start_with_delay(std::time::Duration::from_millis(300));
    let r = Ringlb::start(&config(backend.addr, "http_reuse = \"always\"", 1));
    concurrent_requests(&r, 70);
    assert_eq!(backend.accepted(), 70);
    // All 70 came back while up to 70 were in use: all kept (HAProxy's default; a
    // fixed bound of 64 would have closed 6 and opened 6 again below).
    concurrent_requests(&r, 70);
    assert_eq!(backend.accepted(), 70);
    assert_eq!(backend.closed(), 0);
    // One client after another needs one connection: the ones given back now take
    // the oldest idle one's place, so the pool does not grow past the burst.
    one_request_each(&r, 5);
    assert_eq!(backend.accepted(), 70);
    assert_counters_agree(&r, &backend);
}

#[test]
fn a_worker_keeps_at_most_half_its_share_of_max_connections_idle() {
    let backend = Backend::start_with_delay(std::time::Duration::from_millis(200));
    let cfg = config(backend.addr, "http_reuse = \"always\"", 1)
        .replace("workers = 1\n", "workers = 1\nmax_connections = 8\n");
    let r = Ringlb::start(&cfg);
    concurrent_requests(&r, 8);
    assert_eq!(backend.accepted(), 8);
    // 8 were in use, but the worker keeps at most 4 idle (a quarter of the
    // descriptors 8 client connections are planned for, as HAProxy's
    // tune.pool-high-fd-ratio): the 4 oldest go.
    backend.wait_closed(4);
    concurrent_requests(&r, 8);
    assert_eq!(backend.accepted(), 12);
    assert_counters_agree(&r, &backend);
}

#[test]
fn idle_connections_past_the_recent_need_are_purged_half_at_a_time() {
    let backend = Backend::start_with_delay(std::time::Duration::from_millis(300));
    let keys = "http_reuse = \"always\"\npool_purge_delay = \"2s\"\npool_idle_timeout = \"1m\"";
    let r = Ringlb::start(&config(backend.addr, keys, 1));
    concurrent_requests(&r, 20);
    assert_eq!(backend.accepted(), 20);
    // Nothing in use any more: the first purges remember the burst (its peak, then
    // half of it); the third closes half the excess (5 of the 20), the next ones
    // half of what is still past the need, a purge delay apart.
    backend.wait_closed(5);
    let closed = backend.closed();
    assert!((5..=10).contains(&closed), "{closed} closed at once");
    // The others are still there for the next burst.
    concurrent_requests(&r, 20 - closed);
    assert_eq!(backend.accepted(), 20);
    assert_counters_agree(&r, &backend);
}

#[test]
fn pool_idle_timeout_closes_an_idle_connection_after_it() {
    let backend = Backend::start();
    let reuse = "http_reuse = \"always\"\npool_idle_timeout = \"200ms\"";
    let r = Ringlb::start(&config(backend.addr, reuse, 1));
    one_request_each(&r, 1);
    // The once-a-second sweep closes it (the default, 4 s, would keep it longer).
    backend.wait_closed(1);
    one_request_each(&r, 1);
    assert_eq!(backend.accepted(), 2);
    assert_counters_agree(&r, &backend);
}

#[test]
fn pool_keys_out_of_range_are_refused_naming_the_key() {
    for (text, key) in [
        ("pool_max_connections = -1", "pool_max_connections"),
        ("pool_idle_timeout = \"0s\"", "pool_idle_timeout"),
        ("pool_idle_timeout = \"soon\"", "pool_idle_timeout"),
        ("pool_purge_delay = \"0s\"", "pool_purge_delay"),
        ("pool_max_connections = 100001", "pool_max_connections"),
    ] {
        let file = common::TempConfig::new(&config(common::closed_port(), text, 1));
        let out = std::process::Command::new(common::BIN)
            .args(["check", "-c"])
            .arg(&file.0)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{text} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(".toml:14:"), "{text}: {err}");
        assert!(err.contains(&format!("backend \"app\": {key}")), "{err}");
    }
}

/// A server closes (FIN) a connection ringlb has pooled: ringlb closes its side as the
/// FIN arrives (the pool's wait on idle connections), not when the connection would
/// next be taken or its `pool_idle_timeout` (a minute here) ends; with either I/O
/// driver. The server sees that as EOF on its half-closed socket; a bounded wait, never
/// reached when it passes.
#[test]
fn a_connection_the_server_closes_while_pooled_is_closed_at_once() {
    const BOUND: std::time::Duration = std::time::Duration::from_secs(10);
    for driver in ["io_uring", "legacy"] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let (go, go_rx) = std::sync::mpsc::channel::<()>();
        thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if let Ok(Some(_)) = read_message(&mut reader) {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
            // Closed once the client has its response (ringlb pools the connection
            // then, or as the FIN arrives: closed at once either way).
            if go_rx.recv_timeout(BOUND).is_err() {
                return;
            }
            let _ = stream.shutdown(Shutdown::Write);
            let _ = stream.set_read_timeout(Some(BOUND));
            let mut rest = Vec::new();
            let verdict = match std::io::Read::read_to_end(&mut reader, &mut rest) {
                Ok(_) if rest.is_empty() => "closed",
                Ok(_) => "sent more",
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => "closed",
                Err(_) => "still open",
            };
            let _ = tx.send(verdict);
        });
        let keys = "http_reuse = \"always\"\npool_idle_timeout = \"1m\"";
        let cfg = config(addr, keys, 1).replace(
            "[global]\n",
            &format!("[global]\nio_driver = \"{driver}\"\n"),
        );
        let r = Ringlb::start(&cfg);
        let mut c = Client::connect(r.addr());
        c.send(b"GET /one HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert_eq!(c.response(false).0, 200, "{driver}");
        go.send(()).unwrap();
        assert_eq!(rx.recv_timeout(BOUND * 2), Ok("closed"), "{driver}");
        assert_eq!(metric(&r, "ringlb_backend_connections_opened_total"), 1);
    }
}

/// `ringlb_server_idle_connections` for server `a1`, once it reads `want` (the
/// workers' pools change as responses end and closes are seen: polled, bounded).
fn wait_idle_gauge(r: &Ringlb, want: u64) {
    let line = "ringlb_server_idle_connections{backend=\"app\",server=\"a1\"} ";
    let deadline = std::time::Instant::now() + common::PATIENCE;
    loop {
        let (status, text) = common::admin(r.admin_addr(), "GET", "/metrics", "", None);
        assert_eq!(status, 200);
        let now = text.lines().find_map(|l| l.strip_prefix(line));
        let now: u64 = now.and_then(|v| v.trim().parse().ok()).unwrap_or_else(|| {
            panic!("no {line:?} in /metrics:\n{text}");
        });
        if now == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "idle connections to a1: {now}, never {want}"
        );
        thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The idle gauge shows the pool (HAProxy's `idle_conn_cur`): none before any
/// request, one server connection once two client connections' requests ended on it
/// (`always`: the second reused the first's), none once the server closed it.
#[test]
fn the_idle_gauge_follows_the_pool_from_none_to_one_and_back_when_the_server_closes() {
    let backend = Backend::start();
    let r = Ringlb::start(&config(backend.addr, "http_reuse = \"always\"", 1));
    wait_idle_gauge(&r, 0);
    one_request_each(&r, 2);
    wait_idle_gauge(&r, 1);
    assert_eq!(backend.accepted(), 1);
    let mut c = Client::connect(r.addr());
    assert_eq!(c.get("/close-after").0, 200);
    backend.wait_closed(1);
    wait_idle_gauge(&r, 0);
    assert_eq!(backend.accepted(), 1);
}
