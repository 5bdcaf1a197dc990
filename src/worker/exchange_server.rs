//! The server connection of an exchange (a child of `exchange.rs`): picked for a
//! send (this client's own idle one, a pooled one or a new one), given back to the
//! pool (or kept for this client) when its response ended cleanly, and its server's
//! failures counted.

use std::time::Instant;

use super::{Exchange, Upstream};
use crate::worker::backend::Outcome;
use crate::worker::error::SessionError;
use crate::worker::h2::StreamOpts;
use crate::worker::upstream;

impl Exchange<'_> {
    /// Pick a server and connect to it, or take a pooled connection, as the policy
    /// says; 503 when no server can be had.
    pub(super) async fn connect(&mut self) -> Result<Upstream, SessionError> {
        let (reuse, avoid) = self.replays.next_send();
        // A hashed request goes where its key says, not to the last server (HAProxy's
        // prefer-last-server leaves hashing algorithms alone too).
        if reuse.own() && self.req.hash.is_none() {
            if let Some(up) = self.take_private() {
                return Ok(up);
            }
        }
        let c = &mut *self.conn;
        // Only when logging: the connect time for `%Tc`.
        let asked = c.rec.timed().then(Instant::now);
        let to = upstream::To {
            backend: self.backend,
            peer: c.rec.peer,
            sticky: self.req.sticky.server,
            hash: self.req.hash,
        };
        let h2 = StreamOpts {
            trailers: self.req.trailers,
            timeout: self.timeout_server,
        };
        match upstream::connect_http(&c.worker, to, reuse, avoid, c.origin.as_ref(), h2).await {
            Ok((lease, stream, reused, sent)) => {
                c.rec.server = Some(lease.server);
                let attempt = self.replays.start(lease.server, reused);
                c.rec.t_connect = asked.map(|t| sent - t);
                Ok(Upstream {
                    stream,
                    lease,
                    attempt,
                    sent,
                })
            }
            Err(e) => {
                c.refuse(503, false).await;
                Err(e)
            }
        }
    }

    /// This client's own idle connection (to a `send_proxy` server, or any server with
    /// `http_reuse = "never"`) to this backend, when that server still takes traffic
    /// and the connection passes the pool's check (the request then sticks to that
    /// server, as HAProxy's private connections do).
    fn take_private(&mut self) -> Option<Upstream> {
        let (backend, server, stream) = self.conn.private.take()?;
        if backend != self.backend || !crate::worker::pool::still_open(&stream) {
            return None;
        }
        let (lease, _) = self.conn.worker.lease(backend, server)?;
        self.conn.worker.count_reused(backend, server);
        self.conn.rec.server = Some(server);
        let attempt = self.replays.start(server, true);
        Some(Upstream {
            stream,
            lease,
            attempt,
            sent: Instant::now(),
        })
    }

    /// The response ended cleanly: the connection goes back to the pool if the server
    /// keeps it open and sent nothing past the response (else it is closed). A
    /// connection to a server with `send_proxy` never does: its header named this
    /// client, so it must never carry another one's request; it stays with this
    /// client connection for its next request instead, as every connection does
    /// with `http_reuse = "never"`.
    pub(super) fn give_back(&mut self, up: Upstream, server_keep: bool) {
        if up.stream.is_pipe() {
            // A stream of an HTTP/2 connection: done with its response.
            return;
        }
        let worker = &self.conn.worker;
        let private = worker
            .server_send_proxy(self.backend, up.lease.server)
            .is_some()
            || self.own_only;
        if private {
            if server_keep && self.conn.sbuf.is_empty() && !up.stream.may_hold_unread() {
                let Upstream { stream, lease, .. } = up;
                self.conn.private = Some((self.backend, lease.server, stream));
            }
            return;
        }
        if server_keep && self.conn.sbuf.is_empty() {
            let Upstream {
                stream,
                lease,
                attempt,
                ..
            } = up;
            let proven = attempt.reused();
            worker.pool_put(self.backend, lease.server, stream, Instant::now(), proven);
        }
    }

    /// The server failed this request (passive health counts it).
    pub(super) fn failed(&self, up: &Upstream) {
        let worker = &self.conn.worker;
        worker.record(self.backend, up.lease.server, Outcome::ResponseFailed);
    }
}
