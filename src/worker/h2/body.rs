//! A stream's response body sent back as DATA frames, as the session framed it:
//! length-delimited, chunked (decoded; trailers sent as HTTP/2 trailers) or until the
//! session closes the pipe. Each read from the pipe looks at a reset meanwhile.

use std::future::poll_fn;
use std::time::Duration;

use super::link::Link;
use super::send::SendError;
use super::stream::{Cut, READ};
use crate::http::h2::conn::Reason;
use crate::http::h2::{encode_trailers, trailers_to_h2};
use crate::http::ChunkedValidator;
use crate::tls::pipe::PipePeer;

/// The response body going out.
pub(super) struct Out<'a> {
    pub(super) link: &'a Link,
    /// How long the client's window may stay shut.
    pub(super) timeout: Duration,
}

impl Out<'_> {
    pub(super) async fn length(
        &mut self,
        peer: &PipePeer,
        buf: &mut Vec<u8>,
        mut left: u64,
    ) -> Result<(), Cut> {
        loop {
            let k = (left.min(buf.len() as u64)) as usize;
            left -= k as u64;
            self.data(&buf[..k], left == 0).await?;
            if left == 0 {
                return Ok(());
            }
            buf.clear();
            if self.read(peer, buf).await? == 0 {
                return self.truncated();
            }
        }
    }

    pub(super) async fn chunked(&mut self, peer: &PipePeer, buf: &mut Vec<u8>) -> Result<(), Cut> {
        let mut chunks = ChunkedValidator::default();
        let mut payload = Vec::with_capacity(READ);
        let mut trailers = Vec::new();
        loop {
            payload.clear();
            // The session checked the chunks already: an error here is ringlb's.
            if chunks
                .decode_with_trailers(buf, &mut payload, &mut trailers)
                .is_err()
            {
                return self.truncated();
            }
            let done = chunks.is_done();
            self.data(&payload, done && trailers.is_empty()).await?;
            if done && !trailers.is_empty() {
                let block = trailers_to_h2(&trailers).ok().and_then(|fields| {
                    let each = fields
                        .iter()
                        .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()));
                    encode_trailers(each).ok()
                });
                let Some(block) = block else {
                    return self.truncated();
                };
                return self.link.send_headers(&block, true).map_err(|_| Cut::Reset);
            }
            if done {
                return Ok(());
            }
            buf.clear();
            if self.read(peer, buf).await? == 0 {
                return self.truncated();
            }
        }
    }

    pub(super) async fn until_close(
        &mut self,
        peer: &PipePeer,
        buf: &mut Vec<u8>,
    ) -> Result<(), Cut> {
        loop {
            self.data(buf, false).await?;
            buf.clear();
            if self.read(peer, buf).await? == 0 {
                return self.data(&[], true).await;
            }
        }
    }

    /// Read more of the response; a reset meanwhile ends the stream.
    async fn read(&mut self, peer: &PipePeer, buf: &mut Vec<u8>) -> Result<usize, Cut> {
        let link = self.link;
        monoio::select! {
            biased;
            n = peer.read_append(buf, READ) => Ok(n),
            _ = poll_fn(|cx| link.poll_reset(cx)) => Err(Cut::Reset),
        }
    }

    /// The response ended early (the server's fault): the client must not take what
    /// it got for the whole.
    fn truncated(&mut self) -> Result<(), Cut> {
        self.link.reset(Reason::INTERNAL_ERROR);
        Err(Cut::Failed)
    }

    /// Send `data` as the client's window allows; `end`: the last of the body.
    pub(super) async fn data(&mut self, data: &[u8], end: bool) -> Result<(), Cut> {
        self.link
            .send_data(data, end, self.timeout)
            .await
            .map_err(|e| match e {
                SendError::Reset => Cut::Reset,
                SendError::Stalled => Cut::Failed,
            })
    }
}
