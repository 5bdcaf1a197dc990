//! One request sent to a backend and its response streamed back (HTTP mode), one
//! method per phase: connect (a pooled connection or a new one), send the head, pump
//! the request body, read the response head (interim 1xx heads are forwarded), pump
//! the response body, give the server connection back to the pool (the server
//! connection's part is in `exchange_server.rs`). A request that got nothing back is
//! sent again when the retry policy allows (`sends::Replays`).
//!
//! Every path that does not give the server connection back to the pool closes it,
//! and the lease on its server is given back when the exchange ends.

use std::ops::ControlFlow::{self, Break, Continue};
use std::time::{Duration, Instant};

use monoio::io::AsyncWriteRentExt;

use super::backend::Outcome;
use super::body::{pump, BodyError, End};
use super::compress::{self, Plan};
use super::error::{SessionError, Side};
use super::http::Conn;
use super::http_heads::{
    read_response_head, send_static, HeadError, HeadWait, Parsed, ResponseHead,
};
use super::lease::ServerLease;
use super::persist;
use super::sends::{Attempt, Replays, Reuse};
use crate::config::{Frontend, HttpReuse};
use crate::http::BodyFraming;
use crate::msg::stats::count_status;
use crate::tls::{ClientStream, ServerStream};

#[path = "exchange_duplex.rs"]
mod duplex;
#[path = "exchange_server.rs"]
mod server;

/// How an exchange leaves the client connection.
pub enum Next {
    KeepGoing,
    Close,
    /// The server switched protocols (101): the connection becomes a tunnel.
    Upgraded(ServerStream),
}

/// One request to `backend`, from its connect to the end of its response.
pub struct Exchange<'a> {
    conn: &'a mut Conn,
    fe: &'a Frontend,
    backend: usize,
    req: Parsed,
    timeout_server: Duration,
    slow_response: Option<Duration>,
    replays: Replays,
    /// `http_reuse = "never"`: the server connection stays with this client connection.
    own_only: bool,
    /// An interim (1xx) head went to the client: the request is answered in part,
    /// and `head` no longer holds it, so it is never sent again.
    interim_sent: bool,
    /// The response's body is compressed (decided on its head).
    compress: Option<Plan>,
}

/// One send of the request: the server connection, the lease that counts it, and
/// what the retry policy says about it. Dropping it closes the connection, then gives
/// the lease back.
struct Upstream {
    stream: ServerStream,
    lease: ServerLease,
    attempt: Attempt,
    /// When the head went out: the response's latency counts from here.
    sent: Instant,
}

/// Why a send ends before its response is done.
enum Stop {
    /// Nothing came back and the policy allows it: send again, on a fresh connection.
    Replay,
    Done(Next),
}

impl<'a> Exchange<'a> {
    pub fn new(conn: &'a mut Conn, fe: &'a Frontend, backend: usize, req: Parsed) -> Self {
        conn.rec.backend = Some(backend);
        let settings = conn.worker.backend_settings(backend);
        let reuse = Reuse::allowed(settings.http_reuse, conn.first);
        let replays = Replays::new(settings.retry, req.replayable, reuse);
        Exchange {
            conn,
            fe,
            backend,
            req,
            timeout_server: settings.timeout_server,
            slow_response: settings.slow_response,
            replays,
            own_only: settings.http_reuse == HttpReuse::Never,
            interim_sent: false,
            compress: None,
        }
    }

    /// Send the request (again, as long as the policy says so) and stream the response
    /// back.
    pub async fn run(mut self) -> Result<Next, SessionError> {
        loop {
            let up = self.connect().await?;
            match self.send(up).await? {
                Stop::Replay => {
                    self.conn.rec.retries += 1;
                    self.replays.replay()
                }
                Stop::Done(next) => return Ok(next),
            }
        }
    }

    /// One send on `up`, through every phase.
    async fn send(&mut self, mut up: Upstream) -> Result<Stop, SessionError> {
        if let Break(stop) = self.send_head(&mut up).await {
            return Ok(stop);
        }
        if let Some((from, to)) = self.duplex(&up) {
            // Boxed: a rare path, the largest state of all (the common one stays small).
            return Box::pin(self.send_duplex(up, from, to)).await;
        }
        if let Break(stop) = self.pump_request(&mut up).await? {
            return Ok(stop);
        }
        self.respond(up).await
    }

    /// Read the response to a sent request and stream it to the client.
    async fn respond(&mut self, mut up: Upstream) -> Result<Stop, SessionError> {
        let (head, rest) = match self.response_head(&mut up).await? {
            Continue(final_head) => final_head,
            Break(stop) => return Ok(stop),
        };
        if head.status == 101 {
            return Ok(Stop::Done(self.upgrade(up)));
        }
        self.pump_response(&mut up, rest).await?;
        self.give_back(up, head.server_keep);
        Ok(Stop::Done(if head.client_keep {
            Next::KeepGoing
        } else {
            Next::Close
        }))
    }

