//! An in-process client stream: how an HTTP/2 stream is handed to the HTTP/1.1
//! session code. The HTTP/2 connection driver holds one end ([`PipePeer`]); the
//! session holds the other as a [`ClientStream::Pipe`](super::ClientStream), reads
//! the translated request from it and writes the response into it, exactly as it
//! would on a socket: same routing, rules, balancing, retries, limits and logs.
//!
//! Each direction is a bounded byte queue (`cap` bytes): a writer waits for room, so
//! a client that stops reading (a zero HTTP/2 window) holds at most `cap` bytes here,
//! and the session's own write timeout applies. Bytes move as slices (two
//! `memcpy`s at most per read or write, where the ring wraps), and a lane's storage
//! is taken at its first write, once, at the size that write needs (at least
//! `FIRST`, at most `cap`): from this thread's spares, storage of lanes that ended,
//! when one is large enough (a small response's lane was a 4 KiB allocation per
//! stream, about 1,000 instructions with its free). The pipe's shared state is kept
//! for the next pipe too when its last end goes (no allocation per stream for it
//! either). Single-threaded (`Rc<RefCell>`): both ends live on one worker.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::mem::ManuallyDrop;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A lane's first allocation, at least: a whole small response (head and body) in
/// one, where growing by doubling from a few bytes would take several.
const FIRST: usize = 4 * 1024;
/// Spare lane storage kept per thread, at most, and the largest kept (what is kept
/// is then at most `SPARE_MAX * SPARE_LARGEST` bytes: 2 MiB).
const SPARE_MAX: usize = 128;
const SPARE_LARGEST: usize = 16 * 1024;

thread_local! {
    /// Storage of lanes that ended, emptied, for the next lanes' first writes.
    static SPARE: RefCell<Vec<VecDeque<u8>>> = const { RefCell::new(Vec::new()) };
    /// The shared state of pipes whose ends are both gone, for the next pipes (at
    /// most `SPARE_MAX`; their lanes hold no storage).
    static PIPES: RefCell<Vec<Rc<RefCell<Shared>>>> = const { RefCell::new(Vec::new()) };
}

/// Empty storage for a lane's first write of `n` bytes: a spare if the last one
/// kept is large enough, else a new one.
fn storage(n: usize) -> VecDeque<u8> {
    let spare = SPARE.with(|s| {
        let mut s = s.borrow_mut();
        match s.last() {
            Some(d) if d.capacity() >= n => s.pop(),
            _ => None,
        }
    });
    spare.unwrap_or_else(|| VecDeque::with_capacity(n))
}

/// Keep a lane's storage for the next lanes (if it is not too large and there is
/// room among the spares; else it is freed).
fn recycle(mut data: VecDeque<u8>) {
    let cap = data.capacity();
    if cap == 0 || cap > SPARE_LARGEST {
        return;
    }
    data.clear();
    // (A thread that is ending has no spares any more: the storage is freed.)
    let _ = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < SPARE_MAX {
            s.push(data);
        }
    });
}

/// One direction: bytes written and not read yet.
#[derive(Default)]
struct Lane {
    data: VecDeque<u8>,
    /// The writer is done (EOF once `data` is read).
    closed: bool,
    /// The reader is gone: writes fail.
    gone: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
    /// Bytes read from this lane so far (where `data` starts in the whole stream).
    read: u64,
}

