//! A client connection's bytes: read from the socket into a pooled buffer, taken frame
//! by frame by the connection (`crate::http::h2::conn::Conn::step`), each new request
//! admitted and given a task of its own (`stream.rs`); the frames the connection and
//! its streams wrote, written back. No buffer is held while the connection is idle:
//! the socket is in readiness mode, so a pending read holds none.

use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use rustls::ServerConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::io::H2Io;
use super::link::Link;
use super::stream::{self, Admit};
use super::Shared;
use crate::http::h2::conn::{Reason, Step};
use crate::tls::ClientStream;

/// Output waiting past the socket's, in bytes, past which the client is not read.
const OUT_BACKLOG: usize = 128 * 1024;

/// Reads taken in one go before the task lets others run.
const READS_PER_TURN: usize = 16;

/// Why the connection's bytes stopped.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum End {
    /// The client closed, or the socket failed.
    Closed,
    /// A connection error, its GOAWAY written.
    Failed,
    /// The client went away (GOAWAY) and no stream is left; or, closing, all is written.
    Done,
}

pub(super) struct Driver {
    shared: Rc<Shared>,
    io: H2Io<ClientStream, ServerConnection>,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    written: usize,
    flush: bool,
    /// The client's preface and SETTINGS came (the connection is counted).
    counted: bool,
    /// Only what is left to write is written (nothing more is read).
    pub(super) closing: bool,
}

impl Driver {
    pub(super) fn new(shared: Rc<Shared>, io: H2Io<ClientStream, ServerConnection>) -> Driver {
        Driver {
            shared,
            io,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            written: 0,
            flush: false,
            counted: false,
            closing: false,
        }
    }

    /// Read and write until the connection ends.
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<End> {
        let mut reads = 0;
        loop {
            if let Some(end) = self.write(cx) {
                return Poll::Ready(end);
            }
            if self.closing {
                return Poll::Pending;
            }
            {
                let conn = self.shared.conn.borrow();
                if conn.peer_gone() && conn.active() == 0 && !conn.has_out() {
                    return Poll::Ready(End::Done);
                }
                // The client does not read what it asked for (the socket takes no
                // more): nothing more is read from it until it does, so that what
                // waits for it stays bounded. (The pending write holds the waker.)
                if self.written < self.wbuf.len() && conn.out_len() > OUT_BACKLOG {
                    return Poll::Pending;
                }
            }
            match self.poll_read(cx) {
                Poll::Ready(Ok(true)) => {}
                Poll::Ready(Ok(false)) => return Poll::Ready(End::Closed),
                // A connection error: its GOAWAY goes out first.
                Poll::Ready(Err(())) => {
                    self.closing = true;
                    continue;
                }
                Poll::Pending => return Poll::Pending,
            }
            reads += 1;
            if reads == READS_PER_TURN {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }

    /// Write what is waiting (until the socket takes no more). `Some`: the end (the
    /// socket failed; closing and all written; failed and the GOAWAY written).
    fn write(&mut self, cx: &mut Context<'_>) -> Option<End> {
        loop {
            if self.written < self.wbuf.len() {
                match Pin::new(&mut self.io).poll_write(cx, &self.wbuf[self.written..]) {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        self.written += n;
                        self.flush = true;
                        continue;
                    }
                    Poll::Ready(_) => return Some(End::Closed),
                    Poll::Pending => return None,
                }
            }
            if self.flush {
                match Pin::new(&mut self.io).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.flush = false,
                    Poll::Ready(Err(_)) => return Some(End::Closed),
                    Poll::Pending => return None,
                }
            }
            self.wbuf.clear();
            self.written = 0;
            let worker = &self.shared.worker;
            let mut conn = self.shared.conn.borrow_mut();
            if conn.has_out() && self.wbuf.capacity() == 0 {
                self.wbuf = worker.take_buffer();
            }
            if conn.poll_out(&mut self.wbuf, cx) {
                continue;
            }
            if conn.failed().is_some() {
                return Some(End::Failed);
            }
            if self.closing {
                return Some(End::Done);
            }
            // Idle: no buffer kept for writing.
            if conn.active() == 0 {
                if let Some(b) = conn.take_idle_out() {
                    worker.give_buffer(b);
                }
                worker.give_buffer(std::mem::take(&mut self.wbuf));
            }
            return None;
        }
    }

