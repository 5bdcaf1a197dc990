//! HTTP/2 (RFC 9113). With clients: ALPN `h2` on TLS frontends, prior knowledge on
//! cleartext ones (`h2c = "prior-knowledge"`). ringlb's own connection
//! (`crate::http::h2::conn`: framing, HPACK, flow control, limits) is driven here over
//! the socket in readiness mode; each stream is checked and translated to HTTP/1.1
//! (`crate::http::h2`) and served by the HTTP/1.1 session code, so it goes through the
//! same routing, rules, balancing, retries, queue, limits, access log and statistics.
//! With servers (`proto = "h2"`): the session's request goes through a pipe too, and
//! a task per stream speaks HTTP/2 to the server on a shared connection
//! (`upstream.rs`), through the `h2` crate's client.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | one client connection: its limits, idle and handshake timeouts, GOAWAY when stopping or past the reset budget |
//! | `drive.rs` | the connection's bytes: read, taken frame by frame, each new request admitted and given a task; the connection's frames written |
//! | `link.rs` | a stream as its task sees it: body and window, HEADERS, DATA within the client's windows, reset |
//! | `stream.rs` | one stream: checked, translated, fed to the session through a pipe; the response sent back as HEADERS and DATA |
//! | `body.rs` | the response body read from the pipe sent back as DATA (length-delimited, chunked with trailers, until close) |
//! | `head.rs` | the response head read back from the pipe as an HTTP/2 response (interim ones sent on) |
//! | `send.rs` | servers: DATA sent within the server's window |
//! | `io.rs` | the byte stream under a connection: plain TCP in readiness mode (no adapter buffers; nothing in flight while idle), TLS through `crate::tls::TlsPoll` |
//! | `upstream.rs` | servers with `proto = "h2"`: this worker's connections to them, opening one, a stream handed to the session as a pipe |
//! | `forward.rs` | one request on a server stream: HTTP/1.1 from the pipe as HEADERS, DATA and trailers; the response back as HTTP/1.1 |

mod body;
mod drive;
mod forward;
mod head;
mod io;
mod link;
mod send;
mod stream;
mod upstream;

pub use upstream::{open_stream, ServerConns, StreamOpts};

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use self::drive::Driver;
use super::access::{refusal, Record};
use super::error::SessionError;
use super::local::Flag;
use super::preamble::Origin;
use super::rules::RuleConn;
use super::state::Worker;
use crate::config::H2Settings;
use crate::http::h2::conn::{Conn, Limits, Reason};
use crate::http::h2::{Pseudo, ResetBudget};
use crate::msg::stats::count_status;
use crate::tls::ClientStream;

/// The window of `h2_max_client_resets`.
const RESET_WINDOW: Duration = Duration::from_secs(10);
/// How long a closing connection may take to flush its last frames.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What every stream of one connection shares (one worker, one task at a time).
pub(super) struct Shared {
    pub worker: Rc<Worker>,
    pub fe: usize,
    pub peer: SocketAddr,
    pub tls: Option<(&'static str, &'static str)>,
    pub rc: RuleConn,
    pub origin: Option<Origin>,
    /// When the last stream ended (the idle timeout counts from there).
    pub last_end: Cell<Instant>,
    /// Streams accepted so far (the first never goes on a reused server connection).
    pub accepted: Cell<u64>,
    budget: RefCell<ResetBudget>,
    /// Raised when the client spent its reset budget: GOAWAY (ENHANCE_YOUR_CALM).
    calm: Flag,
    /// The connection's state: frames, streams, windows (its task and the streams'
    /// take turns on it; no borrow is held across an await).
    pub conn: RefCell<Conn>,
}

impl Shared {
    /// The client reset an accepted stream.
    pub fn client_reset(&self) {
        if !self.budget.borrow_mut().on_reset(Instant::now()) {
            self.calm.raise();
        }
    }

    /// A malformed request was refused (reset with PROTOCOL_ERROR) before routing:
    /// counted and logged as HTTP/1.1 counts and logs the 400 it answers one with,
    /// its request line made of the pseudo-header fields (`-` for a missing one).
    pub fn refused(&self, pseudo: &Pseudo<'_>, fields: &[(&[u8], &[u8])]) {
        let w = &self.worker;
        w.with_frontend_stats(self.fe, |s| {
            s.requests += 1;
            s.invalid_requests += 1;
            count_status(&mut s.responses, 400);
        });
        if !w.logging() {
            return;
        }
        let mut rec = Record::new(self.peer, self.fe, self.tls, true);
        rec.status = Some(400);
        rec.term = refusal(400, true);
        // The header list's size as RFC 9113 §6.5.2 counts it (HPACK-decoded).
        rec.bytes_in = fields
            .iter()
            .map(|(n, v)| n.len() + v.len() + 32)
            .sum::<usize>() as u64;
        let mut line = Vec::with_capacity(64);
        let method = match pseudo.method {
            [] => b"-".as_slice(),
            m => m,
        };
        line.extend_from_slice(method);
        line.push(b' ');
        line.extend_from_slice(pseudo.path.unwrap_or(b"-"));
        line.extend_from_slice(b" HTTP/2.0");
        w.log_access(&rec, &line);
    }
}

