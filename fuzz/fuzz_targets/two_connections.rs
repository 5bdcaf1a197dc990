//! Isolation between client connections, fuzzed end to end (`cargo fuzz run
//! two_connections`, see fuzz/README.md). One ringlb (one worker, HTTP mode) and one
//! backend run in this process. Each input is a misbehaving connection "A" (the client's
//! bytes, what the server answers, how each side closes); once ringlb is done with A,
//! a well-behaved connection "B" sends two requests for a fresh random token:
//!
//! - B1 `GET /victim-<token>-1` (keep-alive): the first request of a client connection,
//!   so ringlb sends it on a fresh server connection; the backend answers it with
//!   `Connection: close`, so that connection is not pooled;
//! - B2 `GET /victim-<token>-2` (`Connection: close`): not a first request, so ringlb
//!   takes the newest pooled server connection when there is one, possibly one A left.
//!
//! Invariant: nothing of A reaches B. B gets exactly two responses, 200 with body
//! `victim-<token>-1` then `victim-<token>-2`, and not one byte more; the backend saw B1
//! as the first request of a new server connection, then nothing else on it, and B2 as
//! a whole request (after complete earlier requests only) with nothing after it; each
//! head is exactly the one ringlb must send. The token is random per iteration, so no
//! input can contain it. A violation panics (libFuzzer saves the input).
//!
//! Between connections the harness polls the admin `/metrics` until ringlb has accepted
//! every connection made and has none open, and the server has finished writing its
//! replies to A (both parts, the pause between them included): A's session is over (its
//! buffers and server connection handed back) and every byte the server sent A's way is
//! on its way to ringlb before B starts, and B's session is over before the server's
//! record is read.
//! A 504 to B is not counted as a violation when the server did get B's request (its
//! thread was not scheduled within `timeout_server` on a loaded machine) and the rest of
//! its record is clean.
//!
//! Input layout (`parse`): 6 header bytes, then A's client bytes, then the server reply,
//! whose length (header bytes 4-5) is counted from the end so that mutations of the
//! client part leave the reply alone. `fuzz/seeds/make_two_connections.py` writes inputs.
#![no_main]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;

/// Backend socket read timeout: idle backend threads end after this.
const BACKEND_IDLE: Duration = Duration::from_millis(500);
/// Longest wait for ringlb to finish with A (its timeouts are far shorter).
const A_BUDGET: Duration = Duration::from_secs(3);
/// Every read of B's client (ringlb answers B in about a millisecond).
const B_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest wait for ringlb to report no open client connection.
const QUIET_BUDGET: Duration = Duration::from_secs(5);

// The timeouts that bound a stuck iteration. Only `timeout_server` is ever reached by A
// (the backend may stall); A always closes or half-closes its side, so the client-side
// timeouts only matter to B, and are kept longer so a loaded machine does not fail B.
const CONFIG: &str = r#"
[global]
workers = 1
pin_workers = false
grace_period = "1s"
admin_bind = "127.0.0.1:0"

[defaults]
timeout_connect = "300ms"
timeout_client = "300ms"
timeout_server = "150ms"
timeout_http_request = "300ms"
timeout_http_keep_alive = "1s"
timeout_queue = "300ms"

[[frontend]]
name = "web"
bind = ["127.0.0.1:0"]
mode = "http"
default_backend = "app"

[[backend]]
name = "app"
error_limit = 0

[[backend.server]]
name = "s1"
address = "BACKEND"
"#;

/// ringlb's and the backend's threads (and what they hold) are alive until the process
/// exits, which LeakSanitizer would report as leaks at exit (and libFuzzer after inputs
/// whose threads outlive them): leak checking is off for this target, which checks
/// isolation, not memory. (ASan's own checks stay on.)
#[no_mangle]
pub extern "C" fn __asan_default_options() -> *const std::ffi::c_char {
    c"detect_leaks=0".as_ptr()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------
// The input.

/// Bytes shown as an escaped string in panic messages.
#[derive(Clone, Default)]
struct Bytes<T>(T);

impl<T: AsRef<[u8]>> std::fmt::Debug for Bytes<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\"", self.0.as_ref().escape_ascii())
    }
}

