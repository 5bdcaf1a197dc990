//! HTTP mode through the real binary, against a recording backend written here.

mod common;

use std::io::Write;
use std::thread;
use std::time::Duration;

use common::http::{http_config, Backend, Client};
use common::Ringlb;

fn setup(extra_global: &str, extra_frontend: &str) -> (Backend, Ringlb) {
    let backend = Backend::start();
    let rl = Ringlb::start(&http_config(backend.addr, extra_global, extra_frontend));
    (backend, rl)
}

/// Send `raw`, expect `status` and a closed connection, and nothing at the backend.
fn refused(rl: &Ringlb, backend: &Backend, raw: &[u8], status: u16) {
    let mut c = Client::connect(rl.addr());
    c.send(raw);
    let (got, head, _) = c.response(false);
    assert_eq!(got, status, "for {:?}", String::from_utf8_lossy(raw));
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert!(c.closed(), "connection left open after {status}");
    assert_eq!(
        backend.requests(),
        0,
        "the backend received a refused request: {:?}",
        String::from_utf8_lossy(raw)
    );
}

#[test]
fn request_smuggling_framing_is_refused_with_400() {
    let (backend, rl) = setup("", "");
    for raw in [
        &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 30\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ] {
        refused(&rl, &backend, raw, 400);
    }
    refused(
        &rl,
        &backend,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
    );
}

#[test]
fn malformed_heads_are_refused_with_400() {
    let (backend, rl) = setup("", "");
    for raw in [
        &b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nX : a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\nHost: x\n\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET http://other/ HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        refused(&rl, &backend, raw, 400);
    }
}

#[test]
fn bad_chunked_bodies_get_400_and_nothing_past_the_error_reaches_the_server() {
    let (backend, rl) = setup("", "");
    let bodies = [
        &b"g\r\n"[..],
        b"1 \r\nx\r\n0\r\n\r\n",
        b"1;a\nb\r\nx\r\n0\r\n\r\n",
        // A smuggling attempt: the chunk is not followed by CRLF, and a request hides behind it.
        b"3\r\nabcX\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    for body in bodies {
        let mut c = Client::connect(rl.addr());
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        c.send(body);
        let (status, _, _) = c.response(false);
        assert_eq!(status, 400, "{:?}", String::from_utf8_lossy(body));
        assert!(c.closed());
    }
    // Bodies stream, so the head may have gone out before the bad byte came; the server
    // then sees a truncated request on a connection that is closed, never reused, and
    // never anything that follows the error.
    assert!(backend.accepted() <= bodies.len());
    let heads = backend.seen.heads.lock().unwrap();
    assert!(heads.iter().all(|h| h.starts_with("POST / ")), "{heads:?}");
}

#[test]
fn versions_and_limits_get_505_414_431() {
    let (backend, rl) = setup(
        "max_header_bytes = 4096\nmax_request_line = 1024\nmax_headers = 20",
        "",
    );
    refused(&rl, &backend, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
    refused(
        &rl,
        &backend,
        format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(2000)).as_bytes(),
        414,
    );
    refused(
        &rl,
        &backend,
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "v".repeat(5000)
        )
        .as_bytes(),
        431,
    );
    let many: String = (0..25).map(|i| format!("X-{i}: v\r\n")).collect();
    refused(
        &rl,
        &backend,
        format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
        431,
    );
}

#[test]
fn body_over_max_body_bytes_gets_413() {
    let (backend, rl) = setup("max_body_bytes = 1000", "");
    refused(
        &rl,
        &backend,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",
        413,
    );
}

