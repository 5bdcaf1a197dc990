//! Server-connection reuse across client connections, per backend (`http_reuse`, like
//! HAProxy's `http-reuse`): which requests may go on an idle server connection another
//! client connection opened, what happens when the server closes such a connection as
//! a request goes out on it, and the counters that show it. Counts are of connections
//! the backend accepted; nothing is timed.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use common::http::{read_message, Backend, Client};
use common::tls::CertDir;
use common::Ringlb;

fn config(backend: SocketAddr, reuse: &str, workers: usize) -> String {
    format!(
        "[global]\nworkers = {workers}\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\n\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\n\
         [[backend]]\nname = \"app\"\n{reuse}\n\n[[backend.server]]\nname = \"a1\"\naddress = \"{backend}\"\n"
    )
}

/// `n` client connections one after another, one GET each (`Connection: close`).
fn one_request_each(r: &Ringlb, n: usize) {
    for i in 0..n {
        let mut c = Client::connect(r.addr());
        c.send(format!("GET /one/{i} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes());
        let (status, _, body) = c.response(false);
        assert_eq!(status, 200);
        assert_eq!(String::from_utf8_lossy(&body), format!("ok GET /one/{i} 0"));
    }
}

/// A sample of `/metrics` for backend `app`.
fn metric(r: &Ringlb, family: &str) -> u64 {
    let (status, text) = common::admin(r.admin_addr(), "GET", "/metrics", "", None);
    assert_eq!(status, 200);
    let prefix = format!("{family}{{backend=\"app\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix:?} in /metrics:\n{text}"))
}

/// The counters agree with what the backend saw: every connection it accepted was
/// opened by ringlb, every request past the first on a connection was a reuse.
fn assert_counters_agree(r: &Ringlb, backend: &Backend) {
    let opened = metric(r, "ringlb_backend_connections_opened_total");
    let reused = metric(r, "ringlb_backend_requests_reused_total");
    assert_eq!(opened, backend.accepted() as u64);
    assert_eq!(reused, (backend.requests() - backend.accepted()) as u64);
}

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

/// A backend that answers the first request of each connection (keep-alive) and, on
/// the next one, reads it and closes without answering: the server that times an
/// idle connection out just as ringlb sends a request on it.
struct ClosesOnReuse {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    /// Requests read in full, answered or not.
    requests: Arc<AtomicUsize>,
}

impl ClosesOnReuse {
    fn start() -> ClosesOnReuse {
        let (addr, accepted, requests) = listen(serve_once);
        ClosesOnReuse {
            addr,
            accepted,
            requests,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// A backend serving each connection it accepts on a thread of its own with `serve`
/// (given a counter of its own): its address, the connections it accepted, the counter.
fn listen(serve: fn(TcpStream, &AtomicUsize)) -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::new(AtomicUsize::new(0));
    let (a, n) = (Arc::clone(&accepted), Arc::clone(&counter));
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            a.fetch_add(1, Ordering::SeqCst);
            let n = Arc::clone(&n);
            thread::spawn(move || serve(stream, &n));
        }
    });
    (addr, accepted, counter)
}

/// Read one request and answer it keep-alive (`ok <path> <body length>`); whether
/// there was one.
fn answer_one(stream: &mut TcpStream, reader: &mut BufReader<TcpStream>) -> bool {
    let Ok(Some((head, body_len))) = read_message(reader) else {
        return false;
    };
    let path = head.split(' ').nth(1).unwrap_or("").to_string();
    let body = format!("ok {path} {body_len}");
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    true
}

fn serve_once(mut stream: TcpStream, requests: &AtomicUsize) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    if answer_one(&mut stream, &mut reader) {
        requests.fetch_add(1, Ordering::SeqCst);
    }
    if let Ok(Some(_)) = read_message(&mut reader) {
        requests.fetch_add(1, Ordering::SeqCst);
    }
    let _ = stream.shutdown(Shutdown::Both);
}

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

/// TIME_WAIT sockets whose peer is `to` (`/proc/net/tcp`: state 06), i.e. left on
/// the side that closed first when `to` is the backend.
fn time_wait_to(to: SocketAddr) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let peer = format!(":{:04X}", to.port());
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[2].ends_with(&peer) && f[3] == "06"
        })
        .count()
}