#[derive(Debug, Clone, Default)]
struct Reply {
    bytes: Bytes<Vec<u8>>,
    /// Written in two parts: `bytes[..split]`, then the rest.
    split: usize,
    /// Pause 1 ms between the parts (the second arrives once ringlb may have pooled
    /// the connection).
    pause: bool,
    /// Close the server connection after the reply.
    close: bool,
}

#[derive(Debug)]
struct Input<'a> {
    /// A's client bytes, in these writes.
    writes: Vec<Bytes<&'a [u8]>>,
    pause_writes: bool,
    /// A closes with a reset (SO_LINGER 0) instead of a half-close.
    abrupt: bool,
    /// Before a reset: wait for the first bytes of the answer.
    read_before_reset: bool,
    /// A twice in a row (two failing connections reach buffers one does not).
    twice: bool,
    reply: Reply,
}

fn frac(len: usize, b: u8) -> usize {
    len * usize::from(b) / 255
}

/// Header: `flags, w1, w2, rs, len_lo, len_hi`. Flags: bit 0 A resets, bit 1 A reads
/// before resetting, bit 2 server closes after replying, bit 3 server pauses between
/// the two parts of its reply, bit 4 A twice, bit 5 A pauses between writes, bits 6-7
/// A's writes (1 + value % 3). `w1`, `w2`: where A's bytes are cut (fractions of 255);
/// `rs`: where the reply is cut; `len`: the reply's length (modulo what is left).
fn parse(data: &[u8]) -> Option<Input<'_>> {
    let (&[flags, w1, w2, rs, l0, l1], rest) = data.split_first_chunk::<6>()?;
    let reply_len = usize::from(u16::from_le_bytes([l0, l1])) % (rest.len() + 1);
    let (client, reply) = rest.split_at(rest.len() - reply_len);
    let pieces = 1 + usize::from(flags >> 6) % 3;
    let mut cuts = [frac(client.len(), w1), frac(client.len(), w2)];
    cuts.sort_unstable();
    let writes = match pieces {
        1 => vec![client],
        2 => vec![&client[..cuts[0]], &client[cuts[0]..]],
        _ => vec![
            &client[..cuts[0]],
            &client[cuts[0]..cuts[1]],
            &client[cuts[1]..],
        ],
    };
    let writes = writes.into_iter().map(Bytes).collect();
    Some(Input {
        writes,
        abrupt: flags & 1 != 0,
        read_before_reset: flags & 2 != 0,
        reply: Reply {
            bytes: Bytes(reply.to_vec()),
            split: frac(reply.len(), rs),
            pause: flags & 8 != 0,
            close: flags & 4 != 0,
        },
        twice: flags & 16 != 0,
        pause_writes: flags & 32 != 0,
    })
}

// ---------------------------------------------------------------------------------
// The backend: `/victim-*` gets its own name back; anything else gets the input's
// reply. Every request head is recorded with its server connection.

#[derive(Debug, Clone)]
struct Seen {
    conn: u64,
    /// 0 for the first head read on the connection.
    index: usize,
    head: Vec<u8>,
}

#[derive(Default)]
struct Backend {
    reply: Mutex<Reply>,
    /// Heads seen since the iteration began.
    log: Mutex<Vec<Seen>>,
    conns: AtomicU64,
    /// Replies to A being written (both parts, with the pause between them): B starts
    /// only once none is, so every byte the server sends A's way has left before B's
    /// requests. (A byte sent after a request went out on a reused connection is that
    /// request's response to any proxy.)
    writing: AtomicU64,
}

/// Counts a reply in `Backend::writing` while it lives.
struct Writing<'a>(&'a AtomicU64);

