//! HTTP/2 to servers with `proto = "h2"`: each worker keeps a few connections per
//! server ([`ServerConns`], held by its pool) and multiplexes requests over them as
//! streams. A request's session gets a [`ServerStream::Pipe`]: it writes the HTTP/1.1
//! request into it and reads an HTTP/1.1 response back, exactly as on a socket, so
//! retries, balancing, limits, statistics and the access log work unchanged; a task
//! per stream (`forward.rs`) translates. The `h2` crate's client half runs over the
//! server connection in readiness mode (`io.rs`; over TLS, rustls driven directly,
//! `crate::tls::TlsPoll`), on this worker's runtime (no Send, no locks): one driver task per
//! connection.
//!
//! A connection is opened with the server's connect settings (`timeout_connect`,
//! `send_proxy`, TLS): over TLS the server must select `h2` by ALPN, or the connect
//! fails (a server-side error, counted like a refused connect). Another connection is
//! opened when every one is at the server's `SETTINGS_MAX_CONCURRENT_STREAMS`, up to
//! [`MAX_CONNS`]; past that, streams wait in the library for a free slot.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ::h2::client::SendRequest;
use bytes::Bytes;

use super::super::backend::Outcome;
use super::super::error::SessionError;
use super::super::lease::ServerLease;
use super::super::preamble::Origin;
use super::super::state::Worker;
use super::super::upstream::connect_to;
use super::forward;
use super::io::H2Io;
use crate::tls::pipe::pipe;
use crate::tls::ServerStream;

/// Connections per server and worker, at most.
pub const MAX_CONNS: usize = 8;
/// Bytes held in a stream's pipe each way, at most.
const PIPE_CAP: usize = 64 * 1024;
/// Flow-control windows ringlb grants a server: per stream, and per connection.
const STREAM_WINDOW: u32 = 256 * 1024;
const CONN_WINDOW: u32 = 1024 * 1024;
/// Request bytes buffered per stream inside the library, at most.
const SEND_BUFFER: usize = 64 * 1024;

/// One HTTP/2 connection to a server.
pub struct ServerConn {
    send: RefCell<SendRequest<Bytes>>,
    /// Streams open on it now.
    streams: Cell<usize>,
    /// The connection ended (or is ending: GOAWAY): no new stream goes on it.
    closed: Cell<bool>,
    /// A response came on it (a failure before that says the server does not speak
    /// HTTP/2 here, most likely).
    answered: Cell<bool>,
    tls: bool,
}

impl ServerConn {
    /// Whether a new stream can start on it now without waiting.
    fn has_room(&self) -> bool {
        if self.closed.get() {
            return false;
        }
        let mut send = self.send.borrow_mut();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match send.poll_ready(&mut cx) {
            std::task::Poll::Ready(Ok(())) => self.streams.get() < send.current_max_send_streams(),
            std::task::Poll::Ready(Err(_)) => {
                self.closed.set(true);
                false
            }
            std::task::Poll::Pending => false,
        }
    }

    /// A handle to open one stream with.
    pub(super) fn sender(&self) -> SendRequest<Bytes> {
        self.send.borrow().clone()
    }

    pub(super) fn answered(&self) {
        self.answered.set(true);
    }
}

/// Counts a stream on its connection while it lives.
pub(super) struct StreamSlot(pub Rc<ServerConn>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.streams.set(self.0.streams.get() - 1);
    }
}

/// One server's connections.
type Conns = Vec<Rc<ServerConn>>;

/// This worker's HTTP/2 connections, per backend and server.
#[derive(Default)]
pub struct ServerConns {
    conns: RefCell<HashMap<(usize, usize), Conns>>,
    /// Connections being opened, per server (they count towards [`MAX_CONNS`]).
    opening: Rc<RefCell<HashMap<(usize, usize), usize>>>,
}

/// Counts a connection being opened while it lives.
struct Opening {
    opening: Rc<RefCell<HashMap<(usize, usize), usize>>>,
    key: (usize, usize),
}

impl Drop for Opening {
    fn drop(&mut self) {
        if let Some(n) = self.opening.borrow_mut().get_mut(&self.key) {
            *n -= 1;
        }
    }
}

impl ServerConns {
    /// A connection to the server a new stream can go on: the first with room; when
    /// none has room and no more may be opened, the least busy. `None`: open one.
    fn pick(&self, backend: usize, server: usize) -> Option<Rc<ServerConn>> {
        let key = (backend, server);
        let mut conns = self.conns.borrow_mut();
        let list = conns.entry(key).or_default();
        list.retain(|c| !c.closed.get());
        if let Some(c) = list.iter().find(|c| c.has_room()) {
            return Some(Rc::clone(c));
        }
        let opening = self.opening.borrow().get(&key).copied().unwrap_or(0);
        if list.len() + opening < MAX_CONNS {
            return None;
        }
        list.iter().min_by_key(|c| c.streams.get()).cloned()
    }

    /// A connection to the server is being opened (while the guard lives).
    fn opening(&self, backend: usize, server: usize) -> Opening {
        let key = (backend, server);
        *self.opening.borrow_mut().entry(key).or_default() += 1;
        Opening {
            opening: Rc::clone(&self.opening),
            key,
        }
    }

    fn add(&self, backend: usize, server: usize, conn: Rc<ServerConn>) {
        self.conns
            .borrow_mut()
            .entry((backend, server))
            .or_default()
            .push(conn);
    }

