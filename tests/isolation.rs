//! Isolation between connections: nothing one connection leaves behind (a refused
//! request body, a server's garbage, a cut-off body, an unsolicited response) may ever
//! be read as part of another connection. Many misbehaving ("poison") connections of
//! every kind are interleaved with well-behaved ("victim") connections on a ringlb with
//! two workers, so that whatever per-worker state is reused between connections (relay
//! buffers, server connections) is reused by a victim right after a poison. Every
//! victim must get exactly its own answer, and the server must never see a request no
//! client sent.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::tls::{CertDir, Hello};
use common::{tcp_config, Echo, Ringlb};

/// Rounds of every poison kind; each poison is sent `BURST` times in a row (two
/// failing connections in a row on one worker reach further), then `VICTIMS` victims.
const ROUNDS: usize = 30;
const BURST: usize = 2;
const VICTIMS: usize = 4;
/// Every read and write of the test's clients.
const IO_TIMEOUT: Duration = Duration::from_secs(3);
/// No new round starts after this: a bound on the test's run time, not a timing.
const BUDGET: Duration = Duration::from_secs(15);
/// After a poison connection is closed, time for ringlb to finish with it.
const SETTLE: Duration = Duration::from_millis(5);

const SMUGGLED: &str = "GET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n";
const FROM_SERVER: &[u8] = b"GET /FROMSERVER HTTP/1.1\r\nHost: x\r\n\r\n";
const EXTRA: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nsmuggle";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------
// The backend: answers `/victim-<id>` with `victim-<id>`, misbehaves on `/poison-*`,
// records every request line.

struct Backend {
    addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Backend {
    fn start() -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let addr = listener.local_addr().expect("backend address");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&lines);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let seen = Arc::clone(&seen);
                thread::spawn(move || {
                    let _ = serve(stream, &seen);
                });
            }
        });
        Backend { addr, lines }
    }
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<String>>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut r = BufReader::new(stream.try_clone()?);
    let mut w = stream;
    while let Some(head) = read_head(&mut r)? {
        let line = head.lines().next().unwrap_or("").to_string();
        lock(seen).push(line.clone());
        if !read_body(&mut r, &head)? {
            return Ok(()); // cut or invalid body: drop the connection
        }
        let path = line.split(' ').nth(1).unwrap_or("");
        match path {
            "/poison-garbage" => w.write_all(b"\x00\x01 this is no status line\r\n\r\n")?,
            "/poison-request" => w.write_all(FROM_SERVER)?,
            "/poison-midclose" => {
                w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")?;
                return w.shutdown(Shutdown::Both);
            }
            "/poison-extra-now" => w.write_all(&[ok("extra").as_slice(), EXTRA].concat())?,
            "/poison-extra-late" => {
                w.write_all(&ok("extra"))?;
                thread::sleep(Duration::from_millis(20));
                w.write_all(EXTRA)?;
            }
            p => match p.strip_prefix('/').filter(|v| v.starts_with("victim-")) {
                Some(own) => w.write_all(&ok(own))?,
                None => w.write_all(&ok(&format!("answer-to {p}")))?,
            },
        }
    }
    Ok(())
}

fn read_head(r: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut head = Vec::new();
    for _ in 0..256 {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" {
            return Ok(Some(String::from_utf8_lossy(&head).into_owned()));
        }
    }
    Ok(None)
}

/// Read (and discard) the request body; false when it is cut short or invalid.
fn read_body(r: &mut impl BufRead, head: &str) -> io::Result<bool> {
    let lower = head.to_ascii_lowercase();
    if lower.contains("\r\ntransfer-encoding: chunked\r\n") {
        return read_chunked(r);
    }
    let len = lower
        .split("\r\n")
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    Ok(io::copy(&mut r.by_ref().take(len), &mut io::sink())? == len)
}

