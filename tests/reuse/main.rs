//! Server-connection reuse across client connections, per backend (`http_reuse`, like
//! HAProxy's `http-reuse`): which requests may go on an idle server connection another
//! client connection opened, what happens when the server closes such a connection as
//! a request goes out on it, and the counters that show it. Counts are of connections
//! the backend accepted; nothing is timed.
//!
//! Files (one test binary, `cargo test --test reuse`):
//! - `main.rs`: the shared configuration, counters and servers (`ClosesOnReuse`, `listen`).
//! - `policies.rs`: Which requests each policy lets take an idle connection: never, safe, aggressive, always, one and two workers, HTTP/2 streams.
//! - `closes.rs`: Servers that close idle connections as a request goes out on them, or right after a response: replayed, 502, silent close, new connections.
//! - `pool.rs`: The pool's bounds: pool_max_connections, the recent need, the purge, the idle timeout, the worker's budget, TIME_WAIT, bad keys, a connection closed while pooled, the idle gauge.
//! - `tls.rs`: TLS servers: the same wait on idle connections, through rustls (session tickets keep a connection, the rest closes it).

#[path = "../common/mod.rs"]
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
/// there was one. The request is counted in `read` before the response is written,
/// so a client that has the response always finds it counted.
fn answer_one(
    stream: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
    read: Option<&AtomicUsize>,
) -> bool {
    let Ok(Some((head, body_len))) = read_message(reader) else {
        return false;
    };
    if let Some(read) = read {
        read.fetch_add(1, Ordering::SeqCst);
    }
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
    answer_one(&mut stream, &mut reader, Some(requests));
    if let Ok(Some(_)) = read_message(&mut reader) {
        requests.fetch_add(1, Ordering::SeqCst);
    }
    let _ = stream.shutdown(Shutdown::Both);
}

mod closes;
mod policies;
mod pool;
mod tls;
