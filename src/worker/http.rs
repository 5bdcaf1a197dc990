//! An HTTP-mode session: requests one after another on a client connection
//! (keep-alive, pipelining answered in order), each parsed strictly and routed: a
//! redirect or a refusal is answered here (`http_answers.rs`), a request for a
//! backend goes through an [`Exchange`]. Upgrades (101) become a byte tunnel.

use std::net::SocketAddr;
use std::rc::Rc;

use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};

use super::access::{request_line, Record};
use super::error::{SessionError, Side};
use super::exchange::{Exchange, Next};
use super::http_heads::{read_request, wait_next_request, Parsed};
use super::preamble::Origin;
use super::relay::relay;
use super::route::Action;
use super::rules::{self, RuleConn};
use super::rules_backend;
use super::session::tunnel_timeouts;
use super::state::Worker;
use super::timer::Kept;
use crate::config::Frontend;
use crate::http::h2::Translated;
use crate::http::BodyFraming;
use crate::tls::{ClientStream, ServerStream};
use answers::has_response_rules;

#[path = "http_answers.rs"]
mod answers;

/// Serve one client connection in HTTP mode until it closes or must be closed.
pub async fn serve_http(
    worker: Rc<Worker>,
    fe: usize,
    client: ClientStream,
    peer: SocketAddr,
    tls: Option<(&'static str, &'static str)>,
    rc: RuleConn,
    origin: Option<Origin>,
) -> Result<(), SessionError> {
    let mut conn = Conn::new(worker, fe, client, peer, tls);
    conn.rc = rc;
    conn.origin = origin;
    let last = loop {
        match conn.serve_request().await {
            Ok(Turn::Again) => {}
            other => break other,
        }
    };
    match last {
        Ok(Turn::Upgraded {
            server,
            frontend,
            backend,
        }) => Box::pin(conn.tunnel(server, &frontend, backend)).await,
        other => {
            let half_close = conn.half_close_first();
            // Whatever ended the connection, its buffers go back to the pool (and
            // count toward trimming the heap when the pool cannot keep them).
            conn.give_buffers();
            if matches!(other, Ok(Turn::Close)) && half_close {
                // A normal end (`connection: close`, HTTP/1.0, a body ended by the
                // server closing, the keep-alive timeout, stopping): over TLS the
                // client is told with a close_notify (bounded, see `ClientStream`).
                // Not after a failure, which must not look like a clean end.
                let _ = conn.client.shutdown().await;
            }
            other.map(|_| ())
        }
    }
}

/// What an HTTP/2 stream brings to [`serve_stream`].
pub struct StreamStart {
    pub rc: RuleConn,
    pub origin: Option<Origin>,
    /// The request head, translated to HTTP/1.1 (the body follows on the pipe), in a
    /// buffer of the worker's pool: the session keeps it as its client buffer.
    pub head: Vec<u8>,
    /// Where `head`'s lines are and what was checked of it: the request is taken
    /// from these, not parsed again.
    pub translated: Translated,
    /// The connection's first stream: never sent on a reused server connection.
    pub first: bool,
}

/// Serve one HTTP/2 stream as a connection carrying one HTTP/1.1 request: `client`
/// is the stream's pipe, which carries the request body in and the response out.
pub async fn serve_stream(
    worker: Rc<Worker>,
    fe: usize,
    client: ClientStream,
    peer: SocketAddr,
    tls: Option<(&'static str, &'static str)>,
    start: StreamStart,
) -> Result<(), SessionError> {
    let mut conn = Conn::new(worker, fe, client, peer, tls);
    conn.rc = start.rc;
    conn.origin = start.origin;
    conn.first = start.first;
    conn.h2 = true;
    conn.translated = Some(start.translated);
    let pooled = std::mem::replace(&mut conn.cbuf, start.head);
    conn.worker.give_buffer(pooled);
    let last = conn.serve_request().await;
    conn.give_buffers();
    // (No upgrade: the translation refuses the fields that ask for one.)
    last.map(|_| ())
}