/// Serve one HTTP/2 client connection of frontend `fe` until it closes.
pub async fn serve_h2(
    worker: Rc<Worker>,
    fe: usize,
    client: ClientStream,
    peer: SocketAddr,
    tls: Option<(&'static str, &'static str)>,
    rc: RuleConn,
    origin: Option<Origin>,
) -> Result<(), SessionError> {
    let frontend = worker.frontend(fe);
    let settings = frontend.h2;
    let shared = Rc::new(Shared {
        worker: Rc::clone(&worker),
        fe,
        peer,
        tls,
        rc,
        origin,
        last_end: Cell::new(Instant::now()),
        accepted: Cell::new(0),
        budget: RefCell::new(ResetBudget::new(settings.max_client_resets, RESET_WINDOW)),
        calm: Flag::default(),
        conn: RefCell::new(Conn::new(limits(&settings))),
    });
    let mut driver = Driver::new(Rc::clone(&shared), io::H2Io::client(client));
    let mut going_away = false;
    // One timer for the connection's whole life. It only fires to look: before the
    // client's preface and SETTINGS, for timeout_http_request: closed; idle (no stream
    // being served) for timeout_http_keep_alive: GOAWAY; after a GOAWAY, idle for
    // CLOSE_GRACE: closed (a client that keeps the connection must not hold it).
    // Otherwise it is set again for when that would be (streams end in their own
    // tasks, and say when in `last_end`). (Boxed: 640 bytes, 128-byte aligned.)
    let started = Instant::now();
    let first_look = frontend
        .timeout_http_request
        .min(frontend.timeout_http_keep_alive);
    let mut idle = Box::pin(monoio::time::sleep(first_look));
    let mut stopping = pin!(worker.until_stopping());
    let mut calm = pin!(shared.calm.wait());
    let end = loop {
        let end = monoio::select! {
            end = poll_fn(|cx| driver.poll(cx)) => end,
            _ = &mut idle => {
                if !shared.conn.borrow().handshaken() {
                    let limit = started.checked_add(frontend.timeout_http_request);
                    if let Some(later) = limit.filter(|&l| l > Instant::now()) {
                        idle.as_mut().reset(monoio::time::Instant::from_std(later));
                        continue;
                    }
                    tracing::debug!(worker = worker.id(), %peer, "HTTP/2 handshake timed out");
                    driver.give_back();
                    return Err(SessionError::Timeout(super::error::Side::Client));
                }
                let keep_alive = frontend.timeout_http_keep_alive;
                let Some(next) = idle_look(&shared, keep_alive, &mut going_away) else {
                    break drive::End::Done;
                };
                idle.as_mut().reset(monoio::time::Instant::from_std(next));
                continue;
            }
            _ = &mut stopping, if !going_away => {
                // Gracefully (§6.8): the final GOAWAY a round trip later.
                shared.conn.borrow_mut().go_away_soon();
                let next = went_away(&shared, &mut going_away, Instant::now());
                idle.as_mut().reset(monoio::time::Instant::from_std(next));
                continue;
            }
            _ = &mut calm => {
                tracing::debug!(worker = worker.id(), %peer, "HTTP/2 client reset too many streams");
                shared.conn.borrow_mut().abort(Reason::ENHANCE_YOUR_CALM);
                drive::End::Failed
            }
        };
        break end;
    };
    if end != drive::End::Closed {
        // Flush the last frames (GOAWAY, resets) and close the write side (TLS:
        // close_notify), briefly.
        driver.closing = true;
        let flushed = async {
            poll_fn(|cx| driver.poll(cx)).await;
            poll_fn(|cx| driver.poll_shutdown(cx)).await;
        };
        let _ = Box::pin(monoio::time::timeout(CLOSE_GRACE, flushed)).await;
    }
    if let Some(r) = shared.conn.borrow().failed() {
        tracing::debug!(worker = worker.id(), %peer, "HTTP/2 connection error {r}");
    }
    // Streams still being served end with the connection.
    shared.conn.borrow_mut().abort(Reason::CANCEL);
    driver.give_back();
    Ok(())
}

/// The connection's timer fired: when to look again, or `None` to close. Idle (no
/// stream being served) for `keep_alive`: GOAWAY; after a GOAWAY, idle for
/// CLOSE_GRACE: closed.
fn idle_look(shared: &Shared, keep_alive: Duration, going_away: &mut bool) -> Option<Instant> {
    let limit = match *going_away {
        false => keep_alive,
        true => CLOSE_GRACE,
    };
    let now = Instant::now();
    let active = shared.conn.borrow().active();
    let idle_since = match active {
        0 => shared.last_end.get(),
        _ => now,
    };
    // (A limit too far to add is as good as none: monoio's own `sleep`.)
    let far = || now + Duration::from_secs(86_400 * 365 * 30);
    let next = idle_since.checked_add(limit).unwrap_or_else(far);
    if next > now {
        return Some(next);
    }
    if *going_away {
        // (After a graceful shutdown's first GOAWAY whose PING the client did not
        // answer, the final one; otherwise nothing more.)
        shared.conn.borrow_mut().go_away(Reason::NO_ERROR);
        return None;
    }
    // Idle: one GOAWAY, with the last stream (a client that opens one now retries it).
    shared.conn.borrow_mut().go_away(Reason::NO_ERROR);
    Some(went_away(shared, going_away, now))
}

/// A GOAWAY sent (streams in flight finish): the connection closes once idle for
/// CLOSE_GRACE from `now`, which is returned.
fn went_away(shared: &Shared, going_away: &mut bool, now: Instant) -> Instant {
    *going_away = true;
    shared.last_end.set(now);
    now + CLOSE_GRACE
}

/// The connection's limits from the frontend's `h2_*` keys.
fn limits(s: &H2Settings) -> Limits {
    Limits {
        max_concurrent_streams: s.max_concurrent_streams,
        max_header_list_size: s.max_header_list_size,
        header_table_size: s.header_table_size,
        initial_window_size: s.initial_window_size,
        connection_window_size: s.connection_window_size,
        max_frame_size: s.max_frame_size,
    }
}