    /// Send the request head; when that fails, send again if the policy allows, else
    /// answer 502.
    async fn send_head(&mut self, up: &mut Upstream) -> ControlFlow<Stop> {
        let c = &mut *self.conn;
        let (res, h) = up.stream.write_all(std::mem::take(&mut c.head)).await;
        c.head = h;
        if res.is_ok() {
            return Continue(());
        }
        // A reused connection the server had closed: not its fault.
        if !up.attempt.reused() {
            self.failed(up);
        }
        if up.attempt.unsent_may_go_again() {
            return Break(Stop::Replay);
        }
        self.conn.refuse(502, false).await;
        Break(Stop::Done(Next::Close))
    }

    /// Stream the request body to the server. A body the client gets wrong is answered
    /// with 413, 400 or 408; one the server does not take, with 502.
    async fn pump_request(&mut self, up: &mut Upstream) -> Result<ControlFlow<Stop>, SessionError> {
        let c = &mut *self.conn;
        if self.req.expect_continue && self.req.framing != BodyFraming::Length(0) {
            // Like nginx: ringlb says "go on" itself and streams the body.
            send_static(&mut c.client, b"HTTP/1.1 100 Continue\r\n\r\n").await;
        }
        let mut src = End {
            stream: &mut c.client,
            side: Side::Client,
            timeout: self.fe.timeout_client,
        };
        let mut dst = End {
            stream: &mut up.stream,
            side: Side::Server,
            timeout: self.timeout_server,
        };
        let limit = c.worker.max_body_bytes();
        let e = match pump(&mut src, &mut dst, &mut c.cbuf, self.req.framing, limit).await {
            Ok(n) => {
                c.rec.bytes_in += n;
                return Ok(Continue(()));
            }
            Err(e) => e,
        };
        let status = match e {
            BodyError::TooLarge => 413,
            BodyError::Chunked(Side::Client, _) => 400,
            BodyError::Timeout(Side::Client) => 408,
            BodyError::Io(Side::Server, _) | BodyError::Timeout(Side::Server) => {
                self.failed(up);
                self.conn.refuse(502, false).await;
                return Err(body_error(e));
            }
            e => return Err(body_error(e)),
        };
        self.conn.refuse(status, true).await;
        Ok(Break(Stop::Done(Next::Close)))
    }

    /// Read response heads up to the final one, forwarding each to the client (interim
    /// 1xx ones too). Returns the final head and the framing of what is left of its
    /// body. No head at all: send again if the policy allows, else 504 or 502.
    async fn response_head(
        &mut self,
        up: &mut Upstream,
    ) -> Result<ControlFlow<Stop, (ResponseHead, BodyFraming)>, SessionError> {
        self.conn.sbuf.clear();
        loop {
            let got = {
                let c = &mut *self.conn;
                // Pinned here once: awaited whole or in the select, the read is held
                // in one place of this future (two copies of its state otherwise).
                let mut read = std::pin::pin!(read_response_head(
                    &c.worker,
                    self.fe,
                    &mut up.stream,
                    &mut c.sbuf,
                    &mut c.head,
                    HeadWait {
                        timeout: self.timeout_server,
                        timer: &mut c.head_timer,
                    },
                    &self.req,
                ));
                match self.slow_response.filter(|_| !self.interim_sent) {
                    None => read.await,
                    Some(limit) => {
                        // A frozen server is found out now, not after timeout_server.
                        monoio::select! {
                            got = &mut read => got,
                            _ = super::timer::sleep(limit) => {
                                c.worker.slow_response(self.backend, up.lease.server, up.sent);
                                read.await
                            }
                        }
                    }
                }
            };
            let head = match got {
                Ok(head) => head,
                Err(e) => return Ok(Break(self.no_response(up, e).await)),
            };
            let status = head.status;
            let interim = (100..200).contains(&status) && status != 101;
            self.compress = head.compress;
            if !interim {
                // Time to the final response head: what p2c balances on.
                let at = Instant::now();
                let latency = at.saturating_duration_since(up.sent);
                self.conn.rec.t_response = Some(latency);
                let worker = &self.conn.worker;
                worker.record(
                    self.backend,
                    up.lease.server,
                    Outcome::Response {
                        status,
                        latency,
                        at,
                    },
                );
                worker.with_frontend_stats(self.conn.fe, |s| {
                    count_status(&mut s.responses, status);
                    s.latency_buckets.record(latency);
                });
                if status != 101 {
                    self.conn
                        .response_rules(self.fe, self.backend, status, &self.req.tracked);
                    if self.req.sticky.on {
                        let (sticky, server) = (self.req.sticky, up.lease.server);
                        let safe = self.req.safe_method;
                        let c = &mut *self.conn;
                        let head = &mut c.head;
                        c.worker.with_backend_config(self.backend, |b| {
                            persist::on_response(b, sticky, server, (safe, status), head)
                        });
                    }
                }
            }
            let rest = self.forward_head(&head).await?;
            if !interim {
                return Ok(Continue((head, rest)));
            }
            self.interim_sent = true;
        }
    }