impl<'a> Writing<'a> {
    fn new(n: &'a AtomicU64) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Writing(n)
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Backend {
    fn start(self: &Arc<Self>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let addr = listener.local_addr().expect("backend address");
        let me = Arc::clone(self);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let me = Arc::clone(&me);
                let conn = me.conns.fetch_add(1, Ordering::Relaxed);
                let spawned = thread::Builder::new().stack_size(1 << 20).spawn(move || {
                    let _ = me.serve(stream, conn);
                });
                if let Err(e) = spawned {
                    eprintln!("two_connections: cannot start a backend thread: {e}");
                }
            }
        });
        addr
    }

    fn serve(&self, stream: TcpStream, conn: u64) -> io::Result<()> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(BACKEND_IDLE))?;
        let mut r = BufReader::new(stream.try_clone()?);
        let mut w = stream;
        for index in 0.. {
            let Some(head) = read_head(&mut r)? else {
                return Ok(());
            };
            let path = first_line(&head)
                .split(|&b| b == b' ')
                .nth(1)
                .unwrap_or(b"")
                .to_vec();
            lock(&self.log).push(Seen {
                conn,
                index,
                head: head.clone(),
            });
            if let Some(name) = path
                .strip_prefix(b"/")
                .filter(|p| p.starts_with(b"victim-"))
            {
                let close = name.ends_with(b"-1");
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{}\r\n",
                    name.len(),
                    if close { "Connection: close\r\n" } else { "" }
                )
                .into_bytes();
                out.extend_from_slice(name);
                w.write_all(&out)?;
                if close {
                    return w.shutdown(Shutdown::Both);
                }
                continue;
            }
            if !read_body(&mut r, &head)? {
                return Ok(()); // cut or invalid body: drop the connection
            }
            let reply = lock(&self.reply).clone();
            let _writing = Writing::new(&self.writing);
            let bytes = &reply.bytes.0;
            let (one, two) = bytes.split_at(reply.split.min(bytes.len()));
            w.write_all(one)?;
            if !two.is_empty() {
                if reply.pause {
                    thread::sleep(Duration::from_millis(1));
                }
                w.write_all(two)?;
            }
            if reply.close {
                return w.shutdown(Shutdown::Both);
            }
        }
        Ok(())
    }
}

fn first_line(head: &[u8]) -> &[u8] {
    let end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    head[..end].strip_suffix(b"\r").unwrap_or(&head[..end])
}

/// Up to and including the empty line; `None` at EOF, on a timeout or when too long.
fn read_head(r: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    for _ in 0..256 {
        let mut line = Vec::new();
        match r.by_ref().take(65536).read_until(b'\n', &mut line) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" || line == b"\n" {
            return Ok(Some(head));
        }
        if !line.ends_with(b"\n") {
            return Ok(None);
        }
    }
    Ok(None)
}

/// Read (and discard) a request body; false when it is cut short or invalid.
fn read_body(r: &mut impl BufRead, head: &[u8]) -> io::Result<bool> {
    let lower = String::from_utf8_lossy(head).to_ascii_lowercase();
    if lower.contains("\ntransfer-encoding:") {
        return read_chunked(r);
    }
    let len = lower
        .split("\r\n")
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    Ok(io::copy(&mut r.by_ref().take(len), &mut io::sink()).unwrap_or(0) == len)
}

fn read_chunked(r: &mut impl BufRead) -> io::Result<bool> {
    for _ in 0..1024 {
        let mut line = Vec::new();
        if r.by_ref().take(4096).read_until(b'\n', &mut line).is_err() {
            return Ok(false);
        }
        let text = String::from_utf8_lossy(&line);
        let Some(size) = text.strip_suffix("\r\n") else {
            return Ok(false);
        };
        let Ok(n) = u64::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else {
            return Ok(false);
        };
        if n == 0 {
            return Ok(read_head(r)?.is_some()); // trailers up to the empty line
        }
        if io::copy(&mut r.by_ref().take(n + 2), &mut io::sink()).unwrap_or(0) != n + 2 {
            return Ok(false);
        }
    }
    Ok(false)
}

// ---------------------------------------------------------------------------------
// ringlb, started once per process.

