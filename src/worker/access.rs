//! The access log (`global.access_log = true`): one line per HTTP request and one per
//! TCP connection, on stdout or syslog (`global.log_target`), written by a thread of
//! its own (`logging::sink`). A worker formats lines
//! into its own reused buffer (no lock, no allocation per line) and hands the buffer
//! to the writer when it holds `SHIP_AT` bytes or at the worker's once-a-second
//! sweep. If the writer falls behind (stdout blocked), the hand-over queue fills and
//! further buffers are dropped and counted: the proxy never waits for its log.
//!
//! ```text
//! 2026-11-22T23:30:04.123Z 127.0.0.1:51234 web app/web1 200 78 1532 1.204ms "GET /x HTTP/1.1" TLSv1.3/TLS13_AES_128_GCM_SHA256
//! time                     client          frontend backend/server status bytes_in bytes_out duration request tls
//! ```
//! TCP lines have `-` for status and `"TCP"` for the request; `-` marks anything absent.
//! With `access_log_format` (e.g. `"httplog"`), a frontend's lines follow that format
//! instead (`access_format.rs`).
//!
//! A frontend with `log_asap` has its line written early (`Record::asap`): bytes and
//! duration are then those known so far, prefixed with `+` as HAProxy does. One with
//! `log_separate_errors` has its failures' lines go out at syslog level err: they
//! collect in a second buffer, shipped as a batch of that severity.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Sender, TrySendError};

use super::access_format::{render, Conns, Values};
use crate::config::{Global, LogTarget};
use crate::logging::date::Civil;
use crate::logging::sink::{Batch, Sink, Target};
use crate::logging::syslog::{ERR, INFO};

/// Hand a buffer over once it holds this much.
const SHIP_AT: usize = 32 * 1024;
/// Longest request line written (longer ones are cut, marked with `...`).
const MAX_LINE: usize = 1024;

/// The writer thread of the access log and the sending end workers clone.
pub struct AccessWriter(Sink);

impl AccessWriter {
    /// Lines go to stdout, or to syslog with `global.log_target = "syslog"`.
    pub fn start(g: &Global) -> std::io::Result<AccessWriter> {
        let target = match &g.log_target {
            LogTarget::Stderr => Target::Stdout,
            LogTarget::Syslog(s) => Target::Syslog(s.clone()),
        };
        Sink::start(target, "ringlb-access-log").map(AccessWriter)
    }

    pub fn sender(&self) -> Option<Sender<Batch>> {
        self.0.sender()
    }

    /// At exit, once the workers are done (each closed its end): write what they
    /// handed over, waiting a little.
    pub fn finish(self) {
        self.0.finish();
    }
}

/// One request or connection, as logged.
pub struct Entry<'a> {
    pub peer: SocketAddr,
    pub frontend: &'a str,
    pub backend: Option<&'a str>,
    pub server: Option<&'a str>,
    /// HTTP status sent to the client (`None`: TCP mode, or nothing was sent).
    pub status: Option<u16>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration: Duration,
    /// The request line as received (HTTP), or empty (TCP).
    pub request: &'a [u8],
    /// Negotiated TLS version and cipher suite.
    pub tls: Option<(&'static str, &'static str)>,
    /// The rule that decided (`rule=http_rule 3` at the end of the line).
    pub rule: Option<String>,
    /// Written early (`log_asap`): bytes and duration so far, marked `+`.
    pub asap: bool,
}

/// A worker's end.
pub struct AccessLog {
    /// `None` once closed (the worker is done).
    tx: RefCell<Option<Sender<Batch>>>,
    /// Lines at level info, and at level err (`log_separate_errors`).
    buf: RefCell<Vec<u8>>,
    errs: RefCell<Vec<u8>>,
    /// Lines in `buf` and in `errs`.
    lines: Cell<u64>,
    err_lines: Cell<u64>,
    /// Lines dropped because the writer was behind.
    pub dropped: Cell<u64>,
    /// The date and time to the second, formatted once per second.
    second: Cell<u64>,
    stamp: RefCell<[u8; 19]>,
    /// For `%pid`.
    pid: u32,
}

impl AccessLog {
    pub fn new(tx: Sender<Batch>) -> AccessLog {
        AccessLog {
            tx: RefCell::new(Some(tx)),
            buf: RefCell::new(Vec::with_capacity(SHIP_AT + MAX_LINE * 2)),
            errs: RefCell::new(Vec::new()),
            lines: Cell::new(0),
            err_lines: Cell::new(0),
            dropped: Cell::new(0),
            second: Cell::new(u64::MAX),
            stamp: RefCell::new([b'0'; 19]),
            pid: std::process::id(),
        }
    }