    /// Forget the connections to one server (its address changed, it went down, a
    /// reload): each closes once its last stream ends.
    pub fn clear(&self, backend: usize, server: usize) {
        self.conns.borrow_mut().remove(&(backend, server));
    }
}

/// What a stream needs to know besides its connection.
#[derive(Debug, Clone, Copy)]
pub struct StreamOpts {
    /// The client takes trailers (`TE: trailers`).
    pub trailers: bool,
    /// How long a shut window may stall the request body (`timeout_server`).
    pub timeout: Duration,
}

/// Open a stream to the leased server: on one of this worker's connections to it,
/// or a new one. Returns the session's end of the stream, and `false`: a stream that
/// ends with nothing is never the "server closed an idle connection" race a reused
/// HTTP/1.1 connection may lose (a GOAWAY closes the connection to new streams), so
/// sending again counts against `retries` (counted as a reuse in the statistics).
pub async fn open_stream(
    worker: &Rc<Worker>,
    lease: &ServerLease,
    addr: SocketAddr,
    timeout: Duration,
    peer: SocketAddr,
    origin: Option<&Origin>,
    opts: StreamOpts,
) -> Result<(ServerStream, bool), SessionError> {
    let (backend, server) = (lease.backend, lease.server);
    let conn = match worker.h2_conns().pick(backend, server) {
        Some(c) => {
            worker.count_reused(backend, server);
            c
        }
        None => {
            let _opening = worker.h2_conns().opening(backend, server);
            // Boxed: the rare path (a stream on an open connection keeps the
            // request's future small).
            Box::pin(connect(worker, lease, addr, timeout, peer, origin)).await?
        }
    };
    let (end, their_end) = pipe(PIPE_CAP, false);
    conn.streams.set(conn.streams.get() + 1);
    let authority = worker.with_backend_config(backend, |b| {
        b.servers.get(server).map(|s| s.address_text.clone())
    });
    let scheme = if conn.tls { "https" } else { "http" };
    let task = forward::Task {
        slot: StreamSlot(conn),
        peer: their_end,
        scheme,
        authority: authority.unwrap_or_else(|| addr.to_string()),
        opts,
    };
    monoio::spawn(task.run());
    Ok((ServerStream::Pipe(end), false))
}

/// A new connection: TCP (and TLS, `send_proxy`) as for HTTP/1.1, ALPN `h2` checked,
/// the HTTP/2 handshake, all within `timeout`; its driver runs in its own task.
async fn connect(
    worker: &Rc<Worker>,
    lease: &ServerLease,
    addr: SocketAddr,
    timeout: Duration,
    peer: SocketAddr,
    origin: Option<&Origin>,
) -> Result<Rc<ServerConn>, SessionError> {
    let (backend, server) = (lease.backend, lease.server);
    let started = Instant::now();
    let stream = connect_to(worker, lease, addr, timeout, peer, origin).await?;
    let tls = worker.server_tls(backend, server).is_some();
    let refuse = |why: String| {
        worker.record(backend, server, Outcome::ConnectFailed);
        let server = lease.server_name();
        tracing::warn!(worker = worker.id(), %server, "HTTP/2 connect: {why}");
        let source = std::io::Error::other(why);
        SessionError::Connect { server, source }
    };
    if tls && stream.alpn().as_deref() != Some(b"h2") {
        let got = match stream.alpn() {
            Some(p) => format!("{:?}", String::from_utf8_lossy(&p)),
            None => "no protocol".to_string(),
        };
        return Err(refuse(format!(
            "the server selected {got} by ALPN, not \"h2\" (proto = \"h2\")"
        )));
    }
    let handshake = builder().handshake::<_, Bytes>(H2Io::server(stream));
    let left = timeout.saturating_sub(started.elapsed());
    let (send, connection) = match monoio::time::timeout(left, handshake).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return Err(refuse(format!("handshake failed: {e}"))),
        Err(_) => return Err(refuse("handshake timed out".to_string())),
    };
    let conn = Rc::new(ServerConn {
        send: RefCell::new(send),
        streams: Cell::new(0),
        closed: Cell::new(false),
        answered: Cell::new(false),
        tls,
    });
    worker.h2_conns().add(backend, server, Rc::clone(&conn));
    let name = lease.server_name();
    // Weak: once the pool and every stream let go of the connection, the library
    // closes it, and this task ends.
    let watched = Rc::downgrade(&conn);
    let id = worker.id();
    monoio::spawn(async move {
        let ended = connection.await;
        let answered = watched.upgrade().is_none_or(|c| {
            c.closed.set(true);
            c.answered.get()
        });
        match ended {
            Err(e) if !answered => tracing::warn!(
                worker = id,
                server = %name,
                "HTTP/2 connection failed before any response (does the server speak HTTP/2 there? proto = \"h2\"): {e}"
            ),
            Err(e) => tracing::debug!(worker = id, server = %name, "HTTP/2 connection ended: {e}"),
            Ok(()) => {}
        }
    });
    Ok(conn)
}

/// The library's client settings.
fn builder() -> ::h2::client::Builder {
    let mut b = ::h2::client::Builder::new();
    b.enable_push(false)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONN_WINDOW)
        .max_send_buffer_size(SEND_BUFFER);
    b
}