fn read_chunked(r: &mut impl BufRead) -> io::Result<bool> {
    for _ in 0..1024 {
        let mut line = Vec::new();
        r.read_until(b'\n', &mut line)?;
        let text = String::from_utf8_lossy(&line);
        let Some(size) = text.strip_suffix("\r\n") else {
            return Ok(false);
        };
        let Ok(n) = u64::from_str_radix(size.split(';').next().unwrap_or(""), 16) else {
            return Ok(false);
        };
        if n == 0 {
            return Ok(read_head(r)?.is_some()); // trailers up to the empty line
        }
        if io::copy(&mut r.by_ref().take(n + 2), &mut io::sink())? != n + 2 {
            return Ok(false);
        }
    }
    Ok(false)
}

// ---------------------------------------------------------------------------------
// Clients.

/// A client connection (TCP or TLS) and what was read from it and not consumed yet.
struct Wire<S> {
    s: S,
    buf: Vec<u8>,
}

/// A response: status, head, body (Content-Length framing).
type Response = (u16, String, Vec<u8>);

impl<S: Read + Write> Wire<S> {
    fn new(s: S) -> Self {
        Wire { s, buf: Vec::new() }
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.s.write_all(bytes)?;
        self.s.flush()
    }

    /// Read more; `Ok(0)` at EOF (a TLS peer closing without close_notify included).
    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 4096];
        match self.s.read(&mut chunk) {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Read until `self.buf` holds at least `n` bytes.
    fn fill_to(&mut self, n: usize, what: &str) -> Result<(), String> {
        while self.buf.len() < n {
            match self.fill() {
                Ok(0) => return Err(format!("EOF {what}; got {}", show(&self.buf))),
                Ok(_) => {}
                Err(e) => return Err(format!("{e} {what}; got {}", show(&self.buf))),
            }
        }
        Ok(())
    }

    fn response(&mut self) -> Result<Response, String> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > 64 * 1024 {
                return Err(format!("no end of head in {}", show(&self.buf)));
            }
            self.fill_to(self.buf.len() + 1, "before a whole response head")?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let len = head
            .to_ascii_lowercase()
            .split("\r\n")
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0)
            .min(1 << 20);
        self.fill_to(head_end + len, "before the whole body")?;
        let body = self.buf[head_end..head_end + len].to_vec();
        self.buf.drain(..head_end + len);
        Ok((status, head, body))
    }

    /// Everything left until EOF.
    fn rest_until_eof(&mut self) -> Result<Vec<u8>, String> {
        while self.buf.len() < 1 << 20 {
            match self.fill() {
                Ok(0) => return Ok(std::mem::take(&mut self.buf)),
                Ok(_) => {}
                Err(e) => return Err(format!("{e} waiting for EOF; got {}", show(&self.buf))),
            }
        }
        Err(format!("no EOF after {} bytes", self.buf.len()))
    }
}

fn show(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]);
    format!("{text:?}{}", if bytes.len() > 120 { "..." } else { "" })
}