/// One client connection in HTTP mode, and what its requests reuse.
pub struct Conn {
    pub(super) worker: Rc<Worker>,
    /// The frontend's slot.
    pub(super) fe: usize,
    pub(super) client: ClientStream,
    peer: SocketAddr,
    tls: Option<(&'static str, &'static str)>,
    /// Read from the client and not used yet (the next request, a body).
    pub(super) cbuf: Vec<u8>,
    /// Read from the server and not used yet.
    pub(super) sbuf: Vec<u8>,
    /// A head written for the other side.
    pub(super) head: Vec<u8>,
    /// The request line for the access log, reused from request to request.
    line: Vec<u8>,
    /// The request head as received, kept for response rules' conditions (only when
    /// the frontend has response rules), reused from request to request.
    req_copy: Vec<u8>,
    /// The access log record of the request being served.
    pub(super) rec: Record,
    /// No request was served yet: the next one is the client connection's first,
    /// which the backend's `http_reuse` may keep off reused server connections.
    pub(super) first: bool,
    logging: bool,
    /// What request rules need of the connection.
    pub(super) rc: RuleConn,
    /// Who the client is, for servers with `send_proxy` (see `Frontend::keeps_origin`).
    pub(super) origin: Option<Origin>,
    /// The idle connection (backend, server, stream) to a server with `send_proxy`:
    /// its header named this client, so only this client's next request may use it.
    pub(super) private: Option<(usize, usize, ServerStream)>,
    /// An HTTP/2 stream (the access log says `HTTP/2.0`).
    h2: bool,
    /// An HTTP/2 stream's request head, as its driver wrote it (taken by the first
    /// read).
    translated: Option<Translated>,
    /// The last request asked for the connection's end (`connection: close`, HTTP/1.0
    /// without keep-alive) and had no body: the client sends nothing more.
    said_close: bool,
    /// Counts `timeout_server` while a response head is awaited, kept from request
    /// to request (`timer::Kept`).
    pub(super) head_timer: Kept,
}

/// What comes after a request.
enum Turn {
    /// The next request on the same connection.
    Again,
    Close,
    /// The exchange failed (say, the server's response was cut short): the
    /// connection is dropped without a clean close.
    Abort,
    /// The server switched protocols: relay bytes both ways from now on.
    Upgraded {
        server: ServerStream,
        frontend: Rc<Frontend>,
        backend: usize,
    },
}

impl Conn {
    fn new(
        worker: Rc<Worker>,
        fe: usize,
        client: ClientStream,
        peer: SocketAddr,
        tls: Option<(&'static str, &'static str)>,
    ) -> Conn {
        let cbuf = worker.take_buffer();
        let sbuf = worker.take_buffer();
        let head = worker.take_head();
        let logging = worker.logging();
        Conn {
            worker,
            fe,
            client,
            peer,
            tls,
            cbuf,
            sbuf,
            head,
            line: Vec::new(),
            req_copy: Vec::new(),
            // Replaced at each request (without a clock read until then).
            rec: Record::new(peer, fe, tls, false),
            first: true,
            logging,
            rc: RuleConn::default(),
            origin: None,
            private: None,
            h2: false,
            translated: None,
            said_close: false,
            head_timer: Kept::default(),
        }
    }

    /// Whether a normal end half-closes before the close. Over TLS, always: the
    /// close_notify must go first. Over plain TCP, `close()` alone sends the same FIN
    /// after the response, unless input is left unread: the kernel then resets the
    /// connection instead, and a half-close first lets the client see the FIN (the
    /// response's end) before that reset. (Neither drains what the client still
    /// sends; only a refusal lingers, see `http_heads::reject`.) So the half-close
    /// (one syscall per connection) is left out only when the client asked for the
    /// end with a bodyless request and sent nothing past it that was read: it sends
    /// no further request (RFC 9112 §9.6), so nothing is left unread.
    fn half_close_first(&self) -> bool {
        let plain = matches!(self.client, ClientStream::Plain(_));
        !(plain && self.said_close && self.cbuf.is_empty())
    }

    /// Wait for, read and answer one request.
    async fn serve_request(&mut self) -> Result<Turn, SessionError> {
        // Per request: a reload may have changed the frontend.
        let frontend = self.worker.frontend(self.fe);
        if self.cbuf.is_empty()
            && !self.first
            && !wait_next_request(
                &self.worker,
                &frontend,
                &mut self.client,
                &mut self.cbuf,
                &mut self.sbuf,
                &mut self.head,
            )
            .await
        {
            return Ok(Turn::Close);
        }
        self.rec = Record::new(self.peer, self.fe, self.tls, self.logging);
        let Some(req) = self.read_request(&frontend).await else {
            return Ok(Turn::Close);
        };
        let mut failed = false;
        let keep_client = match req.action {
            Action::Redirect(i) => self.redirect(&frontend.redirects[i], &req).await,
            Action::NoBackend => {
                self.refuse(503, false).await;
                false
            }
            Action::Answer(a) => self.answer(a).await,
            Action::Backend(backend) => {
                match Exchange::new(self, &frontend, backend, req).run().await {
                    Ok(Next::KeepGoing) => req.keep_alive,
                    Ok(Next::Close) => false,
                    Ok(Next::Upgraded(server)) => {
                        return Ok(Turn::Upgraded {
                            server,
                            frontend,
                            backend,
                        })
                    }
                    Err(e) => {
                        self.rec.ended_by(&e);
                        let peer = self.peer;
                        tracing::debug!(worker = self.worker.id(), %peer, "request failed: {e}");
                        failed = true;
                        false
                    }
                }
            }
        };
        self.first = false;
        self.said_close = !req.keep_alive && req.framing == BodyFraming::Length(0);
        self.rec.rule = req.rule;
        if self.rec.status.is_some_and(|s| s >= 400) {
            rules::count_error(&self.worker, &req.tracked);
        }
        if self.logging && !self.rec.asap {
            self.worker.log_access(&self.rec, &self.line);
        }
        if failed {
            return Ok(Turn::Abort);
        }
        // The response said `connection: close` (as it does once the worker stops):
        // the connection ends. One that did not (the worker began stopping while it
        // was on its way) ends at once on a shutdown; after a binary upgrade's release
        // it waits for the next request, answered with `connection: close`: closing
        // under a client that may be sending would lose that request.
        if !keep_client || self.worker.is_closing_idle() {
            return Ok(Turn::Close);
        }
        Ok(Turn::Again)
    }