    /// No valid response head came.
    async fn no_response(&mut self, up: &Upstream, e: HeadError) -> Stop {
        let nothing =
            matches!(e, HeadError::ClosedEarly) && self.conn.sbuf.is_empty() && !self.interim_sent;
        if nothing && up.attempt.may_replay() {
            if up.attempt.counts_against_server() {
                self.failed(up);
            }
            return Stop::Replay;
        }
        if nothing && up.attempt.close_silently(self.conn.first) {
            // The server had closed the idle connection: not its fault. The client
            // sees its keep-alive connection close and sends the request again.
            return Stop::Done(Next::Close);
        }
        self.failed(up);
        let status = if matches!(e, HeadError::Timeout) {
            504
        } else {
            502
        };
        self.conn.refuse(status, false).await;
        Stop::Done(Next::Close)
    }

    /// Send a response head (in `head`, written for the client) on to the client, with
    /// the part of the body already read: one write instead of two for a typical small
    /// response. Returns the framing of the rest of the body.
    async fn forward_head(&mut self, head: &ResponseHead) -> Result<BodyFraming, SessionError> {
        let c = &mut *self.conn;
        c.sbuf.drain(..head.head_len);
        let mut rest = head.framing;
        if let ClientStream::Pipe(p) = &c.client {
            // An HTTP/2 stream: its driver may take this head as written, not parse it.
            p.note_own_head(c.head.len());
        }
        if let (BodyFraming::Length(n), None) = (head.framing, self.compress) {
            let k = (n.min(c.sbuf.len() as u64)) as usize;
            c.head.extend_from_slice(&c.sbuf[..k]);
            c.sbuf.drain(..k);
            rest = BodyFraming::Length(n - k as u64);
        }
        c.rec.status = Some(head.status);
        c.rec.bytes_out += c.head.len() as u64;
        // (An interim response is not the response: its line waits for the final one.)
        if !(100..200).contains(&head.status) || head.status == 101 {
            c.log_early(self.fe, self.req.rule);
        }
        let (res, h) = c.client.write_all(std::mem::take(&mut c.head)).await;
        c.head = h;
        res.map_err(|e| SessionError::Io(Side::Client, e))?;
        Ok(rest)
    }

    /// A 101 went to the client: the connection becomes a tunnel to the server if the
    /// client asked for an upgrade (and is closed otherwise).
    fn upgrade(&self, up: Upstream) -> Next {
        if !self.req.upgrade {
            return Next::Close;
        }
        let Upstream { stream, lease, .. } = up;
        drop(lease);
        Next::Upgraded(stream)
    }

    /// Stream the response body to the client.
    async fn pump_response(
        &mut self,
        up: &mut Upstream,
        rest: BodyFraming,
    ) -> Result<(), SessionError> {
        let c = &mut *self.conn;
        let mut src = End {
            stream: &mut up.stream,
            side: Side::Server,
            timeout: self.timeout_server,
        };
        let mut dst = End {
            stream: &mut c.client,
            side: Side::Client,
            timeout: self.fe.timeout_client,
        };
        let pumped = match self.compress.take() {
            None => pump(&mut src, &mut dst, &mut c.sbuf, rest, 0).await,
            Some(plan) => {
                compress::pump(&c.worker, &mut src, &mut dst, &mut c.sbuf, rest, plan).await
            }
        };
        match pumped {
            Ok(n) => {
                c.rec.bytes_out += n;
                Ok(())
            }
            Err(e) => {
                if matches!(
                    e,
                    BodyError::Io(Side::Server, _)
                        | BodyError::Timeout(Side::Server)
                        | BodyError::Truncated(Side::Server)
                        | BodyError::Chunked(Side::Server, _)
                ) {
                    self.failed(up);
                }
                Err(body_error(e))
            }
        }
    }
}

/// The size and alignment of the phases' futures (see `http_sizes.rs`).
#[cfg(test)]
pub(super) fn phase_sizes() -> [(&'static str, (usize, usize)); 6] {
    use super::http::sizes::{ret1, ret2, ret3, ret4};
    [
        ("Exchange::connect", ret1(Exchange::connect)),
        ("Exchange::send", ret2(Exchange::send)),
        ("Exchange::pump_request", ret2(Exchange::pump_request)),
        ("Exchange::response_head", ret2(Exchange::response_head)),
        ("Exchange::pump_response", ret3(Exchange::pump_response)),
        ("Exchange::send_duplex", ret4(Exchange::send_duplex)),
    ]
}

fn body_error(e: BodyError) -> SessionError {
    match e {
        BodyError::Io(side, err) => SessionError::Io(side, err),
        BodyError::Timeout(side) => SessionError::Timeout(side),
        BodyError::Truncated(side) | BodyError::Chunked(side, _) => SessionError::Io(
            side,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
        ),
        BodyError::TooLarge => SessionError::Io(Side::Client, std::io::Error::other(e.to_string())),
    }
}