    /// Read once and take every whole frame. `Ok(false)`: the client closed (or the
    /// socket failed); `Err`: a connection error.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, ()>> {
        if self.rbuf.capacity() == 0 {
            self.rbuf = self.shared.worker.take_buffer();
        }
        if self.rbuf.len() == self.rbuf.capacity() {
            // A frame larger than the buffer: room for the largest allowed.
            let max = self.shared.conn.borrow().max_frame_size() as usize + 9;
            self.rbuf
                .reserve(max.saturating_sub(self.rbuf.len()).max(4096));
        }
        let spare = self.rbuf.spare_capacity_mut();
        let mut rb = ReadBuf::uninit(spare);
        match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                if n == 0 {
                    return Poll::Ready(Ok(false));
                }
                // SAFETY: `poll_read` initialised the first `n` bytes of the spare capacity.
                unsafe { self.rbuf.set_len(self.rbuf.len() + n) };
                Poll::Ready(self.take_frames().map(|()| true))
            }
            Poll::Ready(Err(_)) => Poll::Ready(Ok(false)),
            Poll::Pending => {
                if self.rbuf.is_empty() {
                    self.shared
                        .worker
                        .give_buffer(std::mem::take(&mut self.rbuf));
                }
                Poll::Pending
            }
        }
    }

    /// Every whole frame in the read buffer, taken; a partial one stays.
    fn take_frames(&mut self) -> Result<(), ()> {
        let mut at = 0;
        loop {
            let mut conn = self.shared.conn.borrow_mut();
            let (used, request) = match conn.step(&self.rbuf[at..]) {
                Err(_) => return Err(()),
                Ok(Step::More) => break,
                Ok(Step::Done(n)) => (n, None),
                Ok(Step::Request {
                    used,
                    id,
                    head,
                    end_stream,
                }) => (
                    used,
                    Some((id, stream::admit(&self.shared, head, end_stream))),
                ),
            };
            at += used;
            let Some((id, admit)) = request else {
                continue;
            };
            match admit {
                Admit::Serve(admitted) => {
                    // Room for the response's frames, from the pool (none is kept
                    // while the connection is idle).
                    if conn.needs_out_buffer() {
                        conn.set_out_buffer(self.shared.worker.take_buffer());
                    }
                    drop(conn);
                    self.spawn(id, admitted);
                }
                Admit::Refused => {
                    conn.reset(id, Reason::PROTOCOL_ERROR);
                    conn.finish(id);
                    conn.refused().map_err(drop)?;
                }
                Admit::TooLarge => {
                    // 431 Request Header Fields Too Large (RFC 6585; as the HTTP/2
                    // library answered before), the stream ended.
                    let _ = conn.send_headers(id, &TOO_LARGE, true);
                    conn.finish(id);
                    conn.refused().map_err(drop)?;
                }
            }
        }
        self.rbuf.drain(..at);
        if !self.counted && self.shared.conn.borrow().handshaken() {
            self.counted = true;
            let fe = self.shared.fe;
            self.shared
                .worker
                .with_frontend_stats(fe, |s| s.h2_connections += 1);
        }
        Ok(())
    }

    fn spawn(&self, id: u32, admitted: stream::Admitted) {
        let shared = &self.shared;
        shared.accepted.set(shared.accepted.get() + 1);
        let first = shared.accepted.get() == 1;
        let link = Link {
            shared: Rc::clone(shared),
            id,
        };
        // In a slot of this thread's (`worker/slot.rs`): written there in place, and
        // the task monoio allocates holds only its pointer.
        let task = super::super::slot::empty().write(stream::serve(link, admitted, first));
        monoio::spawn(task);
    }

    /// Close the write side (after the last frames: `poll` ended).
    pub(super) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.io).poll_shutdown(cx).map(drop)
    }

    /// The buffers back to the pool (the connection ends).
    pub(super) fn give_back(&mut self) {
        let worker = &self.shared.worker;
        worker.give_buffer(std::mem::take(&mut self.rbuf));
        worker.give_buffer(std::mem::take(&mut self.wbuf));
    }
}

/// `:status: 431`, HPACK: a literal without indexing whose name is static entry 8.
const TOO_LARGE: [u8; 5] = [0x08, 3, b'4', b'3', b'1'];
