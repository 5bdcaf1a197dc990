//! What the caller does on a stream: take its body (and give the window back), send
//! HEADERS and DATA (within the client's windows and the output's room), reset it,
//! give it up; and on the connection: GOAWAY, the output.

use std::task::{Context, Poll};

use bytes::Bytes;

use super::frame;
use super::state::{Conn, DRAIN_PING, MAX_STREAM_ID, OUT_DATA};
use super::stream::Trailers;
use super::Reason;

/// The stream is gone: reset (by the client, by this side, or with the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed(pub Reason);

impl Conn {
    /// The next piece of the stream's body; `None`: the body ended; `Err`: reset.
    pub fn poll_data(
        &mut self,
        id: u32,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Closed>>> {
        let Some(s) = self.streams.get(id) else {
            return Poll::Ready(Some(Err(Closed(Reason::CANCEL))));
        };
        if let Some(r) = s.reset {
            return Poll::Ready(Some(Err(Closed(r))));
        }
        if let Some(b) = s.body.pop_front() {
            return Poll::Ready(Some(Ok(b)));
        }
        if !s.recv_open {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The body ended already (nothing queued, nothing more to come).
    pub fn body_ended(&mut self, id: u32) -> bool {
        self.streams
            .get(id)
            .is_some_and(|s| s.body.is_empty() && !s.recv_open && s.reset.is_none())
    }

    /// The trailers that ended the body, if the client sent some.
    pub fn take_trailers(&mut self, id: u32) -> Option<Trailers> {
        self.streams.get(id)?.trailers.take().map(|t| *t)
    }

    /// `n` body bytes taken: given back to the client's windows (a WINDOW_UPDATE once
    /// half a window is).
    pub fn release(&mut self, id: u32, n: u32) {
        self.release_conn(n);
        let half = (self.limits.initial_window_size / 2).max(1);
        let Some(s) = self.streams.get(id) else {
            return;
        };
        s.held = s.held.saturating_sub(n);
        if !s.recv_open {
            return;
        }
        s.released += n;
        if s.released >= half {
            s.recv_window += i64::from(s.released);
            let n = std::mem::take(&mut s.released);
            frame::write_window_update(&mut self.out, id, n);
            self.wake_writer();
        }
    }

    /// Reset by the client (or with the connection): the reason. Pending otherwise,
    /// the task woken when it is.
    pub fn poll_reset(&mut self, id: u32, cx: &mut Context<'_>) -> Poll<Reason> {
        match self.streams.get(id) {
            None => Poll::Ready(Reason::CANCEL),
            Some(s) => match s.reset {
                Some(r) => Poll::Ready(r),
                None => {
                    s.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            },
        }
    }

    /// A header block (interim or final response, or trailers with `end`) as HEADERS
    /// and CONTINUATION frames.
    pub fn send_headers(&mut self, id: u32, block: &[u8], end: bool) -> Result<(), Closed> {
        let max = self.peer_frame as usize;
        let s = self.open_to_send(id)?;
        if end {
            s.send_open = false;
        }
        frame::write_headers(&mut self.out, id, block, end, max);
        self.wake_writer();
        Ok(())
    }

    /// Send what of `data` the windows and the output's room allow, as DATA frames
    /// (END_STREAM on the last if `end` and all of it went); how much went. Pending
    /// when none can (woken when some can); an empty `data` with `end` ends the stream.
    pub fn poll_send_data(
        &mut self,
        id: u32,
        data: &[u8],
        end: bool,
        cx: &mut Context<'_>,
    ) -> Poll<Result<usize, Closed>> {
        let room = OUT_DATA.saturating_sub(self.out.len());
        let conn = self.send_window.max(0) as usize;
        let max = self.peer_frame as usize;
        let s = match self.open_to_send(id) {
            Ok(s) => s,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if data.is_empty() && !end {
            return Poll::Ready(Ok(0));
        }
        let n = data
            .len()
            .min(conn)
            .min(room)
            .min(s.send_window.max(0) as usize);
        if n == 0 && !data.is_empty() {
            s.blocked = true;
            s.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let last = end && n == data.len();
        s.send_window -= n as i64;
        if last {
            s.send_open = false;
        }
        self.send_window -= n as i64;
        let mut chunks = data[..n].chunks(max).peekable();
        if chunks.peek().is_none() {
            frame::write_data(&mut self.out, id, &[], last);
        }
        while let Some(c) = chunks.next() {
            frame::write_data(&mut self.out, id, c, last && chunks.peek().is_none());
        }
        self.wake_writer();
        Poll::Ready(Ok(n))
    }

    /// Reset the stream (RST_STREAM with `reason`).
    pub fn reset(&mut self, id: u32, reason: Reason) {
        let Some(s) = self.streams.get(id) else {
            return;
        };
        if s.reset.is_some() {
            return;
        }
        s.close(reason);
        frame::write_reset(&mut self.out, id, reason);
        self.recent.push(id);
        self.wake_writer();
    }

    /// The caller is done with the stream: forgotten. One not ended both ways is
    /// reset (CANCEL if the response was not sent whole; NO_ERROR if it was and the
    /// client is still sending: it may stop, §8.1); the body it held is given back
    /// to the connection's window.
    pub fn finish(&mut self, id: u32) {
        let Some(s) = self.streams.remove(id) else {
            return;
        };
        if s.reset.is_none() && (s.send_open || s.recv_open) {
            let reason = match s.send_open {
                true => Reason::CANCEL,
                false => Reason::NO_ERROR,
            };
            frame::write_reset(&mut self.out, id, reason);
            self.recent.push(id);
            self.wake_writer();
        }
        if s.held > 0 {
            self.release_conn(s.held);
        }
    }

    /// A graceful shutdown's first step (RFC 9113 §6.8): GOAWAY with the highest
    /// stream identifier (the client opens no more streams; those it has sent are
    /// still served) and a PING. Its acknowledgement, a round trip later, says every
    /// stream the client opened before it saw the GOAWAY has come: then the final
    /// GOAWAY (`go_away`), with the last of them. Once only; nothing after `go_away`.
    pub fn go_away_soon(&mut self) {
        if self.draining || self.going_away.is_some() || self.failed.is_some() {
            return;
        }
        self.draining = true;
        frame::write_goaway(&mut self.out, MAX_STREAM_ID, Reason::NO_ERROR);
        frame::write_ping(&mut self.out, false, DRAIN_PING);
        self.wake_writer();
    }

    /// GOAWAY: streams opened so far are served, later ones ignored (a second call
    /// does nothing).
    pub fn go_away(&mut self, reason: Reason) {
        if self.going_away.is_some() || self.failed.is_some() {
            return;
        }
        self.going_away = Some(self.last_id);
        frame::write_goaway(&mut self.out, self.last_id, reason);
        self.wake_writer();
    }

    /// Close now: GOAWAY with `reason`, every stream reset.
    pub fn abort(&mut self, reason: Reason) {
        self.fail(reason);
    }

    /// Frames to write, taken (swapped with `spare`, which should be empty); the
    /// senders waiting for room are woken. Nothing to write: `false`, and `cx`'s task
    /// is woken when there is.
    pub fn poll_out(&mut self, spare: &mut Vec<u8>, cx: &mut Context<'_>) -> bool {
        if self.out.is_empty() {
            self.writer = Some(cx.waker().clone());
            return false;
        }
        std::mem::swap(&mut self.out, spare);
        self.wake_blocked();
        true
    }

    /// Frames are waiting to be written.
    pub fn has_out(&self) -> bool {
        !self.out.is_empty()
    }

    /// The output's buffer, if nothing is in it (to keep none while idle).
    pub fn take_idle_out(&mut self) -> Option<Vec<u8>> {
        match self.out.is_empty() && self.out.capacity() > 0 {
            true => Some(std::mem::take(&mut self.out)),
            false => None,
        }
    }

    /// The output has no buffer (it was taken while idle): frames written now would
    /// grow one from nothing, a reallocation at each doubling.
    pub fn needs_out_buffer(&self) -> bool {
        self.out.capacity() == 0
    }

    /// A buffer for the output, when it has none (an empty one from a pool).
    pub fn set_out_buffer(&mut self, mut buf: Vec<u8>) {
        if self.out.capacity() == 0 {
            buf.clear();
            self.out = buf;
        }
    }

    /// The client's preface and first SETTINGS came.
    pub fn handshaken(&self) -> bool {
        self.settings_seen
    }

    fn open_to_send(&mut self, id: u32) -> Result<&mut super::stream::Stream, Closed> {
        let failed = self.failed;
        let s = self.streams.get(id).ok_or(Closed(Reason::CANCEL))?;
        if let Some(r) = s.reset.or(failed) {
            return Err(Closed(r));
        }
        match s.send_open {
            true => Ok(s),
            false => Err(Closed(Reason::STREAM_CLOSED)),
        }
    }
}
