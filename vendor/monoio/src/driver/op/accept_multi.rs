//! ringlb patch: a multishot accept (`IORING_OP_ACCEPT` with `IORING_ACCEPT_MULTISHOT`,
//! Linux 5.19+), io_uring only.
//!
//! One submission keeps accepting: each connection is one completion carrying
//! `IORING_CQE_F_MORE` whose result is the new descriptor. The driver queues every
//! result in the operation's slot (`Lifecycle::Queued`), in order, until the owner takes
//! it; the final completion (no `F_MORE`: an error such as `EMFILE`, a cancel, or a
//! descriptor the kernel could not post as one more) is queued too, and the owner arms
//! a new one. Dropping the operation cancels it; descriptors queued and not taken, and
//! those that still come before the cancel takes effect, are closed by the driver. No
//! peer address: the kernel would write every connection's into one buffer.

use std::{
    io,
    task::{Poll, Waker},
};

use io_uring::{opcode, types};

use super::{super::shared_fd::SharedFd, Op, OpAble};
use crate::driver;
#[cfg(any(feature = "legacy", feature = "poll-io"))]
use crate::driver::ready::Direction;

/// A multishot accept on a listening socket.
pub(crate) struct AcceptMulti {
    /// Keeps the listener's descriptor open while the kernel holds the operation.
    fd: SharedFd,
}

impl Op<AcceptMulti> {
    /// Arm a multishot accept on `fd` (a listening socket). io_uring only.
    pub(crate) fn accept_multi(fd: &SharedFd) -> io::Result<Self> {
        let op = Op::submit_with(AcceptMulti { fd: fd.clone() })?;
        #[allow(unreachable_patterns)]
        match &op.driver {
            driver::Inner::Uring(this) => driver::UringInner::queue_results(this, op.index),
            _ => return Err(io::ErrorKind::Unsupported.into()),
        }
        Ok(op)
    }

    /// Ask the kernel to stop accepting (`IORING_OP_ASYNC_CANCEL`); what it accepted
    /// before still comes through `poll_queued`, then its final `ECANCELED`.
    pub(crate) fn cancel(&self) {
        if self.index == usize::MAX {
            return;
        }
        #[allow(unreachable_patterns)]
        match &self.driver {
            // SAFETY: the operation is in flight under this index (not ended).
            driver::Inner::Uring(this) => unsafe { driver::UringInner::cancel_op(this, self.index) },
            _ => {}
        }
    }

    /// The next result, in order: `Ok(fd)` a new connection's descriptor (now the
    /// caller's), `Err` an error (then the operation ends); `Ready(None)`: the
    /// operation is over, arm a new one.
    pub(crate) fn poll_queued(&mut self, waker: &Waker) -> Poll<Option<io::Result<u32>>> {
        if self.index == usize::MAX {
            return Poll::Ready(None);
        }
        #[allow(unreachable_patterns)]
        let next = match &self.driver {
            driver::Inner::Uring(this) => driver::UringInner::poll_queued(this, self.index, waker),
            _ => Poll::Ready(None),
        };
        if let Poll::Ready(None) = next {
            // Over: its slot is freed, its drop does nothing more.
            self.index = usize::MAX;
        }
        next
    }
}

impl OpAble for AcceptMulti {
    fn uring_op(&mut self) -> io_uring::squeue::Entry {
        opcode::AcceptMulti::new(types::Fd(self.fd.raw_fd()))
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    #[cfg(any(feature = "legacy", feature = "poll-io"))]
    fn legacy_interest(&self) -> Option<(Direction, usize)> {
        None
    }

    #[cfg(any(feature = "legacy", feature = "poll-io"))]
    fn legacy_call(&mut self) -> io::Result<u32> {
        Err(io::ErrorKind::Unsupported.into())
    }
}
