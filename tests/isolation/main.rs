//! Isolation between connections: nothing one connection leaves behind (a refused
//! request body, a server's garbage, a cut-off body, an unsolicited response) may ever
//! be read as part of another connection. Many misbehaving ("poison") connections of
//! every kind are interleaved with well-behaved ("victim") connections on a ringlb with
//! two workers, so that whatever per-worker state is reused between connections (relay
//! buffers, server connections) is reused by a victim right after a poison. Every
//! victim must get exactly its own answer, and the server must never see a request no
//! client sent.
//!
//! Files (one test binary, `cargo test --test isolation`):
//! - `main.rs`: the shared constants, servers, clients and checks.
//! - `http.rs`: HTTP victims and poisons on plain and TLS frontends, the server's view checked.
//! - `tcp.rs`: TCP mode: aborted connections interleaved with victims.
//! - `late.rs`: late responses on idle server connections under always and aggressive, either driver, plain and TLS servers.

#[path = "../common/mod.rs"]
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

mod http;
mod late;
mod tcp;