struct Harness {
    front: SocketAddr,
    admin: SocketAddr,
    backend: Arc<Backend>,
    /// Client connections made to the frontend so far.
    made: AtomicU64,
    iterations: AtomicU64,
    /// Iterations whose B got a 504 although its request reached the server (timing,
    /// not isolation: the backend thread was not scheduled within `timeout_server`).
    inconclusive: AtomicU64,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let backend = Arc::new(Backend::default());
        let backend_addr = backend.start();
        let text = CONFIG.replace("BACKEND", &backend_addr.to_string());
        let config = ringlb::config::Config::parse(&text, "two_connections.toml")
            .unwrap_or_else(|e| panic!("harness configuration refused: {e}"));
        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name("ringlb-control".into())
            .spawn(move || {
                let r = ringlb::run::run_with(config, None, |b| {
                    let _ = tx.send((b.frontends[0].1, b.admin.expect("admin address")));
                });
                eprintln!("two_connections: ringlb stopped: {r:?}");
                std::process::abort();
            })
            .expect("start ringlb");
        let (front, admin) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("ringlb bound its listeners");
        let deadline = Instant::now() + Duration::from_secs(10);
        // The listener is bound before the worker runs: wait until a request is served.
        loop {
            let ok = TcpStream::connect(front).is_ok_and(|mut s| {
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                let _ = s.write_all(
                    b"GET /victim-startup HTTP/1.1\r\nHost: v\r\nConnection: close\r\n\r\n",
                );
                let mut out = Vec::new();
                let _ = s.read_to_end(&mut out);
                out.starts_with(b"HTTP/1.1 200")
            });
            if ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "ringlb does not answer on {front}"
            );
            thread::sleep(Duration::from_millis(20));
        }
        let h = Harness {
            front,
            admin,
            backend,
            made: AtomicU64::new(0),
            iterations: AtomicU64::new(0),
            inconclusive: AtomicU64::new(0),
        };
        // Count the start-up connections (each attempt that connected was accepted).
        let total = h.frontend_metrics().1;
        h.made.store(total, Ordering::Relaxed);
        h.wait_quiet();
        h
    })
}

impl Harness {
    /// `(current connections, connections accepted)` of the frontend, from /metrics.
    fn frontend_metrics(&self) -> (u64, u64) {
        let mut s = TcpStream::connect(self.admin).expect("connect to admin");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
            .expect("ask for metrics");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read metrics");
        let value = |name: &str| {
            out.lines()
                .find(|l| l.starts_with(name) && l.contains("frontend=\"web\""))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no {name} in /metrics: {out}"))
        };
        (
            value("ringlb_frontend_current_connections{"),
            value("ringlb_frontend_connections_total{"),
        )
    }

    /// Wait until ringlb has accepted every connection made and closed them all: every
    /// session that could touch the worker's buffers or pool is over.
    fn wait_quiet(&self) -> bool {
        let want = self.made.load(Ordering::Relaxed);
        let deadline = Instant::now() + QUIET_BUDGET;
        loop {
            let (current, total) = self.frontend_metrics();
            let writing = self.backend.writing.load(Ordering::SeqCst);
            if current == 0 && total >= want && writing == 0 {
                return true;
            }
            if Instant::now() > deadline {
                eprintln!(
                    "two_connections: ringlb still has {current} connection(s) open \
                     ({total} of {want} accepted) after {QUIET_BUDGET:?}"
                );
                return false;
            }
            thread::sleep(Duration::from_micros(300));
        }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.front).expect("connect to ringlb");
        self.made.fetch_add(1, Ordering::Relaxed);
        s.set_nodelay(true).unwrap();
        s
    }
}

// ---------------------------------------------------------------------------------
// Connection A.