#[test]
fn a_server_connection_the_pool_does_not_keep_is_reset_leaving_no_time_wait() {
    let backend = Backend::start();
    let r = Ringlb::start(&config(backend.addr, "pool_max_connections = 0", 1));
    let mut c = Client::connect(r.addr());
    for _ in 0..5 {
        assert_eq!(c.get("/ka").0, 200);
    }
    backend.wait_closed(5);
    // ringlb closed each first, with nothing in flight: a reset, as HAProxy does, so
    // no TIME_WAIT socket holds one of ringlb's local ports for a minute.
    assert_eq!(time_wait_to(backend.addr), 0);
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

// ---------------------------------------------------------------------------------
// TLS servers (`tls = true`): the same wait on idle connections, through rustls.

/// `config` for a `tls = true` server (its certificate not checked), with `driver`.
fn tls_config(backend: SocketAddr, reuse: &str, driver: &str) -> String {
    config(backend, reuse, 1).replace(
        "[global]\n",
        &format!("[global]\nio_driver = \"{driver}\"\n"),
    ) + "tls = true\nverify = false\n"
}

/// A TLS 1.3 server (Python's ssl, so OpenSSL) that answers `py <connection> <path>`
/// and, after every response, once told to (a line on its input: the client has the
/// response, so the connection is idle in ringlb's pool), sends one more session
/// ticket on the connection (OpenSSL's `SSL_new_session_ticket`, which Python does not
/// wrap: called through ctypes on the `SSL *` of CPython's socket object), then prints
/// `ticket <connection>`.
const TICKET_SERVER: &str = r#"
import ctypes, socket, ssl, sys, threading, _ssl
lib = ctypes.CDLL(_ssl.__file__)
lib.SSL_new_session_ticket.argtypes = [ctypes.c_void_p]
WORD = ctypes.sizeof(ctypes.c_void_p)
def ssl_of(s):
    # CPython's PySSLSocket: PyObject_HEAD (2 words), the socket's weakref, SSL *.
    return ctypes.c_void_p.from_address(id(s._sslobj) + 3 * WORD).value
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ls = socket.create_server(("127.0.0.1", 0))
print("port", ls.getsockname()[1], flush=True)
out = threading.Lock()
def serve(raw, n):
    s = ctx.wrap_socket(raw, server_side=True)
    f = s.makefile("rb")
    while True:
        line = f.readline()
        if not line:
            return
        path, length = line.split()[1].decode(), 0
        while True:
            h = f.readline()
            if h in (b"\r\n", b""):
                break
            if h.lower().startswith(b"content-length:"):
                length = int(h.split(b":")[1])
        f.read(length)
        body = ("py %d %s" % (n, path)).encode()
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        if not sys.stdin.readline():
            return
        if lib.SSL_new_session_ticket(ssl_of(s)) != 1:
            sys.exit("SSL_new_session_ticket failed")
        s.do_handshake()  # the ticket goes out now
        with out:
            print("ticket", n, flush=True)
n = 0
while True:
    raw, _ = ls.accept()
    n += 1
    threading.Thread(target=serve, args=(raw, n), daemon=True).start()
"#;

struct TicketServer {
    addr: SocketAddr,
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl TicketServer {
    fn start(certs: &CertDir) -> TicketServer {
        let mut child = std::process::Command::new("python3")
            .args(["-c", TICKET_SERVER])
            .arg(certs.0.join("b.pem"))
            .arg(certs.0.join("b.key"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let port: u16 = first
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the ticket server said {first:?}"));
        TicketServer {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            lines,
        }
    }

    /// Have it send a ticket on the connection that just answered, and wait until it
    /// has (bounded: it exits on a failure, which ends its output).
    fn ticket(&mut self) -> String {
        let input = self.child.stdin.as_mut().expect("stdin");
        input.write_all(b"go\n").expect("the ticket server is gone");
        input.flush().expect("the ticket server is gone");
        match self.lines.next() {
            Some(Ok(line)) if line.starts_with("ticket ") => line,
            other => panic!("the ticket server said {other:?}"),
        }
    }
}

impl Drop for TicketServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Session tickets on an idle TLS connection are handshake messages, not a response:
/// the wait reads them into rustls and stays armed, and the connection is reused
/// (the peek that came before this wait saw bytes and gave such connections up).
#[test]
fn session_tickets_on_idle_tls_server_connections_do_not_keep_them_from_reuse() {
    if !common::tool_installed("tls_tickets_reuse", "python3") {
        return;
    }
    let certs = CertDir::new();
    certs.write("b", &["localhost"]);
    for driver in ["io_uring", "legacy"] {
        let mut py = TicketServer::start(&certs);
        let r = Ringlb::start(&tls_config(py.addr, "http_reuse = \"always\"", driver));
        // One request per client connection: each takes the idle connection, on which
        // a ticket came after the last response.
        for i in 0..6 {
            let mut c = Client::connect(r.addr());
            let req = format!("GET /t/{i} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            c.send(req.as_bytes());
            let (status, _, body) = c.response(false);
            assert_eq!(status, 200, "{driver}");
            assert_eq!(
                String::from_utf8_lossy(&body),
                format!("py 1 /t/{i}"),
                "{driver}"
            );
            assert_eq!(py.ticket(), "ticket 1", "{driver}");
        }
        // Keep-alive within a client connection, and a POST: the same connection.
        let mut c = Client::connect(r.addr());
        assert_eq!(c.get("/ka").2, b"py 1 /ka", "{driver}");
        py.ticket();
        c.send(b"POST /post HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(c.response(false).2, b"py 1 /post", "{driver}");
        py.ticket();
        assert_eq!(
            metric(&r, "ringlb_backend_connections_opened_total"),
            1,
            "{driver}"
        );
        assert_eq!(
            metric(&r, "ringlb_backend_requests_reused_total"),
            7,
            "{driver}"
        );
    }
}

/// A TLS server that answers one request per connection (`ok <path> <body length>`)
/// and closes it just after the response: with a close_notify, or with a bare TCP end.
/// It says on `closed` when it has.
struct TlsClosesAfter {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    closed: std::sync::mpsc::Receiver<()>,
}

impl TlsClosesAfter {
    fn start(certs: &CertDir, close_notify: bool) -> TlsClosesAfter {
        let config = tls_server_config(certs);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let a = Arc::clone(&accepted);
        let (tx, closed) = std::sync::mpsc::channel();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                a.fetch_add(1, Ordering::SeqCst);
                let (config, tx) = (Arc::clone(&config), tx.clone());
                thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(common::PATIENCE));
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut r = BufReader::new(rustls::StreamOwned::new(conn, stream));
                    if let Ok(Some((head, body_len))) = read_message(&mut r) {
                        let path = head.split(' ').nth(1).unwrap_or("").to_string();
                        let body = format!("ok {path} {body_len}");
                        let s = r.get_mut();
                        let _ = write!(
                            s,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = s.flush();
                        if close_notify {
                            s.conn.send_close_notify();
                            let _ = s.flush();
                        }
                        let _ = s.sock.shutdown(Shutdown::Both);
                    }
                    let _ = tx.send(());
                });
            }
        });
        TlsClosesAfter {
            addr,
            accepted,
            closed,
        }
    }

    fn wait_closed(&self) {
        self.closed
            .recv_timeout(common::PATIENCE)
            .expect("the server never closed");
    }
}

fn tls_server_config(certs: &CertDir) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = CertificateDer::from_pem_file(certs.0.join("b.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(certs.0.join("b.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    Arc::new(config)
}

/// A TLS server closes each connection just after its response (close_notify, or a
/// bare TCP end): the wait sees it, so the next request, a POST or a GET, goes on a
/// new connection and is answered; never lost, never sent on the closed one.
#[test]
fn a_tls_server_closing_idle_connections_never_loses_the_next_request() {
    let certs = CertDir::new();
    certs.write("b", &["localhost"]);
    for driver in ["io_uring", "legacy"] {
        for close_notify in [true, false] {
            for reuse in ["", "http_reuse = \"always\""] {
                let at = format!("{driver}, close_notify {close_notify}, {reuse:?}");
                let backend = TlsClosesAfter::start(&certs, close_notify);
                let r = Ringlb::start(&tls_config(backend.addr, reuse, driver));
                let mut c = Client::connect(r.addr());
                assert_eq!(c.get("/first").0, 200, "{at}");
                backend.wait_closed();
                c.send(b"POST /post HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
                let (status, _, body) = c.response(false);
                assert_eq!((status, body.as_slice()), (200, &b"ok /post 5"[..]), "{at}");
                backend.wait_closed();
                let (status, _, body) = c.get("/get");
                assert_eq!((status, body.as_slice()), (200, &b"ok /get 0"[..]), "{at}");
                assert_eq!(backend.accepted.load(Ordering::SeqCst), 3, "{at}");
                assert_eq!(
                    metric(&r, "ringlb_backend_requests_reused_total"),
                    0,
                    "{at}"
                );
            }
        }
    }
}

/// Answer one request keep-alive and close the connection right after the response
/// (no delay), counting it in `closed`.
fn answer_then_close(mut stream: TcpStream, closed: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    answer_one(&mut stream, &mut reader);
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
