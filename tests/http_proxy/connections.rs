//! Connections: pooled server connections, HTTP/1.0 and close, idle keep-alive, clean EOF after close.

use super::*;

#[test]
fn a_server_closing_an_idle_pooled_connection_is_invisible_to_get() {
    let (backend, rl) = setup("", "");
    let mut c = Client::connect(rl.addr());
    assert_eq!(c.get("/first").0, 200);
    // The server answers, then closes that connection while it sits in the pool.
    assert_eq!(c.get("/close-after").0, 200);
    // Only once the backend has closed it (its FIN is on the way to ringlb) is the
    // next request sure to meet a dead pooled connection.
    backend.wait_closed(1);
    assert_eq!(
        backend.accepted(),
        1,
        "/first and /close-after should share one pooled connection"
    );
    for i in 0..3 {
        let (status, _, body) = c.get(&format!("/again{i}"));
        assert_eq!(status, 200);
        assert_eq!(body, format!("ok GET /again{i} 0").as_bytes());
    }
    // The retried request went on a new connection (one: it was pooled and reused in
    // turn), and no request reached the backend twice.
    assert_eq!(
        backend.accepted(),
        2,
        "one new connection should replace the closed one"
    );
    assert_eq!(backend.requests(), 5, "a request reached the backend twice");
}