#[test]
fn slowloris_gets_408_even_while_trickling() {
    let backend = Backend::start();
    let cfg = http_config(backend.addr, "", "timeout_http_request = \"400ms\"");
    let rl = Ringlb::start(&cfg);
    let mut c = Client::connect(rl.addr());
    // One byte every 100 ms: each read succeeds, but the head is never complete in time.
    // (The proxy may answer and close before the last bytes: ignore write errors.)
    // The sleep is deliberate: the slow trickle is the attack under test, not a wait
    // for something to be ready.
    for b in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().take(8) {
        let _ = c.stream.write_all(&[*b]);
        thread::sleep(Duration::from_millis(100));
    }
    let (status, _, _) = c.response(false);
    assert_eq!(status, 408);
    assert_eq!(backend.requests(), 0);
}

#[test]
fn keep_alive_reuses_one_server_connection_and_pipelining_keeps_order() {
    let (backend, rl) = setup("", "");
    let mut c = Client::connect(rl.addr());
    for i in 0..10 {
        let (status, _, body) = c.get(&format!("/n{i}"));
        assert_eq!(status, 200);
        assert_eq!(String::from_utf8(body).unwrap(), format!("ok GET /n{i} 0"));
    }
    assert_eq!(backend.accepted(), 1, "server connections were not reused");
    // Three pipelined requests in one write: answered in order.
    c.send(b"GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\nGET /p3 HTTP/1.1\r\nHost: x\r\n\r\n");
    for p in ["/p1", "/p2", "/p3"] {
        let (_, _, body) = c.response(false);
        assert_eq!(String::from_utf8(body).unwrap(), format!("ok GET {p} 0"));
    }
}

#[test]
fn chunked_and_sized_bodies_stream_both_ways() {
    let (backend, rl) = setup("", "");
    let mut c = Client::connect(rl.addr());
    for n in [0usize, 1, 1 << 20] {
        // Chunked request body.
        c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        if n > 0 {
            c.send(format!("{n:x}\r\n").as_bytes());
            c.send(&vec![b'u'; n]);
            c.send(b"\r\n");
        }
        c.send(b"0\r\n\r\n");
        let (status, _, body) = c.response(false);
        assert_eq!(status, 200);
        assert_eq!(String::from_utf8(body).unwrap(), format!("ok POST /up {n}"));
        // Chunked response body, with a trailer.
        let (status, _, body) = c.get(&format!("/chunked/{n}"));
        assert_eq!(status, 200);
        assert_eq!(body.len(), n);
        // Content-Length request body.
        c.send(format!("PUT /cl HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\n\r\n").as_bytes());
        c.send(&vec![b'p'; n]);
        let (_, _, body) = c.response(false);
        assert_eq!(String::from_utf8(body).unwrap(), format!("ok PUT /cl {n}"));
    }
    assert!(backend.accepted() <= 2);
}

#[test]
fn bodies_of_64_mib_are_streamed_both_ways_with_bounded_memory() {
    let (_backend, rl) = setup("", "");
    let mut c = Client::connect(rl.addr());
    let (status, _, body) = c.get(&format!("/chunked/{}", 64 << 20));
    assert_eq!(status, 200);
    assert_eq!(body.len(), 64 << 20);
    let (status, _, body) = c.get(&format!("/len/{}", 64 << 20));
    assert_eq!(status, 200);
    assert_eq!(body.len(), 64 << 20);
    // And 64 MiB up, chunked, written from another thread while the response is awaited.
    let mut writer = c.stream.try_clone().unwrap();
    let upload = thread::spawn(move || {
        writer
            .write_all(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        let chunk = vec![b'u'; 1 << 20];
        for _ in 0..64 {
            writer.write_all(b"100000\r\n").unwrap();
            writer.write_all(&chunk).unwrap();
            writer.write_all(b"\r\n").unwrap();
        }
        writer.write_all(b"0\r\n\r\n").unwrap();
    });
    let (status, _, body) = c.response(false);
    upload.join().unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, format!("ok POST /up {}", 64 << 20).as_bytes());
    let status = std::fs::read_to_string(format!("/proc/{}/status", rl.child.id())).unwrap();
    let hwm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(
        hwm_kib < 32 * 1024,
        "ringlb's peak RSS was {hwm_kib} KiB while relaying 64 MiB"
    );
}

