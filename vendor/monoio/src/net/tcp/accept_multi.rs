//! ringlb patch: a multishot accept on a TCP listener (io_uring only, Linux 5.19+).
//!
//! `TcpListener::accept_multi` arms one `IORING_OP_ACCEPT` with
//! `IORING_ACCEPT_MULTISHOT`; every connection the kernel accepts is one completion,
//! queued by the driver (`Lifecycle::Queued`) until `poll_accept` takes it, so none is
//! lost when several come between two looks. The stream arms a new one by itself when
//! the kernel ends the multishot (after an error such as `EMFILE`, which is reported
//! first, or when it could not post a completion as one more). Dropping the stream
//! cancels the operation; the driver closes the descriptors accepted and not taken,
//! including those accepted before the cancel took effect (the clients see a reset).
//!
//! The kernel gives no peer address with a multishot accept: `TcpStream::peer_addr`
//! asks for it (`getpeername`, once, then kept). A kernel without the multishot flag
//! fails the first accept with `EINVAL`; on the legacy (epoll) driver
//! `accept_multi` says `Unsupported`: use `TcpListener::accept` there.

use std::{
    io,
    task::{Context, Poll},
};

use super::stream::TcpStream;
use crate::driver::{
    op::{accept_multi::AcceptMulti, Op},
    shared_fd::SharedFd,
};

/// Connections accepted by one multishot accept, in order (see the module's comment).
pub struct AcceptStream {
    fd: SharedFd,
    /// `None` after the operation ended: armed again at the next poll unless cancelled.
    op: Option<Op<AcceptMulti>>,
    /// `cancel` was called: the stream ends once the operation has.
    cancelled: bool,
}

impl std::fmt::Debug for AcceptStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptStream")
            .field("fd", &self.fd.raw_fd())
            .field("armed", &self.op.is_some())
            .field("cancelled", &self.cancelled)
            .finish()
    }
}

impl AcceptStream {
    pub(crate) fn new(fd: &SharedFd) -> io::Result<AcceptStream> {
        if crate::driver::op::is_legacy() {
            return Err(io::ErrorKind::Unsupported.into());
        }
        Ok(AcceptStream {
            fd: fd.clone(),
            op: Some(Op::accept_multi(fd)?),
            cancelled: false,
        })
    }

    /// The next accepted connection, or the error that ended the multishot (as
    /// `accept` reports it; unless cancelled, the next poll arms a new one). `None`
    /// only after `cancel`: every connection the kernel accepted was taken.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<TcpStream>>> {
        loop {
            let op = match &mut self.op {
                Some(op) => op,
                None if self.cancelled => return Poll::Ready(None),
                None => match Op::accept_multi(&self.fd) {
                    Ok(op) => self.op.insert(op),
                    Err(e) => return Poll::Ready(Some(Err(e))),
                },
            };
            match op.poll_queued(cx.waker()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(fd))) => {
                    let stream = SharedFd::new::<false>(fd as _).map(TcpStream::from_shared_fd);
                    return Poll::Ready(Some(stream));
                }
                // The final completion: the cancel asked for, or an error (arm again at
                // the next poll, after the caller's back-off).
                Poll::Ready(Some(Err(e))) => {
                    if self.cancelled && e.raw_os_error() == Some(libc::ECANCELED) {
                        continue;
                    }
                    return Poll::Ready(Some(Err(e)));
                }
                // Over without an error (or after the final one was taken).
                Poll::Ready(None) => self.op = None,
            }
        }
    }

    /// The next accepted connection (see `poll_next`).
    pub async fn next(&mut self) -> Option<io::Result<TcpStream>> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Stop accepting: the kernel is asked to cancel the operation (connections then
    /// wait in the listener's backlog). The connections it accepted before still come
    /// from `next`, which then returns `None`. Dropping the stream instead closes them.
    pub fn cancel(&mut self) {
        self.cancelled = true;
        if let Some(op) = &self.op {
            op.cancel();
        }
    }
}
