//! The armed wait on an idle server connection (a child of `pool.rs`): while a
//! connection sits in the pool, a readiness wait for reading is in flight on it. Plain
//! TCP: io_uring, one `POLL_ADD`, pushed with the next submission; epoll: the
//! descriptor is registered already, so the wait is the runtime's readiness state.
//! TLS in readiness mode (either driver): the runtime's readiness state of its socket,
//! polled through rustls ([`tls_look`]). Data or EOF ends the wait: the pool's watcher
//! task is woken and closes the connection at once (TLS: unless the records were only
//! handshake messages, such as the session tickets TLS 1.3 servers send after the
//! handshake, often after the first response; see [`tls_verdict`]). Taking the
//! connection for reuse disarms the wait without a syscall: the wait is polled once
//! more (it fired: closed; else quiet) and its readiness future dropped, which on
//! io_uring queues its cancel for the next submission (the request's write, usually).
//!
//! monoio's readiness wait borrows its socket, so a plain one runs inside a [`Waiter`]:
//! a future that is handed the connection, owns it while armed, and hands it back when
//! the wait fires or is disarmed (disarming is one more poll under [`DISARMING`]). A
//! waiter is made once and kept for the next connection (a per-thread spare list), so
//! arming allocates nothing. A TLS connection in readiness mode needs no future: its
//! look is a poll of the socket's read. One the driver kept in completion mode (monoio's
//! TLS stream, which does not lend its socket) is checked by a peek when taken.

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

/// An idle connection with its wait in flight (plain TCP, or TLS in readiness mode), or
/// kept for a peek (TLS in completion mode). The `Option`s are taken when it is
/// disarmed or closed; `Some` until then.
pub(super) enum Armed {
    Waiting { waiter: Option<Waiter>, fd: RawFd },
    Tls(Option<ServerStream>),
    Peeked(Option<ServerStream>),
}

impl Armed {
    /// Arm a wait on `stream`, polled first with `waker` (the pool's watcher, or a
    /// no-op one); `Err` when it fired at once (it was closed or held bytes already).
    pub(super) fn arm(mut stream: ServerStream, waker: &Waker) -> Result<Armed, ServerStream> {
        let mut cx = Context::from_waker(waker);
        if let Some(fired) = tls_fired(&mut stream, &mut cx) {
            return if fired {
                Err(stream)
            } else {
                Ok(Armed::Tls(Some(stream)))
            };
        }
        if !matches!(stream, ServerStream::Plain(_)) {
            return Ok(Armed::Peeked(Some(stream)));
        }
        let fd = stream.raw_fd();
        let mut waiter = SPARE
            .with_borrow_mut(|spare| spare.pop())
            .unwrap_or_else(Waiter::new);
        waiter.hand.stream.set(Some(stream));
        match waiter.poll(&mut cx) {
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

/// What one look at an idle TLS connection found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TlsSeen {
    /// Nothing came (the look waits for the socket's readiness).
    Nothing,
    /// Records came and rustls processed them: the plaintext it now holds, whether a
    /// close_notify was among them, whether the socket reached its end.
    Records {
        plaintext: usize,
        close_notify: bool,
        eof: bool,
    },
    /// The read failed, or rustls refused the records.
    Failed,
}

/// What the wait does after one look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Stays armed: nothing came.
    Quiet,
    /// Only handshake messages came (session tickets, a key update; or part of a
    /// record): look again, so that the wait is armed anew (or more came).
    Again,
    /// Plaintext (a response nobody asked for), a close_notify, the end, an error: the
    /// connection is closed.
    Close,
}

/// The decision for one look at an idle TLS connection. (Part of a record tells
/// nothing yet: the rest wakes the wait again. A connection taken between the two
/// parts reads the record with the next response, as with bytes that come after the
/// request went out: rustls does not say how much of a record it holds.)
pub(super) fn tls_verdict(seen: TlsSeen) -> Verdict {
    match seen {
        TlsSeen::Nothing => Verdict::Quiet,
        TlsSeen::Records {
            plaintext: 0,
            close_notify: false,
            eof: false,
        } => Verdict::Again,
        TlsSeen::Records { .. } | TlsSeen::Failed => Verdict::Close,
    }
}

/// Looks at one idle TLS connection per wake-up at most, past which a peer that keeps
/// sending handshake messages has its connection closed.
pub(super) const TLS_LOOKS_MAX: usize = 8;

/// Look (`look`: one read into rustls) until the connection is quiet or must close;
/// `true`: it must close.
pub(super) fn tls_settle(mut look: impl FnMut() -> TlsSeen) -> bool {
    for _ in 0..TLS_LOOKS_MAX {
        match tls_verdict(look()) {
            Verdict::Quiet => return false,
            Verdict::Close => return true,
            Verdict::Again => {}
        }
    }
    true
}

/// One look at `stream` if it is TLS in readiness mode (`None` otherwise).
fn tls_look(stream: &mut ServerStream, cx: &mut Context<'_>) -> Option<TlsSeen> {
    Some(match stream.poll_idle(cx)? {
        Poll::Pending => TlsSeen::Nothing,
        Poll::Ready(Err(_)) => TlsSeen::Failed,
        Poll::Ready(Ok((more, state))) => TlsSeen::Records {
            plaintext: state.plaintext_bytes_to_read(),
            close_notify: state.peer_has_closed(),
            eof: !more,
        },
    })
}

/// Whether the wait on `stream` fired, if it is TLS in readiness mode (`None`
/// otherwise): its looks until quiet, with `cx`'s waker left on its socket.
fn tls_fired(stream: &mut ServerStream, cx: &mut Context<'_>) -> Option<bool> {
    let first = tls_look(stream, cx)?;
    let mut first = Some(first);
    Some(tls_settle(|| {
        first
            .take()
            .or_else(|| tls_look(stream, cx))
            .unwrap_or(TlsSeen::Failed)
    }))
}

impl Watched for Armed {
    type Conn = ServerStream;

    fn fired(&mut self, cx: &mut Context<'_>) -> bool {
        if let Armed::Tls(stream) = self {
            let fired = stream
                .as_mut()
                .is_some_and(|s| tls_fired(s, cx).unwrap_or(true));
            if fired {
                // Closed plainly, as below.
                drop(stream.take());
            }
            return fired;
        }
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
            Armed::Tls(s) => {
                let mut s = s.take()?;
                let mut cx = Context::from_waker(Waker::noop());
                // One that fired is closed plainly as it drops.
                (!tls_fired(&mut s, &mut cx).unwrap_or(true)).then_some(s)
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
            Armed::Tls(s) | Armed::Peeked(s) => s.as_ref().map_or(-1, ServerStream::raw_fd),
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