fn reset_on_close(s: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a descriptor we own, with a correctly sized value.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

fn run_a(h: &Harness, input: &Input<'_>) {
    let mut s = h.connect();
    for (i, w) in input.writes.iter().enumerate() {
        if i > 0 && input.pause_writes {
            thread::sleep(Duration::from_millis(1));
        }
        if s.write_all(w.0).is_err() {
            break;
        }
    }
    let mut sink = [0u8; 4096];
    if input.abrupt {
        if input.read_before_reset {
            let _ = s.set_read_timeout(Some(Duration::from_millis(30)));
            let _ = s.read(&mut sink);
        }
        reset_on_close(&s);
        return;
    }
    let _ = s.shutdown(Shutdown::Write);
    let deadline = Instant::now() + A_BUDGET;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            eprintln!("two_connections: A still open after {A_BUDGET:?}");
            reset_on_close(&s);
            return;
        }
        let _ = s.set_read_timeout(Some(left));
        match s.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

// ---------------------------------------------------------------------------------
// Connection B.

/// One response at the start of `buf`: `(status, body, bytes used)`; `None` while
/// incomplete; `Err` when it is not a response with a Content-Length body.
fn response(buf: &[u8]) -> Result<Option<(u16, Vec<u8>, usize)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    let head_len = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("not a response ({e})")),
    };
    let status = r.code.unwrap_or(0);
    if r.headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
    {
        return Err("a chunked response".into());
    }
    let mut lengths = r
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"));
    let len = match (lengths.next(), lengths.next()) {
        (Some(h), None) => std::str::from_utf8(h.value)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .ok_or("a bad Content-Length")?,
        _ => return Err("not exactly one Content-Length".into()),
    };
    if buf.len() < head_len + len {
        return Ok(None);
    }
    Ok(Some((
        status,
        buf[head_len..head_len + len].to_vec(),
        head_len + len,
    )))
}

/// What B's client saw.
#[derive(Clone, Copy)]
enum Answer {
    /// Both responses were 200 with the right bodies and nothing else came.
    Good,
    /// ringlb answered B<k> with 504. Not a violation when B<k> reached the server: its
    /// thread was not scheduled within `timeout_server` (a loaded machine).
    TimedOut(usize),
}

fn run_b(h: &Harness, token: &str) -> Result<Answer, String> {
    let mut s = h.connect();
    s.set_read_timeout(Some(B_TIMEOUT)).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    for k in 1..=2 {
        let close = if k == 2 { "Connection: close\r\n" } else { "" };
        let req = format!("GET /victim-{token}-{k} HTTP/1.1\r\nHost: v\r\n{close}\r\n");
        s.write_all(req.as_bytes())
            .map_err(|e| format!("B{k}: cannot send the request: {e} (read so far: {buf:?})"))?;
        let (status, body, used) = loop {
            if let Some(r) = response(&buf).map_err(|e| format!("B{k}: {e}"))? {
                break r;
            }
            match s.read(&mut chunk) {
                Ok(0) => return Err(format!("B{k}: EOF before a whole response")),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("B{k}: no whole response ({e})")),
            }
        };
        if status == 504 {
            return Ok(Answer::TimedOut(k));
        }
        let want = format!("victim-{token}-{k}");
        if status != 200 || body != want.as_bytes() {
            return Err(format!(
                "B{k}: status {status}, body {:?}, want 200 {want:?}",
                String::from_utf8_lossy(&body)
            ));
        }
        // Anything after B1's response is read as the start of B2's and fails there.
        buf.drain(..used);
    }
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("B2: no EOF after the response ({e})")),
        }
    }
    if !buf.is_empty() {
        return Err("bytes after B2's response".into());
    }
    Ok(Answer::Good)
}

