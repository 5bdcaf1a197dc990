//! One stream of a client connection as its task sees it: a handle on the
//! connection (`crate::http::h2::conn::Conn`, shared in [`Shared`]) and the stream's
//! id. Its body read and its window given back, its response sent as HEADERS and DATA
//! within the client's windows (a window shut past the timeout resets the stream).
//! Dropped, the connection forgets the stream (resetting it if it was not done).

use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;

use super::send::SendError;
use super::Shared;
use crate::http::h2::conn::{Closed, Reason, Trailers};

pub(super) struct Link {
    pub(super) shared: Rc<Shared>,
    pub(super) id: u32,
}

impl Link {
    /// The next piece of the request body; `None`: it ended; `Err`: reset.
    pub(super) async fn data(&self) -> Option<Result<Bytes, Closed>> {
        poll_fn(|cx| self.shared.conn.borrow_mut().poll_data(self.id, cx)).await
    }

    /// The body ended already (nothing queued, nothing more to come).
    pub(super) fn body_ended(&self) -> bool {
        self.shared.conn.borrow_mut().body_ended(self.id)
    }

    /// `n` body bytes taken: the window given back.
    pub(super) fn release(&self, n: usize) {
        self.shared.conn.borrow_mut().release(self.id, n as u32);
    }

    pub(super) fn trailers(&self) -> Option<Trailers> {
        self.shared.conn.borrow_mut().take_trailers(self.id)
    }

    /// Ready once the client resets the stream (or the connection goes).
    pub(super) fn poll_reset(&self, cx: &mut Context<'_>) -> Poll<Reason> {
        self.shared.conn.borrow_mut().poll_reset(self.id, cx)
    }

    pub(super) fn send_headers(&self, block: &[u8], end: bool) -> Result<(), Closed> {
        self.shared
            .conn
            .borrow_mut()
            .send_headers(self.id, block, end)
    }

    pub(super) fn reset(&self, reason: Reason) {
        self.shared.conn.borrow_mut().reset(self.id, reason);
    }

    /// Send `data` as the windows allow; `end`: the last of the body (an empty `data`
    /// with `end` just ends the stream). A window shut for `timeout` resets it.
    pub(super) async fn send_data(
        &self,
        mut data: &[u8],
        end: bool,
        timeout: Duration,
    ) -> Result<(), SendError> {
        loop {
            let mut cx = Context::from_waker(std::task::Waker::noop());
            let sent = match self.poll_send(data, end, &mut cx) {
                Poll::Ready(r) => r,
                Poll::Pending => {
                    // The timer only when the window is shut (no clock read otherwise;
                    // boxed: a rare wait, and a timer inline would make every stream's
                    // task larger and 128-byte aligned).
                    let wait = poll_fn(|cx| self.poll_send(data, end, cx));
                    match Box::pin(monoio::time::timeout(timeout, wait)).await {
                        Ok(r) => r,
                        Err(_) => {
                            self.reset(Reason::CANCEL);
                            return Err(SendError::Stalled);
                        }
                    }
                }
            };
            let n = sent.map_err(|_| SendError::Reset)?;
            data = &data[n..];
            if data.is_empty() {
                return Ok(());
            }
        }
    }

    fn poll_send(
        &self,
        data: &[u8],
        end: bool,
        cx: &mut Context<'_>,
    ) -> Poll<Result<usize, Closed>> {
        self.shared
            .conn
            .borrow_mut()
            .poll_send_data(self.id, data, end, cx)
    }
}

impl Drop for Link {
    /// The stream's task ended: the connection forgets the stream. (Only the last
    /// stream's end counts for the idle timeout: no clock read for the others.)
    fn drop(&mut self) {
        let mut conn = self.shared.conn.borrow_mut();
        conn.finish(self.id);
        if conn.active() == 0 {
            self.shared.last_end.set(std::time::Instant::now());
        }
    }
}