    /// The line of one request or connection: `r`, its request line, and the names
    /// of its frontend, backend and server.
    pub fn record(
        &self,
        r: &Record,
        request: &[u8],
        frontend: &crate::config::Frontend,
        backend: Option<&crate::config::Backend>,
        conns: impl FnOnce() -> Conns,
    ) {
        let server = backend.zip(r.server).and_then(|(b, s)| b.servers.get(s));
        let err = frontend.log_separate_errors && is_error(r);
        if let Some(format) = &frontend.access_log_format {
            let now = unix_now();
            let full = {
                let mut b = self.buffer(err);
                render(
                    &mut b,
                    &format.items,
                    &Values {
                        rec: r,
                        request,
                        frontend: &frontend.name,
                        backend: backend.map(|b| b.name.as_str()),
                        server: server.map(|s| s.name.as_str()),
                        conns: conns(),
                        now,
                        elapsed: r.started.map_or(Duration::ZERO, |t| t.elapsed()),
                        pid: self.pid,
                    },
                );
                b.push(b'\n');
                b.len() >= SHIP_AT
            };
            self.shipped_one(full, err);
            return;
        }
        self.log(
            &Entry {
                peer: r.peer,
                frontend: &frontend.name,
                backend: backend.map(|b| b.name.as_str()),
                server: server.map(|s| s.name.as_str()),
                status: r.status,
                bytes_in: r.bytes_in,
                bytes_out: r.bytes_out,
                duration: r.started.map_or(Duration::ZERO, |t| t.elapsed()),
                request,
                tls: r.tls,
                rule: r.rule.map(|i| frontend.rule_label(i)),
                asap: r.asap,
            },
            err,
        );
    }

    /// The buffer of info lines, or of err lines.
    fn buffer(&self, err: bool) -> std::cell::RefMut<'_, Vec<u8>> {
        if err {
            self.errs.borrow_mut()
        } else {
            self.buf.borrow_mut()
        }
    }

    /// Write `e`'s line at level info, or err (`err`).
    pub fn log(&self, e: &Entry<'_>, err: bool) {
        let now = unix_now();
        if self.second.get() != now.as_secs() {
            self.second.set(now.as_secs());
            *self.stamp.borrow_mut() = date_time(now.as_secs());
        }
        let full = {
            let mut b = self.buffer(err);
            b.extend_from_slice(&*self.stamp.borrow());
            let _ = write!(b, ".{:03}Z {} {} ", now.subsec_millis(), e.peer, e.frontend);
            let _ = write!(
                b,
                "{}/{} ",
                e.backend.unwrap_or("-"),
                e.server.unwrap_or("-")
            );
            match e.status {
                Some(s) => {
                    let _ = write!(b, "{s} ");
                }
                None => b.extend_from_slice(b"- "),
            }
            let plus = if e.asap { "+" } else { "" };
            let _ = write!(
                b,
                "{} {plus}{} {plus}{:.3}ms \"",
                e.bytes_in,
                e.bytes_out,
                e.duration.as_secs_f64() * 1e3
            );
            write_request(&mut b, e.request);
            b.extend_from_slice(b"\" ");
            match e.tls {
                Some((version, cipher)) => {
                    let _ = write!(b, "{version}/{cipher}");
                }
                None => b.push(b'-'),
            }
            if let Some(rule) = &e.rule {
                let _ = write!(b, " rule={}", rule.replace(' ', ":"));
            }
            b.push(b'\n');
            b.len() >= SHIP_AT
        };
        self.shipped_one(full, err);
    }

    /// One more line is buffered (an err line with `err`); hand the buffers over
    /// when `full`.
    fn shipped_one(&self, full: bool, err: bool) {
        let n = if err { &self.err_lines } else { &self.lines };
        n.set(n.get() + 1);
        if full {
            self.flush();
        }
    }

    /// Hand what is buffered to the writer (never waits).
    pub fn flush(&self) {
        self.ship(&self.errs, &self.err_lines, ERR, Vec::new);
        let next = || Vec::with_capacity(SHIP_AT + MAX_LINE * 2);
        self.ship(&self.buf, &self.lines, INFO, next);
    }

    /// Send what `buf` holds (`lines` lines) as one batch of `severity`, leaving a
    /// `next()` buffer in its place; count its lines as dropped if the writer is behind.
    fn ship(
        &self,
        buf: &RefCell<Vec<u8>>,
        lines: &Cell<u64>,
        severity: u8,
        next: impl FnOnce() -> Vec<u8>,
    ) {
        if buf.borrow().is_empty() {
            return;
        }
        let out = std::mem::replace(&mut *buf.borrow_mut(), next());
        let n = lines.replace(0);
        let batch = Batch {
            severity,
            lines: out,
        };
        let sent = match &*self.tx.borrow() {
            Some(tx) => tx.try_send(batch),
            None => Err(TrySendError::Disconnected(batch)),
        };
        if sent.is_err() {
            self.dropped.set(self.dropped.get() + n);
        }
    }

    /// The worker is done: hand the rest over and let the writer finish.
    pub fn close(&self) {
        self.flush();
        self.tx.borrow_mut().take();
    }
}

