//! ringlb patch: a read watch on a TCP stream, armed once for the stream's life.
//!
//! One `IORING_OP_POLL_ADD` with `IORING_POLL_ADD_MULTI` (POLLIN | POLLRDHUP): the
//! kernel posts a completion (carrying `IORING_CQE_F_MORE`) for every wake-up of the
//! socket that finds it readable, data or EOF, and keeps the poll armed. The driver
//! keeps the operation's slot across those completions (`Lifecycle::Fired`) and frees
//! it only at the final one. Dropping the watch submits its cancel; the slot, and with
//! it the watch's reference to the descriptor, stay until the cancel's final
//! completion, so the descriptor is neither closed nor reused while the kernel holds
//! the poll. A final completion the owner did not ask for (the kernel ended the
//! multishot: an overflowing completion queue, for instance) counts as fired, and the
//! watch is armed again. A kernel that refuses multishot (EINVAL) gets one-shot waits
//! from then on (per thread), armed again after each one fires: the same events, one
//! `POLL_ADD` per firing.
//!
//! io_uring only: on the legacy (epoll) driver, `TcpStream::read_watch` says
//! `Unsupported` (a readiness wait there is the runtime's readiness state already).

use std::{
    cell::Cell,
    io,
    task::{Context, Poll, Waker},
};

use crate::driver::{
    op::{poll::PollAdd, Op},
    shared_fd::SharedFd,
    MultiPoll,
};

thread_local! {
    /// The kernel refused a multishot poll on this thread: one-shot waits from now on.
    static ONE_SHOT: Cell<bool> = const { Cell::new(false) };
}

/// A readiness watch for reading on a TCP stream (see the module's comment). It holds
/// its own reference to the descriptor: it may outlive the stream and be moved freely.
pub struct ReadWatch {
    fd: SharedFd,
    /// `None` only when arming it again failed (then reported as an error).
    op: Option<Op<PollAdd>>,
    multi: bool,
}

impl std::fmt::Debug for ReadWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadWatch")
            .field("fd", &self.fd.raw_fd())
            .field("multi", &self.multi)
            .finish()
    }
}

impl ReadWatch {
    pub(crate) fn new(fd: &SharedFd) -> io::Result<ReadWatch> {
        if crate::driver::op::is_legacy() {
            return Err(io::ErrorKind::Unsupported.into());
        }
        let multi = !ONE_SHOT.get();
        Ok(ReadWatch {
            fd: fd.clone(),
            op: Some(Op::watch_read(fd, multi)?),
            multi,
        })
    }

    /// Whether the watch is a multishot poll (`false`: the kernel refused it, and it
    /// is a one-shot wait armed again after each firing).
    pub fn is_multishot(&self) -> bool {
        self.multi
    }

    /// Ready once per batch of events since the last look (data or EOF arrived, or
    /// the kernel ended the multishot and the watch was armed again), with `cx`'s
    /// waker kept for the next event; `Err` if arming it again failed.
    pub fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.look(Some(cx.waker())) {
            Ok(false) => Poll::Pending,
            Ok(true) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Whether it fired since the last look, forgetting those events, and stop waking
    /// any task (the next events are only noted, for the next look).
    pub fn take_fired(&mut self) -> io::Result<bool> {
        self.look(None)
    }

    /// Forget the events so far and stop waking any task.
    pub fn clear(&mut self) -> io::Result<()> {
        self.look(None).map(|_| ())
    }

    fn look(&mut self, waker: Option<&Waker>) -> io::Result<bool> {
        let seen = match self.op.as_mut() {
            Some(op) => op.poll_multi(waker),
            None => MultiPoll::Ended(Ok(0)),
        };
        let ended = match seen {
            MultiPoll::Quiet => return Ok(false),
            MultiPoll::Fired => return Ok(true),
            MultiPoll::Ended(result) => result,
        };
        if self.multi && matches!(&ended, Err(e) if e.raw_os_error() == Some(libc::EINVAL)) {
            ONE_SHOT.set(true);
            self.multi = false;
        }
        // Over (its slot is freed): armed again, and counted as fired.
        self.op = None;
        let mut op = Op::watch_read(&self.fd, self.multi)?;
        let _ = op.poll_multi(waker);
        self.op = Some(op);
        Ok(true)
    }
}