fn plain(addr: SocketAddr) -> io::Result<Wire<TcpStream>> {
    let s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(Wire::new(s))
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls(addr: SocketAddr) -> io::Result<Wire<TlsStream>> {
    let c = common::tls::connect(addr, &Hello::default()).map_err(io::Error::other)?;
    c.stream.sock.set_read_timeout(Some(IO_TIMEOUT))?;
    c.stream.sock.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(Wire::new(c.stream))
}

/// Close with a reset (SO_LINGER 0) instead of a FIN.
fn reset(s: TcpStream) {
    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
}

/// Violations by kind: a count and the first few examples.
#[derive(Default)]
struct Violations(BTreeMap<String, (usize, Vec<String>)>);

impl Violations {
    fn add(&mut self, kind: &str, detail: String) {
        let e = self.0.entry(kind.to_string()).or_default();
        e.0 += 1;
        if e.1.len() < 4 && !e.1.contains(&detail) {
            e.1.push(detail);
        }
    }

    fn total(&self) -> usize {
        self.0.values().map(|e| e.0).sum()
    }

    fn report(&self) -> String {
        let mut s = String::new();
        for (kind, (n, examples)) in &self.0 {
            s.push_str(&format!("\n  {n:>4} x {kind}"));
            for e in examples {
                s.push_str(&format!("\n         e.g. {e}"));
            }
        }
        s
    }
}

/// What a test run did and found.
#[derive(Default)]
struct Run {
    v: Violations,
    /// `METHOD PATH` of every request a client sent (the server may see only these).
    sent: HashSet<String>,
    next_id: u64,
    victim_conns: usize,
    victim_requests: usize,
    poisons: usize,
    groups: usize,
    /// Victim violations by the poison kind sent just before.
    by_poison: BTreeMap<String, usize>,
}

impl Run {
    fn summary(&self) -> String {
        format!(
            "{} violations in {} groups ({} poison connections, {} victim connections, \
             {} victim requests):{}\n  victim violations by the poison sent just before: {:?}",
            self.v.total(),
            self.groups,
            self.poisons,
            self.victim_conns,
            self.victim_requests,
            self.v.report(),
            self.by_poison
        )
    }
}

// ---------------------------------------------------------------------------------
// HTTP victims and poisons.

/// `requests` GETs of fresh `/victim-<id>` paths on one connection, one after the
/// other, the last with `Connection: close`; each must be answered 200 with exactly its
/// own `victim-<id>`, and the connection must then end with nothing more.
fn victim<S: Read + Write>(wire: &mut Wire<S>, run: &mut Run, requests: usize, after: &str) {
    run.victim_conns += 1;
    for i in 0..requests {
        run.next_id += 1;
        let path = format!("/victim-{}", run.next_id);
        run.sent.insert(format!("GET {path}"));
        run.victim_requests += 1;
        let close = if i + 1 == requests {
            "Connection: close\r\n"
        } else {
            ""
        };
        let request = format!("GET {path} HTTP/1.1\r\nHost: victim\r\n{close}\r\n");
        let at = format!("{path} (request {} of {requests}) after {after}", i + 1);
        if let Err(e) = wire.send(request.as_bytes()) {
            run.v
                .add("victim: could not send its request", format!("{at}: {e}"));
            return;
        }
        let (status, head, body) = match wire.response() {
            Ok(r) => r,
            Err(e) => return run.v.add("victim: no whole response", format!("{at}: {e}")),
        };
        if status != 200 {
            let first = head.lines().next().unwrap_or("");
            run.v
                .add("victim: status other than 200", format!("{at}: {first:?}"));
            return;
        }
        if body != path.as_bytes()[1..] {
            let got = show(&body);
            run.v.add(
                "victim: body of another request",
                format!("{at}: got {got}"),
            );
            return;
        }
    }
    match wire.rest_until_eof() {
        Ok(rest) if rest.is_empty() => {}
        Ok(rest) => run.v.add(
            "victim: bytes after its own response",
            format!("last request after {after}: {}", show(&rest)),
        ),
        Err(e) => run.v.add(
            "victim: connection not closed after Connection: close",
            format!("after {after}: {e}"),
        ),
    }
}

#[derive(Debug, Clone, Copy)]
enum Poison {
    /// `Transfer-Encoding: chunked` whose "chunk" is a request (an invalid size line).
    BadChunked,
    /// The same over TLS.
    TlsBadChunked,
    /// `Content-Length: 100`, 10 bytes that start a request, then FIN or reset.
    ClientCutBody,
    /// A good request, then after its response something that looks like a request.
    GarbageAfterResponse,
    /// The server answers with bytes that are no status line.
    ServerGarbage,
    /// The server answers with a request.
    ServerRequest,
    /// The server announces 1000 body bytes, sends 10 and closes.
    ServerCutBody,
    /// The server sends an unsolicited response right after the real one.
    ServerExtraNow,
    /// ... or 20 ms after it, on the idle keep-alive connection.
    ServerExtraLate,
}

const POISONS: [Poison; 9] = [
    Poison::BadChunked,
    Poison::TlsBadChunked,
    Poison::ClientCutBody,
    Poison::GarbageAfterResponse,
    Poison::ServerGarbage,
    Poison::ServerRequest,
    Poison::ServerCutBody,
    Poison::ServerExtraNow,
    Poison::ServerExtraLate,
];

/// One poison connection (its own outcome is not checked, only that it ends).
fn poison(kind: Poison, round: usize, (web, tls_web): (SocketAddr, SocketAddr), run: &mut Run) {
    run.poisons += 1;
    let chunked = |path: &str| {
        format!("POST {path} HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n{SMUGGLED}")
    };
    let result = match kind {
        Poison::BadChunked => {
            run.sent.insert("POST /poison-chunked".into());
            plain(web).and_then(|w| send_until_eof(w, &chunked("/poison-chunked")))
        }
        Poison::TlsBadChunked => {
            run.sent.insert("POST /poison-tls-chunked".into());
            tls(tls_web).and_then(|w| send_until_eof(w, &chunked("/poison-tls-chunked")))
        }
        Poison::ClientCutBody => client_cut_body(web, round, run),
        Poison::GarbageAfterResponse => garbage_after_response(web, round, run),
        Poison::ServerGarbage => server_poison(web, "/poison-garbage", round, run),
        Poison::ServerRequest => server_poison(web, "/poison-request", round, run),
        Poison::ServerCutBody => server_poison(web, "/poison-midclose", round, run),
        Poison::ServerExtraNow => server_poison(web, "/poison-extra-now", round, run),
        Poison::ServerExtraLate => server_poison(web, "/poison-extra-late", round, run),
    };
    if let Err(e) = result {
        // Not a violation by itself (ringlb may reset a poison), but worth seeing.
        eprintln!("poison {kind:?} in round {round}: {e}");
    }
    thread::sleep(SETTLE);
}

/// Send `request` and read until ringlb closes.
fn send_until_eof<S: Read + Write>(mut w: Wire<S>, request: &str) -> io::Result<()> {
    w.send(request.as_bytes())?;
    w.rest_until_eof().map(drop).map_err(io::Error::other)
}

fn client_cut_body(web: SocketAddr, round: usize, run: &mut Run) -> io::Result<()> {
    run.sent.insert("POST /poison-cut".into());
    let mut w = plain(web)?;
    w.send(b"POST /poison-cut HTTP/1.1\r\nHost: p\r\nContent-Length: 100\r\n\r\nGET /SMUGG")?;
    if round % 2 == 0 {
        w.s.shutdown(Shutdown::Write)?;
        let _ = w.rest_until_eof();
    } else {
        thread::sleep(Duration::from_millis(2));
        reset(w.s);
    }
    Ok(())
}

fn garbage_after_response(web: SocketAddr, round: usize, run: &mut Run) -> io::Result<()> {
    run.sent.insert("GET /poison-pipeline".into());
    let mut w = plain(web)?;
    w.send(b"GET /poison-pipeline HTTP/1.1\r\nHost: p\r\n\r\n")?;
    w.response().map_err(io::Error::other)?;
    let garbage: &[u8] = match round % 3 {
        0 => b"GET /SMUGGLED HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        1 => b"\x01\x02garbage GET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n",
        _ => b"GET /SMUGGLED HTTP/1.1\r\nHost: x\r\n", // a head that never ends
    };
    w.send(garbage)?;
    if round % 3 == 2 {
        w.s.shutdown(Shutdown::Write)?;
    }
    let _ = w.rest_until_eof();
    Ok(())
}

/// A request to a misbehaving server path; every other round with `Connection: close`
/// (read to EOF), else keep-alive (read one response, then close).
fn server_poison(web: SocketAddr, path: &str, round: usize, run: &mut Run) -> io::Result<()> {
    run.sent.insert(format!("GET {path}"));
    let mut w = plain(web)?;
    let close = round % 2 == 0;
    let header = if close { "Connection: close\r\n" } else { "" };
    w.send(format!("GET {path} HTTP/1.1\r\nHost: p\r\n{header}\r\n").as_bytes())?;
    if close {
        let _ = w.rest_until_eof();
    } else {
        let _ = w.response();
    }
    Ok(())
}

/// `ISOLATION_HTTP_REUSE=always` (or `aggressive`) runs the mixed test below under that
/// policy, to count what it lets through (see docs/configuration.md, `http_reuse`: a
/// late response that arrives after the next request went out on the connection is
/// read as that request's, with any policy that shares connections); the default
/// policy is what the test asserts in CI.
fn http_config(backend: SocketAddr, certs: &CertDir) -> String {
    let reuse = std::env::var("ISOLATION_HTTP_REUSE")
        .map(|r| format!("http_reuse = \"{r}\"\n"))
        .unwrap_or_default();
    format!(
        "[global]\nworkers = 2\npin_workers = false\ngrace_period = \"1s\"\n\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\n\
         [[frontend]]\nname = \"webtls\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
         [frontend.tls]\ncertificates = [{}]\n\n\
         [[backend]]\nname = \"app\"\n{reuse}\n[[backend.server]]\nname = \"a1\"\naddress = \"{backend}\"\n",
        certs.entry("site")
    )
}

/// The four victims after a poison burst: a fresh plain connection, plain keep-alive
/// ones with 2 and 3 requests, and a TLS one (fresh or with 2 requests).
fn victims(run: &mut Run, (web, tls_web): (SocketAddr, SocketAddr), round: usize, after: &str) {
    for i in 0..VICTIMS {
        let result = match i % 4 {
            0 => plain(web).map(|mut w| victim(&mut w, run, 1, after)),
            1 => plain(web).map(|mut w| victim(&mut w, run, 2, after)),
            2 => tls(tls_web).map(|mut w| victim(&mut w, run, 1 + round % 2, after)),
            _ => plain(web).map(|mut w| victim(&mut w, run, 3, after)),
        };
        if let Err(e) = result {
            run.v
                .add("victim: could not connect", format!("after {after}: {e}"));
        }
    }
}

/// Every request line the server saw must be one a client sent.
fn check_backend_lines(lines: &[String], run: &mut Run) {
    for line in lines {
        let key = line.split(' ').take(2).collect::<Vec<_>>().join(" ");
        if run.sent.contains(&key) {
            continue;
        }
        let kind = if line.contains("/SMUGGLED") {
            "server: received the smuggled request GET /SMUGGLED"
        } else if line.contains("/FROMSERVER") {
            "server: received its own bytes as a request GET /FROMSERVER"
        } else {
            "server: received a request line no client sent"
        };
        run.v.add(kind, format!("{line:?}"));
    }
}

#[test]
fn http_poisoned_connections_never_leak_into_other_connections() {
    let backend = Backend::start();
    let certs = CertDir::new();
    certs.write("site", &["localhost"]);
    let rl = Ringlb::start(&http_config(backend.addr, &certs));
    let addrs = (rl.addrs[0], rl.addrs[1]);
    let mut run = Run::default();
    let start = Instant::now();
    'rounds: for round in 0..ROUNDS {
        for kind in POISONS {
            if start.elapsed() > BUDGET {
                eprintln!("time budget used up in round {round}: stopping early");
                break 'rounds;
            }
            for _ in 0..BURST {
                poison(kind, round, addrs, &mut run);
            }
            let before = run.v.total();
            victims(&mut run, addrs, round, &format!("{kind:?} (round {round})"));
            let found = run.v.total() - before;
            *run.by_poison.entry(format!("{kind:?}")).or_default() += found;
            run.groups += 1;
        }
    }
    // Let requests still on their way reach the server's log.
    thread::sleep(Duration::from_millis(300));
    let lines = lock(&backend.lines).clone();
    check_backend_lines(&lines, &mut run);
    eprintln!(
        "{} (server saw {} requests, in {:?})",
        run.summary(),
        lines.len(),
        start.elapsed()
    );
    assert!(run.v.total() == 0, "{}", run.summary());
}

