//! The armed wait on an idle server connection (a child of `pool.rs`): while a plain
//! TCP connection sits in the pool, a readiness wait for reading is in flight on it
//! (io_uring: one `POLL_ADD`, pushed with the next submission; epoll: the descriptor
//! is registered already, so the wait is the runtime's readiness state). Data or EOF
//! ends the wait: the pool's watcher task is woken and closes the connection at once.
//! Taking the connection for reuse disarms the wait without a syscall: the wait is
//! polled once more (it fired: closed; else quiet) and its readiness future dropped,
//! which on io_uring queues its cancel for the next submission (the request's write,
//! usually).
//!
//! monoio's readiness wait borrows its socket, so it runs inside a [`Waiter`]: a future
//! that is handed the connection, owns it while armed, and hands it back when the wait
//! fires or is disarmed (disarming is one more poll under [`DISARMING`]). A waiter is
//! made once and kept for the next connection (a per-thread spare list), so arming
//! allocates nothing. TLS connections have no wait here (the TLS stream does not lend
//! its socket): they are checked by a peek when taken, as before.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::os::fd::RawFd;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::tls::ServerStream;

/// Spare waiters kept per thread past what is armed (more are freed).
const SPARE_MAX: usize = 1024;

thread_local! {
    /// Raised while a waiter is polled to disarm it: it then gives its connection back.
    static DISARMING: Cell<bool> = const { Cell::new(false) };
    /// Waiters not armed now, for the next connections.
    static SPARE: RefCell<Vec<Waiter>> = const { RefCell::new(Vec::new()) };
}

/// What the pool keeps of one idle connection, as the pool sees it: the pool's rules
/// (`take_from`, the watcher) need only this, so they are tested with fakes.
pub(super) trait Watched: Sized {
    /// The connection handed out for reuse.
    type Conn;
    /// Whether the wait fired (data or EOF arrived); polls it with `cx`'s waker. A
    /// fired one is closed as it drops.
    fn fired(&mut self, cx: &mut Context<'_>) -> bool;
    /// The connection back for reuse, `None` if it turned out to have fired (it is
    /// then closed).
    fn disarm(self) -> Option<Self::Conn>;
    /// It is given up while quiet: its close will be a reset.
    fn give_up(&self);
}

/// The hand-over between the pool and one waiter.
#[derive(Default)]
struct Hand {
    /// The connection handed in (to arm) or back (fired or disarmed).
    stream: Cell<Option<ServerStream>>,
    /// The connection came back because its wait fired.
    fired: Cell<bool>,
}

/// A reusable wait: see the module's comment.
pub(super) struct Waiter {
    hand: Rc<Hand>,
    run: Pin<Box<dyn Future<Output = ()>>>,
}

impl Waiter {
    fn new() -> Waiter {
        let hand = Rc::new(Hand::default());
        let run = Box::pin(serve(Rc::clone(&hand)));
        Waiter { hand, run }
    }

    /// Poll; the connection once it has come back, and whether its wait fired.
    fn poll(&mut self, cx: &mut Context<'_>) -> Option<(ServerStream, bool)> {
        let _ = self.run.as_mut().poll(cx);
        let back = self.hand.stream.take()?;
        Some((back, self.hand.fired.get()))
    }

    /// Poll under [`DISARMING`]: the connection comes back (an armed waiter answers at
    /// once), `Err` if its wait had fired.
    fn disarm(&mut self) -> Option<Result<ServerStream, ServerStream>> {
        DISARMING.set(true);
        let back = self.poll(&mut Context::from_waker(Waker::noop()));
        DISARMING.set(false);
        back.map(|(s, fired)| if fired { Err(s) } else { Ok(s) })
    }

    /// Back to the spare list (or freed past [`SPARE_MAX`]).
    fn spare(self) {
        SPARE.with_borrow_mut(|spare| {
            if spare.len() < SPARE_MAX {
                spare.push(self);
            }
        });
    }
}

/// A waiter's life: take a connection, wait on it until it fires or is disarmed, give
/// it back, again.
async fn serve(hand: Rc<Hand>) {
    loop {
        let stream = poll_fn(|_| match hand.stream.take() {
            Some(s) => Poll::Ready(s),
            None => Poll::Pending,
        })
        .await;
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
        hand.fired.set(fired);
        hand.stream.set(Some(stream));
        // Once: the connection is taken out of `hand` before the next poll, which
        // hands in the next one.
        let mut yielded = false;
        poll_fn(|_| {
            if yielded {
                return Poll::Ready(());
            }
            yielded = true;
            Poll::Pending
        })
        .await;
    }
}

/// An idle connection with its wait in flight (plain TCP), or kept for a peek (TLS).
/// The `Option`s are taken when it is disarmed or closed; `Some` until then.
pub(super) enum Armed {
    Waiting { waiter: Option<Waiter>, fd: RawFd },
    Peeked(Option<ServerStream>),
}

impl Armed {
    /// Arm a wait on `stream`, polled first with `waker` (the pool's watcher, or a
    /// no-op one); `Err` when it fired at once (it was closed or held bytes already).
    pub(super) fn arm(stream: ServerStream, waker: &Waker) -> Result<Armed, ServerStream> {
        if !matches!(stream, ServerStream::Plain(_)) {
            return Ok(Armed::Peeked(Some(stream)));
        }
        let fd = stream.raw_fd();
        let mut waiter = SPARE
            .with_borrow_mut(|spare| spare.pop())
            .unwrap_or_else(Waiter::new);
        waiter.hand.stream.set(Some(stream));
        match waiter.poll(&mut Context::from_waker(waker)) {
            None => Ok(Armed::Waiting {
                waiter: Some(waiter),
                fd,
            }),
            Some((back, _)) => {
                waiter.spare();
                Err(back)
            }
        }
    }
}

impl Watched for Armed {
    type Conn = ServerStream;

    fn fired(&mut self, cx: &mut Context<'_>) -> bool {
        let Armed::Waiting { waiter, .. } = self else {
            return false;
        };
        let Some((back, _)) = waiter.as_mut().and_then(|w| w.poll(cx)) else {
            return false;
        };
        // Closed plainly: the server closed first, or the kernel resets a socket
        // closed with bytes unread.
        drop(back);
        if let Some(w) = waiter.take() {
            w.spare();
        }
        true
    }

    fn disarm(mut self) -> Option<ServerStream> {
        match &mut self {
            Armed::Waiting { waiter, .. } => {
                let mut w = waiter.take()?;
                let back = w.disarm();
                w.spare();
                back?.ok() // one that fired is closed plainly as it drops
            }
            Armed::Peeked(s) => s.take().filter(super::still_open),
        }
    }

    fn give_up(&self) {
        let fd = match self {
            Armed::Waiting {
                waiter: Some(_),
                fd,
            } => *fd,
            Armed::Waiting { .. } => -1,
            Armed::Peeked(s) => s.as_ref().map_or(-1, ServerStream::raw_fd),
        };
        if fd >= 0 {
            super::no_linger(fd);
        }
    }
}

impl Drop for Armed {
    /// A waiter still armed (its connection given up) gives its connection back, which
    /// closes as it drops here, and goes back to the spare list.
    fn drop(&mut self) {
        if let Armed::Waiting { waiter, .. } = self {
            if let Some(mut w) = waiter.take() {
                drop(w.disarm());
                w.spare();
            }
        }
    }
}