impl Lane {
    fn poll_read(&mut self, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<usize> {
        if self.data.is_empty() && !self.closed && !out.is_empty() {
            self.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = out.len().min(self.data.len());
        let (a, b) = self.data.as_slices();
        let k = n.min(a.len());
        out[..k].copy_from_slice(&a[..k]);
        out[k..n].copy_from_slice(&b[..n - k]);
        self.consumed(n);
        Poll::Ready(n)
    }

    /// The first `n` bytes were read: gone from the ring, and the writer may go on.
    fn consumed(&mut self, n: usize) {
        self.read += n as u64;
        // (`u8` needs no drop: this moves the ring's head, it copies nothing; an
        // emptied ring starts over at its storage's start, unwrapped.)
        match self.data.len() == n {
            true => self.data.clear(),
            false => drop(self.data.drain(..n)),
        }
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    /// As `poll_read`, appending to `out` (no zeroed room needed).
    fn poll_append(&mut self, cx: &mut Context<'_>, out: &mut Vec<u8>, max: usize) -> Poll<usize> {
        if self.data.is_empty() && !self.closed && max > 0 {
            self.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = max.min(self.data.len());
        let (a, b) = self.data.as_slices();
        let k = n.min(a.len());
        out.extend_from_slice(&a[..k]);
        out.extend_from_slice(&b[..n - k]);
        self.consumed(n);
        Poll::Ready(n)
    }

    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
        cap: usize,
    ) -> Poll<io::Result<usize>> {
        if self.gone || self.closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let room = cap.saturating_sub(self.data.len());
        if room == 0 && !data.is_empty() {
            self.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = room.min(data.len());
        if self.data.capacity() == 0 {
            self.data = storage(n.max(FIRST).min(cap));
        }
        self.data.extend(&data[..n]);
        if let Some(w) = self.reader.take() {
            w.wake();
        }
        Poll::Ready(Ok(n))
    }

    fn close(&mut self) {
        self.closed = true;
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }

    fn drop_reader(&mut self) {
        self.gone = true;
        recycle(std::mem::take(&mut self.data));
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.data));
    }
}

struct Shared {
    /// Driver → session: the request.
    up: Lane,
    /// Session → driver: the response.
    down: Lane,
    cap: usize,
    /// A response head the session wrote itself (see [`Pipe::note_own_head`]): where
    /// it starts in the response stream, and its length.
    own_head: Option<(u64, usize)>,
}

/// The session's end.
pub struct Pipe {
    /// (Taken out only when dropped, see [`release`].)
    shared: ManuallyDrop<Rc<RefCell<Shared>>>,
    tls: bool,
}

/// The driver's end.
pub struct PipePeer {
    shared: ManuallyDrop<Rc<RefCell<Shared>>>,
}

/// A new pipe holding at most `cap` bytes each way; `tls`: the HTTP/2 connection is
/// over TLS (for `X-Forwarded-Proto` and the like).
pub fn pipe(cap: usize, tls: bool) -> (Pipe, PipePeer) {
    let spare = PIPES.with(|p| p.borrow_mut().pop());
    let shared = match spare {
        Some(shared) => {
            shared.borrow_mut().cap = cap;
            shared
        }
        None => Rc::new(RefCell::new(Shared {
            up: Lane::default(),
            down: Lane::default(),
            cap,
            own_head: None,
        })),
    };
    let peer = PipePeer {
        shared: ManuallyDrop::new(Rc::clone(&shared)),
    };
    let end = Pipe {
        shared: ManuallyDrop::new(shared),
        tls,
    };
    (end, peer)
}

/// An end is gone: if it was the last handle on the pipe, its shared state is made
/// new (the lanes' storage goes to the spares) and kept for the next pipe.
fn release(shared: Rc<RefCell<Shared>>) {
    // The other end (or a reader or writer handle) still holds it: it goes with them.
    if Rc::strong_count(&shared) != 1 || Rc::weak_count(&shared) != 0 {
        return;
    }
    {
        let mut s = shared.borrow_mut();
        s.up = Lane::default();
        s.down = Lane::default();
        s.own_head = None;
    }
    // (A thread that is ending keeps nothing: the state is freed.)
    let _ = PIPES.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < SPARE_MAX {
            p.push(shared);
        }
    });
}

impl Pipe {
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The next `len` bytes this end writes are a response head the session wrote
    /// itself (from a head it parsed and checked): the driver may split it without
    /// parsing it again ([`PipePeer::own_head`]). One at a time: a second one before
    /// the driver came to the first replaces it (the first is then parsed in full).
    pub fn note_own_head(&self, len: usize) {
        let mut s = self.shared.borrow_mut();
        let at = s.down.read + s.down.data.len() as u64;
        s.own_head = Some((at, len));
    }

