//! The armed wait on an idle server connection (a child of `pool.rs`): while a plain
//! TCP connection sits in the pool, a readiness wait for reading is in flight on it
//! (io_uring: one `POLL_ADD`, pushed with the next submission; epoll: the descriptor
//! is registered already, so the wait is the runtime's readiness state). Data or EOF
//! ends the wait: the pool's watcher task is woken and closes the connection at once.
//! Taking the connection for reuse disarms the wait without a syscall: the wait is
//! polled once more (it fired: dropped; else quiet) and dropped, which on io_uring
//! queues its cancel for the next submission (the request's own write, usually).
//!
//! The wait owns its connection (a future that borrows the socket it owns, boxed so
//! it does not move), so nothing can use the connection while the wait is armed.
//! TLS connections have no wait here (the TLS stream does not lend its socket): they
//! are checked by a peek when taken, as before.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::os::fd::RawFd;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

use crate::tls::ServerStream;

thread_local! {
    /// Raised while [`Armed::disarm`] polls a wait: the wait then ends quietly and
    /// gives its connection back.
    static DISARMING: Cell<bool> = const { Cell::new(false) };
}

/// How an armed wait ended, with its connection.
pub(super) enum Woke {
    /// Data, EOF or an error on the socket while it was idle.
    Fired(ServerStream),
    /// Disarmed for reuse: nothing arrived.
    Quiet(ServerStream),
}

type Wait = Pin<Box<dyn Future<Output = Woke>>>;

/// What the pool keeps of one idle connection, as the pool sees it: the pool's rules
/// (`take_from`, the watcher) need only this, so they are tested with fakes.
pub(super) trait Watched: Sized {
    /// The connection handed out for reuse.
    type Conn;
    /// Whether the wait fired (data or EOF arrived); polls it with `cx`'s waker.
    fn fired(&mut self, cx: &mut Context<'_>) -> bool;
    /// The connection back for reuse, `None` if it turned out to have fired (it is
    /// then closed).
    fn disarm(self) -> Option<Self::Conn>;
    /// It is given up while quiet: its close will be a reset.
    fn give_up(&self);
}

/// An idle connection with its wait in flight (plain TCP), or kept for a peek (TLS).
pub(super) enum Armed {
    Waiting { wait: Wait, fd: RawFd },
    Peeked(ServerStream),
}

impl Armed {
    /// Arm the wait on `stream`, polled first with `waker` (the pool's watcher, or a
    /// no-op one); `Err` when it fired at once (it was closed or held bytes already).
    pub(super) fn arm(stream: ServerStream, waker: &Waker) -> Result<Armed, ServerStream> {
        if !matches!(stream, ServerStream::Plain(_)) {
            return Ok(Armed::Peeked(stream));
        }
        let fd = stream.raw_fd();
        let mut wait: Wait = Box::pin(watch(stream));
        match wait.as_mut().poll(&mut Context::from_waker(waker)) {
            Poll::Ready(Woke::Fired(s) | Woke::Quiet(s)) => Err(s),
            Poll::Pending => Ok(Armed::Waiting { wait, fd }),
        }
    }
}

impl Watched for Armed {
    type Conn = ServerStream;

    fn fired(&mut self, cx: &mut Context<'_>) -> bool {
        match self {
            Armed::Waiting { wait, .. } => wait.as_mut().poll(cx).is_ready(),
            Armed::Peeked(_) => false,
        }
    }

    fn disarm(self) -> Option<ServerStream> {
        match self {
            Armed::Waiting { mut wait, .. } => {
                DISARMING.set(true);
                let woke = wait.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                DISARMING.set(false);
                match woke {
                    Poll::Ready(Woke::Quiet(s)) => Some(s),
                    // Closed plainly: the server closed first, or the kernel resets a
                    // socket closed with bytes unread.
                    Poll::Ready(Woke::Fired(_)) | Poll::Pending => None,
                }
            }
            Armed::Peeked(s) => super::still_open(&s).then_some(s),
        }
    }

    fn give_up(&self) {
        let fd = match self {
            Armed::Waiting { fd, .. } => *fd,
            Armed::Peeked(s) => s.raw_fd(),
        };
        super::no_linger(fd);
    }
}

/// The wait: ends when the socket turns readable (data, EOF, error), or quietly when
/// polled under [`DISARMING`] (readiness is looked at first, so bytes seen by the
/// runtime by then still count).
async fn watch(stream: ServerStream) -> Woke {
    let fired = match &stream {
        ServerStream::Plain(tcp) => {
            let mut ready = pin!(tcp.readable(false));
            poll_fn(|cx| {
                if ready.as_mut().poll(cx).is_ready() {
                    Poll::Ready(true)
                } else if DISARMING.get() {
                    Poll::Ready(false)
                } else {
                    Poll::Pending
                }
            })
            .await
        }
        _ => true,
    };
    if fired {
        Woke::Fired(stream)
    } else {
        Woke::Quiet(stream)
    }
}