#[test]
fn http_10_and_connection_close_are_honoured() {
    let (_backend, rl) = setup("", "");
    let mut c = Client::connect(rl.addr());
    c.send(b"GET /a HTTP/1.0\r\n\r\n");
    let (status, head, body) = c.response(false);
    assert_eq!((status, body.as_slice()), (200, &b"ok GET /a 0"[..]));
    assert!(head.contains("connection: close"), "{head}");
    assert!(c.closed());
    // An HTTP/1.0 client must not get a chunked body: its request goes out as 1.0.
    let mut c = Client::connect(rl.addr());
    c.send(b"GET /chunked/10 HTTP/1.0\r\n\r\n");
    let (status, head, body) = c.response(false);
    assert_eq!(status, 200);
    assert!(!head.to_ascii_lowercase().contains("chunked"), "{head}");
    assert!(_backend
        .last_head()
        .starts_with("GET /chunked/10 HTTP/1.0\r\n"));
    assert_eq!(body.len(), 10);
    let mut c = Client::connect(rl.addr());
    c.send(b"GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let (_, head, _) = c.response(false);
    assert!(head.contains("connection: keep-alive"), "{head}");
    assert_eq!(c.get("/c").0, 200);
    c.send(b"GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(c.response(false).0, 200);
    assert!(c.closed());
}

#[test]
fn a_keep_alive_connection_idle_past_the_hot_wait_still_works() {
    let (backend, rl) = setup("", "");
    let mut c = Client::connect(rl.addr());
    assert_eq!(c.get("/one").0, 200);
    // Longer than the 1 to 1.5 s during which the read stays armed with its buffer
    // (the worker's tick ends it): the session has gone to its buffer-free readiness
    // wait by now. The sleep is deliberate: it waits out that time, a state nothing
    // outside the process shows.
    thread::sleep(Duration::from_millis(1800));
    assert_eq!(c.get("/two").2, b"ok GET /two 0");
    assert_eq!(backend.requests(), 2);
}

/// A keep-alive timeout of 2 s or more: the armed wait ends on the worker's tick (1 to
/// 1.5 s), and the rest of the timeout is counted from the wait's start, not from that
/// tick: the connection is closed at the timeout, not sooner, and not a tick later
/// plus the whole timeout. (The upper bound is loose: a guard against a timeout
/// counted twice, not a timing.)
#[test]
fn a_long_keep_alive_timeout_is_counted_whole_across_the_hot_wait() {
    let (_backend, rl) = setup("", "timeout_http_keep_alive = \"2500ms\"");
    let mut c = Client::connect(rl.addr());
    assert_eq!(c.get("/one").0, 200);
    let idle_from = Instant::now();
    assert!(c.closed());
    let idle = idle_from.elapsed();
    assert!(idle >= Duration::from_millis(2400), "closed after {idle:?}");
    assert!(idle < Duration::from_millis(4500), "closed after {idle:?}");
}

/// A graceful stop closes an idle keep-alive connection in its armed wait at once (the
/// worker ends every tick-bound wait), not at the wait's end (a second or more), nor
/// at its keep-alive timeout or the grace period. (The bound is loose for a loaded
/// machine, and below the armed wait's shortest length.)
#[test]
fn a_graceful_stop_ends_a_connection_in_its_armed_wait() {
    let (_backend, mut rl) = setup("", "timeout_http_keep_alive = \"1h\"");
    let mut c = Client::connect(rl.addr());
    assert_eq!(c.get("/one").0, 200);
    let stop = Instant::now();
    rl.signal(libc::SIGTERM);
    assert!(c.closed());
    let took = stop.elapsed();
    assert!(
        took < Duration::from_millis(900),
        "closed {took:?} after SIGTERM"
    );
    assert!(rl.wait_exit().success());
    assert!(
        !rl.log.iter().any(|l| l.contains("grace period")),
        "the idle connection was held until the grace period: {:?}",
        rl.log
    );
}

#[test]
fn idle_keep_alive_connections_are_closed_after_timeout_http_keep_alive() {
    let (_backend, rl) = setup("", "timeout_http_keep_alive = \"300ms\"");
    let mut c = Client::connect(rl.addr());
    assert_eq!(c.get("/one").0, 200);
    // No request follows: the proxy closes the connection (no 408 for an idle client).
    assert!(c.closed());
}

/// A plain-TCP client that asked for the end (`Connection: close`) is closed without a
/// half-close first (it sends nothing more); the response is whole and the close clean.
#[test]
fn a_connection_close_request_gets_its_whole_response_then_a_clean_eof() {
    let (_backend, rl) = setup("", "");
    for path in ["/len/10", "/chunked/70000", "/len/300000"] {
        let mut c = Client::connect(rl.addr());
        c.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
        let (status, _, body) = c.response(false);
        assert_eq!(status, 200, "{path}");
        let n: usize = path.rsplit('/').next().unwrap().parse().unwrap();
        assert_eq!(body.len(), n, "{path}");
        assert!(clean_eof(&mut c), "{path}: EOF, not a reset");
    }
}

/// The proxy ended the connection with a FIN (the read sees EOF), not a reset.
fn clean_eof(c: &mut Client) -> bool {
    let mut b = [0u8; 1];
    matches!(std::io::Read::read(&mut c.reader, &mut b), Ok(0))
}

/// A client that sends more after its `Connection: close` request (pipelined in the
/// same write, or a little later) still gets that request's whole response before
/// the connection ends, and nothing for what followed.
#[test]
fn bytes_after_a_connection_close_request_do_not_cut_its_response() {
    let (backend, rl) = setup("", "");
    // Pipelined in one write: read ahead by the proxy, the connection half-closes.
    let mut c = Client::connect(rl.addr());
    c.send(b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    let (status, _, body) = c.response(false);
    assert_eq!((status, body.as_slice()), (200, &b"ok GET /a 0"[..]));
    assert!(clean_eof(&mut c));
    // In a second write, before the response is read.
    let mut c = Client::connect(rl.addr());
    c.send(b"GET /len/200000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    c.send(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    let (status, _, body) = c.response(false);
    assert_eq!((status, body.len()), (200, 200000));
    assert!(c.closed());
    let heads = backend.seen.heads.lock().unwrap();
    assert!(
        heads
            .iter()
            .all(|h| !h.starts_with("GET /b") && !h.starts_with("GET /c")),
        "a request after `Connection: close` reached the backend"
    );
}