// ---------------------------------------------------------------------------------
// TCP mode.

/// A TCP poison: 20 KB (more than one relay buffer) then an abrupt end.
fn tcp_poison(addr: SocketAddr, kind: usize, round: usize) -> io::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let payload = format!("POISON-{round}-{kind};").repeat(20_000 / 12);
    s.write_all(payload.as_bytes())?;
    match kind {
        0 => reset(s),
        1 => {
            s.shutdown(Shutdown::Write)?;
            let mut some = [0u8; 100];
            let _ = s.read(&mut some);
            reset(s);
        }
        _ => drop(s), // unread echo in the receive queue: the kernel resets
    }
    Ok(())
}

/// A victim: its own bytes, a half-close, and exactly those bytes back.
fn tcp_victim(addr: SocketAddr, id: usize, after: &str, v: &mut Violations) {
    let payload = format!("victim-{id};").repeat(200).into_bytes();
    let result = (|| -> io::Result<Vec<u8>> {
        let mut w = plain(addr)?;
        w.send(&payload)?;
        w.s.shutdown(Shutdown::Write)?;
        w.rest_until_eof().map_err(io::Error::other)
    })();
    match result {
        Ok(back) if back == payload => {}
        Ok(back) => {
            let kind = if back.windows(7).any(|w| w == b"POISON-") {
                "tcp victim: echo holds a poison connection's bytes"
            } else {
                "tcp victim: echo differs from what it sent"
            };
            let detail = format!(
                "victim-{id} after {after}: sent {} bytes, got {} bytes: {}",
                payload.len(),
                back.len(),
                show(&back)
            );
            v.add(kind, detail);
        }
        Err(e) => v.add(
            "tcp victim: failed",
            format!("victim-{id} after {after}: {e}"),
        ),
    }
}