/// What a session learns about one request (HTTP) or connection (TCP) as it goes, by
/// slot; names are looked up only when the line is written.
#[derive(Debug, Clone, Copy)]
pub struct Record {
    pub peer: SocketAddr,
    pub frontend: usize,
    pub backend: Option<usize>,
    pub server: Option<usize>,
    pub status: Option<u16>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Only read when logging (`None` otherwise: no clock read per request).
    pub started: Option<Instant>,
    pub tls: Option<(&'static str, &'static str)>,
    /// The rule that decided, in the frontend's rule numbering.
    pub rule: Option<usize>,
    /// Timers, read only when logging: the request head was in after `t_request`,
    /// the server connection took `t_connect` (queue included), its response head
    /// came `t_response` after the request went out.
    pub t_request: Option<Duration>,
    pub t_connect: Option<Duration>,
    pub t_response: Option<Duration>,
    /// Sends again on a fresh connection (HTTP) after a failed one.
    pub retries: u32,
    /// The line was written early (`log_asap`); the end writes none.
    pub asap: bool,
    /// HAProxy's termination state: why the session ended (`C`lient, `S`erver,
    /// `c`/`s` timeouts, `P`roxy, `L`ocal, `R`esource, `-` normally) and in which phase
    /// (`R`equest, `Q`ueue, `C`onnect, `H`eaders, `D`ata, `T`arpit, `-`).
    pub term: [u8; 2],
}

impl Record {
    pub fn new(
        peer: SocketAddr,
        frontend: usize,
        tls: Option<(&'static str, &'static str)>,
        logging: bool,
    ) -> Record {
        Record {
            peer,
            frontend,
            backend: None,
            server: None,
            status: None,
            bytes_in: 0,
            bytes_out: 0,
            started: logging.then(Instant::now),
            tls,
            rule: None,
            t_request: None,
            t_connect: None,
            t_response: None,
            retries: 0,
            asap: false,
            term: *b"--",
        }
    }

    /// Whether the session's timers are read (logging is on).
    pub fn timed(&self) -> bool {
        self.started.is_some()
    }

    /// Set the termination state from the error that ended the session (it says
    /// more than the refusal sent for it, if any).
    pub fn ended_by(&mut self, e: &super::error::SessionError) {
        self.term = termination(e, self.status.is_some());
    }
}

/// Whether `r` failed, as HAProxy's `option log-separate-errors` judges: a termination
/// state other than normal or local (`L`), a retry, or a 5xx status.
pub fn is_error(r: &Record) -> bool {
    !matches!(r.term[0], b'-' | b'L') || r.retries > 0 || r.status.is_some_and(|s| s >= 500)
}

/// HAProxy's two termination flags for an error; `answered`: the response head was
/// sent (the data phase had begun).
pub fn termination(e: &super::error::SessionError, answered: bool) -> [u8; 2] {
    use super::error::{SessionError as E, Side};
    let phase = if answered { b'D' } else { b'H' };
    match e {
        E::NoServer(_) | E::Connect { .. } => *b"SC",
        E::ConnectTimeout { .. } => *b"sC",
        E::Queue { .. } => *b"sQ",
        E::Local(_) => *b"RC",
        E::Io(Side::Client, _) => [b'C', phase],
        E::Io(Side::Server, _) => [b'S', phase],
        E::Timeout(Side::Client) => [b'c', phase],
        E::Timeout(Side::Server) => [b's', phase],
    }
}

/// Flags for a response ringlb made itself with `status` (`invalid`: the client's
/// request was at fault).
pub fn refusal(status: u16, invalid: bool) -> [u8; 2] {
    match (status, invalid) {
        (408, _) => *b"cR",
        (_, true) => *b"PR",
        (503, _) => *b"SC",
        (504, _) => *b"sH",
        (502, _) => *b"SH",
        _ => *b"PR",
    }
}

/// The first line of a request head (without its CRLF) for the log, into `line`.
pub fn request_line(head: &[u8], line: &mut Vec<u8>) {
    line.clear();
    let end = head
        .iter()
        .position(|&c| c == b'\r' || c == b'\n')
        .unwrap_or(head.len())
        .min(MAX_LINE + 1);
    line.extend_from_slice(&head[..end]);
}

/// The request line as a log field: cut at `MAX_LINE`, quotes and control bytes
/// (which would break the line's shape) replaced; `TCP` for a TCP connection.
pub(super) fn write_request(b: &mut Vec<u8>, request: &[u8]) {
    if request.is_empty() {
        b.extend_from_slice(b"TCP");
        return;
    }
    let cut = request.len().min(MAX_LINE);
    b.extend(request[..cut].iter().map(|&c| {
        if c == b'"' || c < 0x20 || c == 0x7f {
            b'?'
        } else {
            c
        }
    }));
    if cut < request.len() {
        b.extend_from_slice(b"...");
    }
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) of a Unix time.
fn date_time(unix: u64) -> [u8; 19] {
    let c = Civil::from_unix(unix);
    let mut out = [0u8; 19];
    let mut w = &mut out[..];
    let _ = write!(
        w,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
    out
}

/// The time of day as Unix time.
fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