/// The backend's side: B1 first on a fresh connection with nothing after it; B2 whole,
/// after complete requests only, with nothing after it; exact heads; B's token in no
/// other head. `seen[k]`: B<k+1> must have reached the server (it was sent, and answered
/// or given a 504).
fn check_server(log: &[Seen], token: &str, seen: [bool; 2]) -> Result<(), String> {
    let wants: Vec<String> = (1..=2)
        .map(|k| format!("GET /victim-{token}-{k} HTTP/1.1\r\nHost: v\r\n\r\n"))
        .collect();
    let mut place = [None, None];
    for (k, want) in wants.iter().enumerate() {
        let found: Vec<&Seen> = log.iter().filter(|s| s.head == want.as_bytes()).collect();
        match found[..] {
            [] if seen[k] => return Err(format!("the server never saw B{}'s request", k + 1)),
            [] => {}
            [one] => place[k] = Some((one.conn, one.index)),
            _ => {
                return Err(format!(
                    "B{} reached the server {} times",
                    k + 1,
                    found.len()
                ))
            }
        }
    }
    if let Some((c1, i1)) = place[0] {
        if i1 != 0 {
            return Err(format!(
                "B1 was request #{i1} of its server connection, not its first"
            ));
        }
        if let Some(s) = log.iter().find(|s| s.conn == c1 && s.index != 0) {
            return Err(format!(
                "after B1 its server connection carried {:?}",
                String::from_utf8_lossy(&s.head)
            ));
        }
    }
    if let Some((c2, i2)) = place[1] {
        if let Some(s) = log.iter().find(|s| s.conn == c2 && s.index > i2) {
            return Err(format!(
                "after B2 its server connection carried {:?}",
                String::from_utf8_lossy(&s.head)
            ));
        }
    }
    let victim = format!("victim-{token}");
    let foreign = log.iter().find(|s| {
        s.head.windows(victim.len()).any(|w| w == victim.as_bytes())
            && !wants.iter().any(|w| s.head == w.as_bytes())
    });
    if let Some(s) = foreign {
        return Err(format!(
            "B's token in a head B did not send: {:?}",
            String::from_utf8_lossy(&s.head)
        ));
    }
    Ok(())
}

fn token(n: u64) -> String {
    let mut hasher = RandomState::new().build_hasher();
    n.hash(&mut hasher);
    format!("{n}x{:016x}", hasher.finish())
}

fn violation(input: &Input<'_>, what: &str, log: &[Seen]) -> ! {
    let heads: Vec<String> = log
        .iter()
        .map(|s| {
            format!(
                "  conn {} #{}: {:?}",
                s.conn,
                s.index,
                String::from_utf8_lossy(&s.head)
            )
        })
        .collect();
    panic!(
        "connection isolation violated: {what}\ninput: {input:?}\nheads the server saw this iteration:\n{}",
        heads.join("\n")
    );
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = parse(data) else { return };
    let h = harness();
    let n = h.iterations.fetch_add(1, Ordering::Relaxed);
    lock(&h.backend.log).clear();
    *lock(&h.backend.reply) = input.reply.clone();

    for _ in 0..if input.twice { 2 } else { 1 } {
        run_a(h, &input);
        h.wait_quiet();
    }

    let token = token(n);
    let answer = run_b(h, &token);
    h.wait_quiet();
    let answer = answer.unwrap_or_else(|e| violation(&input, &e, &lock(&h.backend.log)));
    // Which of B's requests must have reached the server: those answered, and one that
    // got a 504 too (a slow backend thread still reads it; a request ringlb never sent,
    // because it answered something else in B's name, never arrives).
    let seen = match answer {
        Answer::Good => [true, true],
        Answer::TimedOut(k) => {
            let want = format!("GET /victim-{token}-{k} HTTP/1.1\r\nHost: v\r\n\r\n");
            let deadline = Instant::now() + B_TIMEOUT;
            while !lock(&h.backend.log)
                .iter()
                .any(|s| s.head == want.as_bytes())
                && Instant::now() < deadline
            {
                thread::sleep(Duration::from_millis(1));
            }
            [true, k == 2]
        }
    };
    let log = lock(&h.backend.log).clone();
    if let Err(e) = check_server(&log, &token, seen) {
        let why = match answer {
            Answer::Good => e,
            Answer::TimedOut(k) => format!("B{k} got a 504; {e}"),
        };
        violation(&input, &why, &log);
    }
    if let Answer::TimedOut(_) = answer {
        let k = h.inconclusive.fetch_add(1, Ordering::Relaxed) + 1;
        if k.is_power_of_two() {
            eprintln!(
                "two_connections: {k} iteration(s) where B got a 504 from a slow backend thread, of {}",
                n + 1
            );
        }
    }
});