#[test]
fn head_204_304_have_no_body() {
    let (_backend, rl) = setup("", "");
    let mut c = Client::connect(rl.addr());
    c.send(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n");
    let (status, head, body) = c.response(true);
    assert_eq!(status, 200);
    assert!(head.contains("Content-Length: 99"), "{head}");
    assert!(body.is_empty());
    assert_eq!(c.get("/204").0, 204);
    assert_eq!(c.get("/304").0, 304);
    // The connection is still in step.
    assert_eq!(c.get("/after").2, b"ok GET /after 0");
}

#[test]
fn expect_100_continue_works_end_to_end() {
    let (backend, rl) = setup("", "");
    let mut c = Client::connect(rl.addr());
    c.send(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let (status, _, _) = c.response(false);
    assert_eq!(status, 100);
    c.send(b"hello");
    let (status, _, body) = c.response(false);
    assert_eq!(status, 200);
    assert_eq!(body, b"ok POST /e 5");
    assert!(!backend.last_head().to_ascii_lowercase().contains("expect:"));
}

#[test]
fn upgrade_becomes_a_tunnel_after_101() {
    let (_backend, rl) = setup("", "");
    let mut c = Client::connect(rl.addr());
    c.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    let (status, head, _) = c.response(false);
    assert_eq!(status, 101);
    assert!(
        head.to_ascii_lowercase().contains("upgrade: websocket"),
        "{head}"
    );
    for msg in [&b"frame one"[..], b"frame two"] {
        c.stream.write_all(msg).unwrap();
        let mut back = vec![0u8; msg.len()];
        std::io::Read::read_exact(&mut c.reader, &mut back).unwrap();
        assert_eq!(back, msg);
    }
}

#[test]
fn forwarded_headers_and_hop_by_hop_stripping() {
    let (backend, rl) = setup("", "forwarded_for = true");
    let mut c = Client::connect(rl.addr());
    c.send(b"GET /f HTTP/1.1\r\nHost: site.example\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\nKeep-Alive: 5\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n");
    assert_eq!(c.response(false).0, 200);
    let head = backend.last_head().to_ascii_lowercase();
    assert!(
        head.contains("x-forwarded-for: 203.0.113.7, 127.0.0.1\r\n"),
        "{head}"
    );
    assert!(head.contains("x-forwarded-proto: http\r\n"), "{head}");
    assert!(
        head.contains("x-forwarded-host: site.example\r\n"),
        "{head}"
    );
    assert!(
        !head.contains("x-drop") && !head.contains("keep-alive"),
        "{head}"
    );
}

#[test]
fn routes_and_redirects() {
    let web = Backend::start();
    let api = Backend::start();
    let cfg = format!(
        "[global]\nworkers = 1\npin_workers = false\n\n[[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"web\"\n\n\
         [[frontend.redirect]]\npath_prefix = \"/old/\"\nlocation = \"https://example.com/new/\"\nstatus = 308\n\n\
         [[frontend.route]]\nhost = \"*.api.test\"\npath_prefix = \"/v1/\"\nbackend = \"api\"\n\n\
         [[backend]]\nname = \"web\"\n[[backend.server]]\nname = \"w\"\naddress = \"{}\"\n\n\
         [[backend]]\nname = \"api\"\n[[backend.server]]\nname = \"a\"\naddress = \"{}\"\n",
        web.addr, api.addr
    );
    let rl = Ringlb::start(&cfg);
    let mut c = Client::connect(rl.addr());
    c.send(b"GET /v1/users HTTP/1.1\r\nHost: eu.api.test\r\n\r\n");
    assert_eq!(c.response(false).2, b"ok GET /v1/users 0");
    c.send(b"GET /v1/users HTTP/1.1\r\nHost: www.test\r\n\r\n");
    assert_eq!(c.response(false).2, b"ok GET /v1/users 0");
    assert_eq!((api.requests(), web.requests()), (1, 1));
    c.send(b"GET /old/page HTTP/1.1\r\nHost: www.test\r\n\r\n");
    let (status, head, _) = c.response(false);
    assert_eq!(status, 308);
    assert!(
        head.contains("location: https://example.com/new/\r\n"),
        "{head}"
    );
    assert_eq!(web.requests(), 1, "a redirected request reached a backend");
}

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
fn ambiguous_server_response_gets_502() {
    let (_backend, rl) = setup("", "");
    let mut c = Client::connect(rl.addr());
    let (status, _, _) = c.get("/bad-framing");
    assert_eq!(status, 502);
    assert!(c.closed());
}

#[test]
fn no_usable_server_gets_503() {
    let dead = common::closed_port();
    let rl = Ringlb::start(&http_config(dead, "", ""));
    let mut c = Client::connect(rl.addr());
    let (status, _, _) = c.get("/");
    assert_eq!(status, 503);
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
    // Longer than the 1 s during which the read stays armed with its buffer: the
    // session has gone to its buffer-free readiness wait by now. The sleep is
    // deliberate: it waits out that 1 s, a state nothing outside the process shows.
    thread::sleep(Duration::from_millis(1300));
    assert_eq!(c.get("/two").2, b"ok GET /two 0");
    assert_eq!(backend.requests(), 2);
}

#[test]
fn idle_keep_alive_connections_are_closed_after_timeout_http_keep_alive() {
    let backend = Backend::start();
    let rl = Ringlb::start(&http_config(
        backend.addr,
        "",
        "timeout_http_keep_alive = \"300ms\"",
    ));
    let mut c = Client::connect(rl.addr());
    assert_eq!(c.get("/one").0, 200);
    // No request follows: the proxy closes the connection (no 408 for an idle client).
    assert!(c.closed());
}

#[test]
fn connection_header_cannot_strip_framing_toward_the_server() {
    // Found by fuzzing: a header named in Connection was dropped even when it was
    // Content-Length, which would make the server read the body as a new request.
    let (backend, rl) = setup("", "");
    let mut c = Client::connect(rl.addr());
    let smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    c.send(
        format!(
            "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: Content-Length, Host\r\n\r\n",
            smuggled.len()
        )
        .as_bytes(),
    );
    c.send(smuggled);
    let (status, _, body) = c.response(false);
    assert_eq!(status, 200);
    assert_eq!(body, format!("ok POST /p {}", smuggled.len()).as_bytes());
    assert_eq!(c.get("/next").0, 200);
    let heads = backend.seen.heads.lock().unwrap();
    assert!(heads.iter().all(|h| !h.contains("/smuggled")), "{heads:?}");
    assert!(heads[0].contains("Host: x\r\n"), "{}", heads[0]);
}

#[test]
fn p2c_moves_traffic_away_from_a_slow_server() {
    let fast = Backend::start();
    let slow = Backend::start_with_delay(Duration::from_millis(30));
    let cfg = format!(
        "[global]\nworkers = 1\npin_workers = false\n\n[[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\n\
         [[backend]]\nname = \"app\"\nbalance = \"p2c\"\n\n[[backend.server]]\nname = \"fast\"\naddress = \"{}\"\n\n[[backend.server]]\nname = \"slow\"\naddress = \"{}\"\n",
        fast.addr, slow.addr
    );
    let rl = Ringlb::start(&cfg);
    let mut c = Client::connect(rl.addr());
    for i in 0..40 {
        assert_eq!(c.get(&format!("/r{i}")).0, 200);
    }
    // Both are tried (an unmeasured server scores 0); once the slow one has answered
    // slowly, the fast one wins every comparison.
    assert!(
        slow.requests() <= 3,
        "slow server got {} of 40",
        slow.requests()
    );
    assert!(fast.requests() >= 37);
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