#[test]
fn tcp_aborted_connections_never_leak_into_other_connections() {
    let echo = Echo::start();
    let rl = Ringlb::start(&tcp_config(2, &[(echo.addr, 1)], ""));
    let addr = rl.addr();
    let mut v = Violations::default();
    let (mut id, mut poisons) = (0, 0);
    let start = Instant::now();
    'rounds: for round in 0..ROUNDS {
        for kind in 0..3 {
            if start.elapsed() > BUDGET {
                eprintln!("time budget used up in round {round}: stopping early");
                break 'rounds;
            }
            for _ in 0..BURST {
                poisons += 1;
                if let Err(e) = tcp_poison(addr, kind, round) {
                    eprintln!("tcp poison {kind} in round {round}: {e}");
                }
                thread::sleep(SETTLE);
            }
            for _ in 0..VICTIMS {
                id += 1;
                tcp_victim(addr, id, &format!("poison {kind} (round {round})"), &mut v);
            }
        }
    }
    eprintln!(
        "{poisons} poison and {id} victim connections in {:?}: {} violations",
        start.elapsed(),
        v.total()
    );
    assert!(
        v.total() == 0,
        "{} violations ({poisons} poison connections, {id} victims):{}",
        v.total(),
        v.report()
    );
}

// ---------------------------------------------------------------------------------
// Late responses on idle server connections, under the policies that hand a pooled
// connection to another client (`always`, `aggressive`), with either I/O driver.

