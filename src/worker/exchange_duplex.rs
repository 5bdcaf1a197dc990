//! A request body streamed to an HTTP/2 server while the response comes back (a child
//! of `exchange.rs`): from an HTTP/2 client's stream, or an HTTP/1.1 client's plain
//! TCP socket.

use monoio::net::TcpStream;

use super::{body_error, send_static, Exchange, Next, Stop, Upstream};
use crate::http::BodyFraming;
use crate::tls::pipe::{PipeReader, PipeWriter};
use crate::worker::body::{pump_pipes, pump_to_pipe, second_reader, BodyError};
use crate::worker::error::{SessionError, Side};

/// Where a request body streamed to an HTTP/2 server is read from (see
/// [`Exchange::duplex`]).
pub(super) enum BodyFrom {
    Pipe(PipeReader),
    Socket(TcpStream),
}

impl Exchange<'_> {
    /// A streamed request to an HTTP/2 server (a pipe in this worker): the body may go
    /// on while the response comes back (a bidirectional gRPC call whose client waits
    /// for each reply, a server that answers before the body ends). Where the body is
    /// read from then: an HTTP/2 client's stream (a chunked body) through a second
    /// handle on its pipe, an HTTP/1.1 client's plain TCP socket through a second
    /// descriptor (over TLS the body still goes first: rustls' state cannot be shared).
    /// `Expect: 100-continue` too: the 100 goes first, as `pump_request` sends it.
    pub(super) fn duplex(&self, up: &Upstream) -> Option<(BodyFrom, PipeWriter)> {
        if self.req.framing == BodyFraming::Length(0) {
            return None;
        }
        let to = up.stream.pipe_writer()?;
        let from = match self.conn.client.pipe_reader() {
            Some(r) if self.req.framing == BodyFraming::Chunked => BodyFrom::Pipe(r),
            Some(_) => return None,
            None => BodyFrom::Socket(second_reader(&self.conn.client)?),
        };
        Some((from, to))
    }

    /// [`send`](Self::send) with the request body and the response at once. A response
    /// that ends before an HTTP/1.1 client's body does closes the client connection
    /// after it (the rest of the body is not read).
    pub(super) async fn send_duplex(
        &mut self,
        up: Upstream,
        from: BodyFrom,
        to: PipeWriter,
    ) -> Result<Stop, SessionError> {
        if self.req.expect_continue {
            // Like nginx: ringlb says "go on" itself (see `pump_request`).
            send_static(&mut self.conn.client, b"HTTP/1.1 100 Continue\r\n\r\n").await;
        }
        let read = std::mem::take(&mut self.conn.cbuf);
        let limit = self.conn.worker.max_body_bytes();
        let (framing, timeout) = (self.req.framing, self.fe.timeout_client);
        let socket = matches!(from, BodyFrom::Socket(_));
        let body = async move {
            match from {
                BodyFrom::Pipe(from) => pump_pipes(from, to, read, timeout, limit)
                    .await
                    .map(|n| (n, Vec::new())),
                BodyFrom::Socket(src) => pump_to_pipe(src, to, read, framing, timeout, limit).await,
            }
        };
        let (done, sent) = {
            let mut body = std::pin::pin!(body);
            let mut respond = std::pin::pin!(self.respond(up));
            let mut sent = None;
            loop {
                monoio::select! {
                    r = &mut respond => break (Ok(r), sent),
                    b = &mut body, if sent.is_none() => match b {
                        Ok(got) => sent = Some(got),
                        Err(e) => break (Err(e), None),
                    },
                }
            }
        };
        match (done, sent) {
            (Ok(done), Some((n, rest))) => {
                self.conn.rec.bytes_in += n;
                self.conn.cbuf = rest;
                done
            }
            (Ok(Ok(Stop::Done(_))), None) if socket => Ok(Stop::Done(Next::Close)),
            (Ok(done), None) => done,
            (Err(e), _) => {
                // A body the client got wrong, before any of the response went out: the
                // answer pump_request would give.
                let status = match e {
                    BodyError::TooLarge => 413,
                    BodyError::Chunked(Side::Client, _) => 400,
                    BodyError::Timeout(Side::Client) => 408,
                    _ => 0,
                };
                if !socket || status == 0 || self.conn.rec.status.is_some() {
                    return Err(body_error(e));
                }
                self.conn.refuse(status, true).await;
                Ok(Stop::Done(Next::Close))
            }
        }
    }
}
