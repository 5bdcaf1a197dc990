//! Servers that close idle connections as a request goes out on them, or right after a response: replayed, 502, silent close, new connections.

use super::*;

#[test]
fn a_get_on_an_idle_connection_the_server_closes_is_replayed_on_a_new_one() {
    let backend = ClosesOnReuse::start();
    let r = Ringlb::start(&config(backend.addr, "http_reuse = \"always\"", 1));
    let mut c = Client::connect(r.addr());
    c.send(b"GET /first HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(c.response(false).0, 200);
    // Another client's first request takes the idle connection (always); the server
    // reads it and closes: nothing came back, so ringlb sends it again, on a new one.
    let mut c = Client::connect(r.addr());
    c.send(b"GET /second HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let (status, _, body) = c.response(false);
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8_lossy(&body), "ok /second 0");
    assert_eq!((backend.accepted(), backend.requests()), (2, 3));
    assert_eq!(metric(&r, "ringlb_backend_requests_reused_total"), 1);
    assert_eq!(metric(&r, "ringlb_backend_connections_opened_total"), 2);
}

#[test]
fn a_post_on_an_idle_connection_the_server_closes_gets_502_under_always() {
    let backend = ClosesOnReuse::start();
    let r = Ringlb::start(&config(backend.addr, "http_reuse = \"always\"", 1));
    let mut c = Client::connect(r.addr());
    c.send(b"GET /first HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(c.response(false).0, 200);
    // A request with a body that reached the server is never sent twice: the client
    // gets 502 and its connection is closed (what HAProxy does with `http-reuse
    // always` and its default `retry-on`). `safe` would have sent it on a new one.
    let mut c = Client::connect(r.addr());
    c.send(b"POST /post HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(c.response(false).0, 502);
    assert!(c.closed());
    assert_eq!((backend.accepted(), backend.requests()), (1, 2));
}

#[test]
fn a_later_post_that_got_nothing_on_a_reused_connection_closes_the_client_silently() {
    let backend = ClosesOnReuse::start();
    let r = Ringlb::start(&config(backend.addr, "", 1));
    let mut c = Client::connect(r.addr());
    assert_eq!(c.get("/first").0, 200);
    // The second request of this client connection takes the idle server connection
    // (safe allows it); the server reads it and closes. It may not be sent again, so
    // the client connection is closed with no response at all, as HAProxy does: the
    // client sees its keep-alive connection close and sends the request again.
    c.send(b"POST /post HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut c.reader, &mut rest);
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert_eq!((backend.accepted(), backend.requests()), (1, 2));
    // Not held against the server.
    let (_, text) = common::admin(r.admin_addr(), "GET", "/metrics", "", None);
    let errors = "ringlb_server_response_errors_total{backend=\"app\",server=\"a1\"} 0";
    assert!(text.lines().any(|l| l == errors), "{text}");
    // The client's retry is a first request: a new server connection.
    let mut c = Client::connect(r.addr());
    c.send(b"POST /post HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(c.response(false).0, 200);
    assert_eq!(backend.accepted(), 2);
}

#[test]
fn a_post_as_first_request_under_safe_goes_on_a_new_connection() {
    let backend = ClosesOnReuse::start();
    let r = Ringlb::start(&config(backend.addr, "", 1));
    for path in ["/first", "/post"] {
        let mut c = Client::connect(r.addr());
        c.send(
            format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello").as_bytes(),
        );
        let (status, _, body) = c.response(false);
        assert_eq!(status, 200);
        assert_eq!(String::from_utf8_lossy(&body), format!("ok {path} 5"));
    }
    assert_eq!((backend.accepted(), backend.requests()), (2, 2));
}

/// The server closes a pooled connection just after giving it back (answered
/// keep-alive, closed 50 ms later). A POST, which may not be sent twice, never goes
/// on it: the pool's check before reuse sees the close, so it goes on a new
/// connection (never lost, never closed on silently). A GET on such a connection is
/// sent again if need be: `a_server_closing_an_idle_pooled_connection_is_invisible_to_get`
/// in tests/http_proxy.rs.
#[test]
fn a_post_never_takes_a_connection_the_server_closed_just_after_its_response() {
    for reuse in ["", "http_reuse = \"always\""] {
        let backend = Backend::start();
        let r = Ringlb::start(&config(backend.addr, reuse, 1));
        let mut c = Client::connect(r.addr());
        assert_eq!(c.get("/close-after").0, 200);
        backend.wait_closed(1);
        // The same client connection's next request: both policies let it take the
        // pooled connection, which its check finds closed.
        c.send(b"POST /post HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
        let (status, _, body) = c.response(false);
        assert_eq!(
            (status, body.as_slice()),
            (200, &b"ok POST /post 5"[..]),
            "{reuse}"
        );
        assert_eq!(backend.accepted(), 2, "{reuse}");
        assert_eq!(backend.requests(), 2, "{reuse}");
        assert_eq!(
            metric(&r, "ringlb_backend_requests_reused_total"),
            0,
            "{reuse}"
        );
        assert_counters_agree(&r, &backend);
    }
}

/// Answer one request keep-alive and close the connection right after the response
/// (no delay), counting it in `closed`.
fn answer_then_close(mut stream: TcpStream, closed: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    answer_one(&mut stream, &mut reader, None);
    let _ = stream.shutdown(Shutdown::Both);
    closed.fetch_add(1, Ordering::SeqCst);
}

/// The server closes each connection right after its response, so the end is there
/// when ringlb gives the connection back to the pool, or moments later (its armed wait
/// sees it: `worker/pool_watch.rs`). The same client connection's next request, a POST
/// that may not be sent twice, must never take it: each goes on a new connection and
/// is answered, under both drivers.
#[test]
fn a_post_never_takes_a_connection_the_server_closed_right_as_its_response_ended() {
    const POSTS: usize = 6;
    for driver in ["io_uring", "legacy"] {
        for reuse in ["", "http_reuse = \"always\""] {
            let (addr, accepted, closed) = listen(answer_then_close);
            let cfg = config(addr, reuse, 1).replace(
                "[global]\n",
                &format!("[global]\nio_driver = \"{driver}\"\n"),
            );
            let r = Ringlb::start(&cfg);
            let mut c = Client::connect(r.addr());
            for i in 0..POSTS {
                let req =
                    format!("POST /p{i} HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
                c.send(req.as_bytes());
                let (status, _, body) = c.response(false);
                let want = format!("ok /p{i} 5");
                assert_eq!(
                    (status, String::from_utf8_lossy(&body).to_string()),
                    (200, want),
                    "{driver} {reuse} request {i}"
                );
                // Bounded: the server closes right after writing the response.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while closed.load(Ordering::SeqCst) <= i {
                    assert!(std::time::Instant::now() < deadline, "{driver} {reuse}");
                    thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            assert_eq!(accepted.load(Ordering::SeqCst), POSTS, "{driver} {reuse}");
            assert_eq!(
                metric(&r, "ringlb_backend_requests_reused_total"),
                0,
                "{driver} {reuse}"
            );
        }
    }
}

/// How many connections the server of the next test closes right after their response.
const CLOSED_FIRST: usize = 150;

/// The first `CLOSED_FIRST` connections: one request answered, then closed; the
/// others: kept alive, answered until the client closes.
fn close_first_then_keep(mut stream: TcpStream, seen: &AtomicUsize) {
    if seen.fetch_add(1, Ordering::SeqCst) < CLOSED_FIRST {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        answer_one(&mut stream, &mut reader, None);
        let _ = stream.shutdown(Shutdown::Both);
        return;
    }
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    while answer_one(&mut stream, &mut reader, None) {}
}

/// Many pooled connections closed by the server while idle: each has its wait (on
/// io_uring one multishot poll per connection, cancelled as it closes) fire and its
/// descriptor closed, so descriptor numbers and the driver's operation slots are
/// reused while those polls end. Then a keep-alive client's requests, on a new
/// connection and then reused: every response must be its own (a slot freed before
/// the kernel's last completion for it would complete another operation with it).
#[test]
fn connections_closed_while_idle_leave_nothing_behind_for_the_next_ones() {
    for driver in ["io_uring", "legacy"] {
        let (addr, accepted, seen) = listen(close_first_then_keep);
        let cfg = config(addr, "", 1).replace(
            "[global]\n",
            &format!("[global]\nio_driver = \"{driver}\"\n"),
        );
        let r = Ringlb::start(&cfg);
        // Under `safe` each client's first request opens a connection, pooled after
        // its response, then closed by the server and seen closed by the pool.
        for i in 0..CLOSED_FIRST {
            let mut c = Client::connect(r.addr());
            c.send(
                format!("GET /c{i} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
            );
            let (status, _, body) = c.response(false);
            let body = String::from_utf8_lossy(&body).to_string();
            assert_eq!((status, body), (200, format!("ok /c{i} 0")), "{driver} {i}");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), CLOSED_FIRST, "{driver}");
        let mut c = Client::connect(r.addr());
        for i in 0..20 {
            let (status, _, body) = c.get(&format!("/k{i}"));
            let body = String::from_utf8_lossy(&body).to_string();
            assert_eq!((status, body), (200, format!("ok /k{i} 0")), "{driver} {i}");
        }
        assert_eq!(seen.load(Ordering::SeqCst), CLOSED_FIRST + 1, "{driver}");
        assert_eq!(
            metric(&r, "ringlb_backend_requests_reused_total"),
            19,
            "{driver}"
        );
    }
}