/// Poisoned connections per policy and driver.
const LATE_ROUNDS: usize = 12;
/// Fresh client connections after each poisoned one.
const LATE_VICTIMS: usize = 3;
/// Bound on each wait of the late-response test (a failure, never a pace).
const LATE_WAIT: Duration = Duration::from_secs(5);

/// What the server says about a connection it sent a late response on.
enum Late {
    /// The late response was written: it is in ringlb's receive queue.
    Sent,
    /// What came next on that connection: `Ok(())` ringlb closed it without sending
    /// anything; `Err` what it did instead.
    After(Result<(), String>),
}

/// A server that answers `/v-<id>` with `v-<id>`, and `/late` with a response and then,
/// once the test says `go`, an unsolicited second one on the idle connection.
struct LateBackend {
    addr: SocketAddr,
    go: std::sync::mpsc::Sender<()>,
    events: std::sync::mpsc::Receiver<Late>,
    /// Requests that were not the first on their server connection.
    reused: Arc<std::sync::atomic::AtomicUsize>,
}

impl LateBackend {
    /// Plain HTTP, or HTTPS (TLS 1.3 and 1.2, rustls' defaults: two session tickets
    /// after each handshake) with `tls`.
    fn start(tls: Option<Arc<rustls::ServerConfig>>) -> LateBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let addr = listener.local_addr().expect("backend address");
        let (go, go_rx) = std::sync::mpsc::channel();
        let (tx, events) = std::sync::mpsc::channel();
        let go_rx = Arc::new(Mutex::new(go_rx));
        let reused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&reused);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (go_rx, tx, counted) = (Arc::clone(&go_rx), tx.clone(), Arc::clone(&counted));
                let tls = tls.clone();
                thread::spawn(move || -> io::Result<()> {
                    let (go_rx, tx, n) = (&go_rx, &tx, &counted);
                    let sock = stream.try_clone()?;
                    match tls {
                        None => serve_late(stream, &sock, go_rx, tx, n),
                        Some(config) => {
                            let conn =
                                rustls::ServerConnection::new(config).map_err(io::Error::other)?;
                            serve_late(rustls::StreamOwned::new(conn, stream), &sock, go_rx, tx, n)
                        }
                    }
                });
            }
        });
        LateBackend {
            addr,
            go,
            events,
            reused,
        }
    }

    fn next(&self, what: &str) -> Late {
        // Longer than the server's own waits, so that its verdict arrives.
        self.events
            .recv_timeout(LATE_WAIT * 2)
            .unwrap_or_else(|_| panic!("the server never said: {what}"))
    }
}