    pub async fn read_into(&mut self, out: &mut [u8]) -> usize {
        poll_fn(|cx| self.shared.borrow_mut().up.poll_read(cx, out)).await
    }

    pub async fn write_from(&mut self, data: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| {
            let mut s = self.shared.borrow_mut();
            let cap = s.cap;
            s.down.poll_write(cx, data, cap)
        })
        .await
    }

    /// The response is complete: the driver reads EOF after it.
    pub fn close_write(&mut self) {
        self.shared.borrow_mut().down.close();
    }

    /// Second handles on this end's two directions, so that one task can read a
    /// request body from one pipe into another while the response goes the other way
    /// (full duplex). They read and write as this end does, and close nothing.
    pub fn reader(&self) -> PipeReader {
        PipeReader(Rc::clone(&self.shared))
    }

    pub fn writer(&self) -> PipeWriter {
        PipeWriter(Rc::clone(&self.shared))
    }
}

/// What [`Pipe::reader`] gives.
pub struct PipeReader(Rc<RefCell<Shared>>);

/// What [`Pipe::writer`] gives.
pub struct PipeWriter(Rc<RefCell<Shared>>);

impl PipeReader {
    /// As [`PipePeer::read_append`], on the lane the [`Pipe`] reads.
    pub async fn read_append(&self, out: &mut Vec<u8>, max: usize) -> usize {
        poll_fn(|cx| self.0.borrow_mut().up.poll_append(cx, out, max)).await
    }
}

impl PipeWriter {
    /// Write all of `data` on the lane the [`Pipe`] writes; `Err`: the other end is
    /// gone.
    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = poll_fn(|cx| {
                let mut s = self.0.borrow_mut();
                let cap = s.cap;
                s.down.poll_write(cx, data, cap)
            })
            .await?;
            data = &data[n..];
        }
        Ok(())
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        {
            let mut s = self.shared.borrow_mut();
            s.down.close();
            s.up.drop_reader();
        }
        // SAFETY: `shared` is not used again: this end is being dropped.
        release(unsafe { ManuallyDrop::take(&mut self.shared) });
    }
}

impl PipePeer {
    /// Write all of `data` for the session; `Err`: the session is gone.
    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = poll_fn(|cx| {
                let mut s = self.shared.borrow_mut();
                let cap = s.cap;
                s.up.poll_write(cx, data, cap)
            })
            .await?;
            data = &data[n..];
        }
        Ok(())
    }

    /// The request is complete: the session reads EOF after it.
    pub fn close_write(&self) {
        self.shared.borrow_mut().up.close();
    }

    /// The length of the response head that starts `unread` bytes before what is left
    /// in the pipe (the reader's buffer holds those bytes), if the session noted it as
    /// its own ([`Pipe::note_own_head`]).
    pub fn own_head(&self, unread: usize) -> Option<usize> {
        let mut s = self.shared.borrow_mut();
        let at = s.down.read.checked_sub(unread as u64)?;
        match s.own_head {
            Some((start, len)) if start == at => Some(len),
            // A head already passed.
            Some((start, _)) if start < at => {
                s.own_head = None;
                None
            }
            _ => None,
        }
    }

    /// Read what the session wrote into `out` (appended, at most `max` bytes); 0: the
    /// session closed its end.
    pub async fn read_append(&self, out: &mut Vec<u8>, max: usize) -> usize {
        poll_fn(|cx| self.shared.borrow_mut().down.poll_append(cx, out, max)).await
    }
}

impl Drop for PipePeer {
    fn drop(&mut self) {
        {
            let mut s = self.shared.borrow_mut();
            s.up.close();
            s.down.drop_reader();
        }
        // SAFETY: `shared` is not used again: this end is being dropped.
        release(unsafe { ManuallyDrop::take(&mut self.shared) });
    }
}

#[cfg(test)]
#[path = "pipe_tests.rs"]
mod tests;