    /// With `log_asap`: the request's access line, now that its response head goes
    /// out (`rule`: the rule that decided); the end writes none.
    pub(super) fn log_early(&mut self, frontend: &Frontend, rule: Option<usize>) {
        if self.logging && frontend.log_asap {
            self.rec.rule = rule;
            self.rec.asap = true;
            self.worker.log_access(&self.rec, &self.line);
        }
    }

    fn give_buffers(&mut self) {
        self.worker.give_buffer(std::mem::take(&mut self.cbuf));
        self.worker.give_buffer(std::mem::take(&mut self.sbuf));
        self.worker.give_head(std::mem::take(&mut self.head));
    }

    /// Read, parse and route a request head, and take it out of `cbuf`. `None`: the
    /// connection ends (the client closed or stayed silent, or the request was refused).
    async fn read_request(&mut self, frontend: &Frontend) -> Option<Parsed> {
        let got = read_request(
            &self.worker,
            frontend,
            &mut self.client,
            &mut self.cbuf,
            &mut self.head,
            self.peer,
            (self.fe, &self.rc, self.tls.map(|t| t.0)),
            self.translated.as_ref(),
        )
        .await;
        // (An HTTP/2 stream carries one request.)
        self.translated = None;
        let parsed = match got {
            Ok(Some(p)) => p,
            Ok(None) => return None,
            Err(status) => {
                // A refused request is a request: the totals add up with the statuses.
                self.worker
                    .with_frontend_stats(self.fe, |s| s.requests += 1);
                self.refuse(status, true).await;
                if self.logging {
                    request_line(&self.cbuf, &mut self.line);
                    self.mark_h2();
                    self.rec.bytes_in = self.cbuf.len() as u64;
                    self.worker.log_access(&self.rec, &self.line);
                }
                return None;
            }
        };
        self.worker
            .with_frontend_stats(self.fe, |s| s.requests += 1);
        let backend_rules = match parsed.action {
            Action::Backend(b) => rules_backend::has_response_rules(&self.worker, b),
            _ => false,
        };
        if has_response_rules(frontend) || backend_rules {
            self.req_copy.clear();
            self.req_copy
                .extend_from_slice(&self.cbuf[..parsed.head_len]);
        }
        if self.logging {
            request_line(&self.cbuf[..parsed.head_len], &mut self.line);
            self.mark_h2();
            self.rec.bytes_in = parsed.head_len as u64;
            self.rec.t_request = self.rec.started.map(|t| t.elapsed());
        }
        self.cbuf.drain(..parsed.head_len);
        Some(parsed)
    }

    /// The request line of an HTTP/2 stream says so in the log.
    fn mark_h2(&mut self) {
        if self.h2 && self.line.ends_with(b" HTTP/1.1") {
            let n = self.line.len();
            self.line[n - 3..].copy_from_slice(b"2.0");
        }
    }

    /// After a 101: relay bytes between the client and `server` until both close.
    async fn tunnel(
        mut self,
        mut server: ServerStream,
        frontend: &Frontend,
        backend: usize,
    ) -> Result<(), SessionError> {
        // The upgrade is the request's end in the log; the tunnel is not.
        if self.logging && !self.rec.asap {
            self.worker.log_access(&self.rec, &self.line);
        }
        // Bytes already read past the heads belong to the tunnel.
        if !self.sbuf.is_empty() {
            let (res, _) = self.client.write_all(std::mem::take(&mut self.sbuf)).await;
            res.map_err(|e| SessionError::Io(Side::Client, e))?;
        }
        if !self.cbuf.is_empty() {
            let (res, _) = server.write_all(std::mem::take(&mut self.cbuf)).await;
            res.map_err(|e| SessionError::Io(Side::Server, e))?;
        }
        self.give_buffers();
        let t = tunnel_timeouts(frontend, &self.worker.backend_settings(backend));
        let buffers = (self.worker.take_buffer(), self.worker.take_buffer());
        relay(self.client, server, t, buffers).await?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "http_sizes.rs"]
pub(super) mod sizes;