/// Serve one connection, `io` over `sock` (the same socket: its timeouts).
fn serve_late<S: Read + Write>(
    io: S,
    sock: &TcpStream,
    go: &Mutex<std::sync::mpsc::Receiver<()>>,
    tx: &std::sync::mpsc::Sender<Late>,
    reused: &std::sync::atomic::AtomicUsize,
) -> io::Result<()> {
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut r = BufReader::new(io);
    let mut served = 0;
    while let Some(head) = read_head(&mut r)? {
        if served > 0 {
            reused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        served += 1;
        let path = head.split(' ').nth(1).unwrap_or("").to_string();
        let w = r.get_mut();
        if path != "/late" {
            w.write_all(&ok(path.trim_start_matches('/')))?;
            w.flush()?;
            continue;
        }
        w.write_all(&ok("late"))?;
        w.flush()?;
        if lock(go).recv_timeout(LATE_WAIT).is_err() {
            return Ok(());
        }
        w.write_all(EXTRA)?;
        w.flush()?;
        let _ = tx.send(Late::Sent);
        // ringlb must close this connection as the late bytes arrive (its pool keeps
        // idle connections a minute here), and send nothing more on it. (Over TLS, a
        // TCP end without close_notify is rustls' `UnexpectedEof`.)
        sock.set_read_timeout(Some(LATE_WAIT))?;
        let after = match read_head(&mut r) {
            Ok(None) => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
                ) =>
            {
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(format!("still open {LATE_WAIT:?} after the late response"))
            }
            Err(e) => Err(format!("read failed: {e}")),
            Ok(Some(head)) => Err(format!(
                "a request went out on it: {:?}",
                head.lines().next().unwrap_or("")
            )),
        };
        let _ = tx.send(Late::After(after));
        return Ok(());
    }
    Ok(())
}

/// Two requests on a fresh client connection (the second may take any idle server
/// connection under `aggressive`, which makes it proven); each gets its own answer.
fn late_victim(addr: SocketAddr, id: usize) -> Result<(), String> {
    let mut w = plain(addr).map_err(|e| format!("connect: {e}"))?;
    for (n, close) in [(1, ""), (2, "Connection: close\r\n")] {
        let path = format!("/v-{id}-{n}");
        let request = format!("GET {path} HTTP/1.1\r\nHost: v\r\n{close}\r\n");
        w.send(request.as_bytes()).map_err(|e| e.to_string())?;
        let (status, _, body) = w.response()?;
        if status != 200 || body != path.as_bytes()[1..] {
            return Err(format!("{path} got {status} {}", show(&body)));
        }
    }
    match w.rest_until_eof()? {
        rest if rest.is_empty() => Ok(()),
        rest => Err(format!("v-{id}: bytes after its response: {}", show(&rest))),
    }
}

