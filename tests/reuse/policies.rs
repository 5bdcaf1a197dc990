//! Which requests each policy lets take an idle connection: never, safe, aggressive, always, one and two workers, HTTP/2 streams.

use super::*;

#[test]
fn safe_the_default_opens_a_connection_per_first_request() {
    let backend = Backend::start();
    let r = Ringlb::start(&config(backend.addr, "", 1));
    one_request_each(&r, 8);
    assert_eq!(backend.accepted(), 8);
    // Later requests of a client connection do reuse (keep-alive): the newest idle
    // connection, the one its first request just gave back.
    let mut c = Client::connect(r.addr());
    for _ in 0..3 {
        assert_eq!(c.get("/ka").0, 200);
    }
    assert_eq!(backend.accepted(), 9);
    assert_counters_agree(&r, &backend);
}

#[test]
fn never_shares_no_connection_but_keeps_one_per_client_connection() {
    let backend = Backend::start();
    let r = Ringlb::start(&config(backend.addr, "http_reuse = \"never\"", 1));
    one_request_each(&r, 6);
    assert_eq!(backend.accepted(), 6);
    // Keep-alive within a client connection: its own server connection, every time.
    let mut c = Client::connect(r.addr());
    for _ in 0..4 {
        assert_eq!(c.get("/ka").0, 200);
    }
    assert_eq!(backend.accepted(), 7);
    // A second client connection alongside never gets the first one's connection.
    let mut d = Client::connect(r.addr());
    assert_eq!(d.get("/other").0, 200);
    assert_eq!(c.get("/ka").0, 200);
    assert_eq!(backend.accepted(), 8);
    assert_counters_agree(&r, &backend);
}

#[test]
fn always_lets_first_requests_take_idle_connections() {
    let backend = Backend::start();
    let r = Ringlb::start(&config(backend.addr, "http_reuse = \"always\"", 1));
    one_request_each(&r, 20);
    // Sequential clients: the one idle connection carries (nearly) all of them.
    assert!(
        backend.accepted() < 10,
        "{} connections for 20 requests",
        backend.accepted()
    );
    assert_eq!(backend.requests(), 20);
    assert_counters_agree(&r, &backend);
    let (status, page) = common::admin(r.admin_addr(), "GET", "/", "", None);
    assert_eq!(status, 200);
    assert!(
        page.contains("new server connections per 1,000 requests"),
        "{page}"
    );
}

#[test]
fn always_with_two_workers_reuses_in_each_worker() {
    let backend = Backend::start();
    let r = Ringlb::start(&config(backend.addr, "http_reuse = \"always\"", 2));
    one_request_each(&r, 30);
    // Each worker has its own pool: at most a few connections each.
    assert!(
        backend.accepted() < 15,
        "{} connections for 30 requests",
        backend.accepted()
    );
    assert_counters_agree(&r, &backend);
}

#[test]
fn aggressive_gives_first_requests_only_connections_reused_before() {
    let backend = Backend::start();
    let r = Ringlb::start(&config(backend.addr, "http_reuse = \"aggressive\"", 1));
    // Two first requests: the connection the first one left has carried one request
    // only, so the second does not take it.
    one_request_each(&r, 2);
    assert_eq!(backend.accepted(), 2);
    // A client connection's second request takes an idle connection (the newest);
    // that one has now carried two requests: proven.
    let mut c = Client::connect(r.addr());
    assert_eq!(c.get("/a").0, 200);
    assert_eq!(c.get("/b").0, 200);
    assert_eq!(backend.accepted(), 3);
    drop(c);
    // First requests from now on take the proven connection.
    one_request_each(&r, 5);
    assert_eq!(backend.accepted(), 3);
    assert_counters_agree(&r, &backend);
}

/// `n` requests on one HTTP/2 connection (cleartext, prior knowledge), one stream at
/// a time: h2load `-c 1 -m 1`.
fn h2_streams_in_turn(r: &Ringlb, n: usize) {
    let out = std::process::Command::new("h2load")
        .args(["-c", "1", "-m", "1", "-n", &n.to_string()])
        .arg(format!("http://{}/h2", r.addr()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let done = format!("requests: {n} total, {n} started, {n} done, {n} succeeded");
    assert!(text.contains(&done), "h2load said:\n{text}");
    assert!(text.contains(&format!("status codes: {n} 2xx")), "{text}");
}

#[test]
fn safe_sends_the_first_stream_of_an_http2_connection_on_a_new_connection_only() {
    if !common::tool_installed("h2_safe", "h2load") {
        return;
    }
    let backend = Backend::start();
    let cfg = config(backend.addr, "", 1).replace(
        "mode = \"http\"\n",
        "mode = \"http\"\nh2c = \"prior-knowledge\"\n",
    );
    let r = Ringlb::start(&cfg);
    // An HTTP/2 connection is one session, as in HAProxy: its first stream opens a
    // server connection; the later ones may take it once it is idle again.
    h2_streams_in_turn(&r, 4);
    assert_eq!((backend.accepted(), backend.requests()), (1, 4));
    // Another HTTP/2 connection: its first stream does not take the idle one.
    h2_streams_in_turn(&r, 2);
    assert_eq!((backend.accepted(), backend.requests()), (2, 6));
    assert_counters_agree(&r, &backend);
}