#[test]
fn late_responses_on_idle_server_connections_never_reach_another_client() {
    late_responses(None);
}

/// The same with `tls = true` servers (TLS 1.3, with session tickets): the late
/// response is an application-data record on the idle connection, which ringlb's wait
/// reads into rustls and closes the connection for (tickets alone would not).
#[test]
fn late_responses_on_idle_tls_server_connections_never_reach_another_client() {
    let certs = CertDir::new();
    certs.write("backend", &["localhost"]);
    late_responses(Some(tls_server_config(&certs, "backend")));
}

/// rustls' server defaults for `<stem>.pem`/`.key` of `certs`.
fn tls_server_config(certs: &CertDir, stem: &str) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = CertificateDer::from_pem_file(certs.0.join(format!("{stem}.pem"))).expect("cert");
    let key = PrivateKeyDer::from_pem_file(certs.0.join(format!("{stem}.key"))).expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    Arc::new(config)
}

fn late_responses(tls: Option<Arc<rustls::ServerConfig>>) {
    let server_keys = if tls.is_some() {
        "tls = true\nverify = false\n"
    } else {
        ""
    };
    for reuse in ["always", "aggressive"] {
        for driver in ["io_uring", "legacy"] {
            let backend = LateBackend::start(tls.clone());
            let cfg = format!(
                "[global]\nworkers = 1\npin_workers = false\nio_driver = \"{driver}\"\n\n\
                 [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
                 default_backend = \"app\"\n\n\
                 [[backend]]\nname = \"app\"\nhttp_reuse = \"{reuse}\"\npool_idle_timeout = \"1m\"\n\n\
                 [[backend.server]]\nname = \"a1\"\naddress = \"{}\"\n{server_keys}",
                backend.addr
            );
            let rl = Ringlb::start(&cfg);
            let named = if driver == "legacy" {
                "legacy (epoll)"
            } else {
                "io_uring"
            };
            assert!(
                rl.log.iter().any(|l| l.contains(named)),
                "{driver}: the log does not say {named:?}"
            );
            let mut v = Violations::default();
            let mut id = 0;
            for round in 0..LATE_ROUNDS {
                // Two requests on one client connection: the second reuses the first's
                // server connection, which `aggressive` then counts as proven.
                let mut w = plain(rl.addr()).expect("connect");
                for path in ["/v-warm", "/late"] {
                    w.send(format!("GET {path} HTTP/1.1\r\nHost: p\r\n\r\n").as_bytes())
                        .expect("send");
                    w.response().expect("response");
                }
                drop(w);
                backend.go.send(()).expect("server gone");
                assert!(matches!(backend.next("late response sent"), Late::Sent));
                // Odd rounds: the connection must close on its own first. Even ones:
                // clients come at once and race the close.
                let mut after = None;
                if round % 2 == 1 {
                    after = Some(backend.next("what followed the late response"));
                }
                for _ in 0..LATE_VICTIMS {
                    id += 1;
                    if let Err(e) = late_victim(rl.addr(), id) {
                        v.add("victim", format!("{reuse}/{driver} round {round}: {e}"));
                    }
                }
                let after = after.unwrap_or_else(|| backend.next("what followed"));
                if let Late::After(Err(e)) = after {
                    v.add(
                        "late connection",
                        format!("{reuse}/{driver} round {round}: {e}"),
                    );
                }
            }
            let reused = backend.reused.load(std::sync::atomic::Ordering::Relaxed);
            eprintln!(
                "{reuse}/{driver}: {} violations, {reused} reused requests",
                v.total()
            );
            assert!(v.total() == 0, "{reuse}/{driver}:{}", v.report());
            // The victims did take pooled connections: the policy was exercised.
            assert!(
                reused >= LATE_ROUNDS * LATE_VICTIMS / 2,
                "{reuse}/{driver}: {reused}"
            );
        }
    }
}
