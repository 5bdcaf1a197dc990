//! The armed wait on an idle server connection (a child of `pool.rs`): while a
//! connection sits in the pool, a readiness wait for reading is in flight on it. Plain
//! TCP on io_uring: the connection's own multishot `POLL_ADD` ([`ReadWatch`], a monoio
//! patch, vendor/PATCHES.md), armed at its first give-back and kept for its life: see
//! "One wait per connection" below. Plain TCP on epoll: the descriptor is registered
//! already, so the wait is the runtime's readiness state ([`Waiter`]).
//! TLS in readiness mode (either driver): the runtime's readiness state of its socket,
//! polled through rustls ([`tls_look`]). Data or EOF ends the wait: the pool's watcher
//! task is woken and closes the connection at once (TLS: unless the records were only
//! handshake messages, such as the session tickets TLS 1.3 servers send after the
//! handshake, often after the first response; see [`tls_verdict`]). Taking the
//! connection for reuse disarms the wait without a syscall: the wait is looked at once
//! more (it fired: closed, or for the multishot watch, peeked at; else quiet).
//!
//! ## One wait per connection (io_uring, plain TCP)
//!
//! The watch stays armed while the connection carries requests too; it then wakes
//! nobody, it only notes that it fired (the response's data fires it). Give-back: one
//! look with the watcher's waker ([`may_stay`]), which forgets what fired so far and
//! wakes the watcher on the next event; take: one look without a waker, which stops
//! the waking. Neither is a ring operation or a syscall; the connection's life costs
//! one `POLL_ADD` and, as it closes, one `ASYNC_CANCEL` (today's one-shot wait cost
//! both per request). A look that finds the watch fired cannot tell a late byte from
//! the response's own data (the `RECV` that read it and the poll's completion come
//! from the same wake-up of the socket, reaped in either order, or in different
//! turns), so it makes one `recv(MSG_PEEK | MSG_DONTWAIT)`: `EAGAIN`, the event was
//! stale and the connection stays; data, EOF or an error, it is closed, as today.
//!
//! Why isolation holds exactly as with the one-shot wait armed at give-back: that
//! wait reports what is readable when armed and every later arrival. Here, a byte
//! that arrived before the give-back (while the connection carried a request, after
//! its response was read) either had its event reaped by then, and the give-back's
//! look finds the watch fired and the peek finds the byte; or its event is reaped
//! later, and fires the watch while idle (the watcher peeks, closes). A byte that
//! arrives while idle is a wake-up of the socket, which the multishot poll (armed the
//! whole time, never disarmed) turns into a completion: the watch fires. Between a
//! byte's arrival and the reaping of its completion, a take hands the connection out
//! just as it would with the one-shot wait, whose completion would be as unreaped:
//! the window is the same. The peek only ever keeps a connection whose socket holds
//! nothing at that moment, which is what the one-shot wait would have found quiet.
//!
//! monoio's readiness wait borrows its socket, so a plain one on epoll runs inside a
//! [`Waiter`]: a future that is handed the connection, owns it while armed, and hands
//! it back when the wait fires or is disarmed (disarming is one more poll under
//! [`DISARMING`]). A waiter is made once and kept for the next connection (a
//! per-thread spare list), so arming allocates nothing. A TLS connection in readiness
//! mode needs no future: its look is a poll of the socket's read. One the driver kept
//! in completion mode (monoio's TLS stream, which does not lend its socket) is checked
//! by a peek when taken.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::RawFd;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use monoio::net::tcp::ReadWatch;

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
    Waiting {
        waiter: Option<Waiter>,
        fd: RawFd,
    },
    /// Plain TCP on io_uring: the stream's own multishot watch, woken by its events.
    Watch(Option<ServerStream>),
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
        if own_watch(&mut stream).is_ok() {
            // What fired while it carried a request is looked at, and forgotten.
            return if may_stay(&mut stream, Some(&mut cx)) {
                Ok(Armed::Watch(Some(stream)))
            } else {
                Err(stream)
            };
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

/// A plain connection's own multishot watch (armed at the first call); `Err` on the
/// epoll driver (`Unsupported`: the [`Waiter`] is used there) or for other streams.
fn own_watch(stream: &mut ServerStream) -> io::Result<&mut ReadWatch> {
    match stream {
        ServerStream::Plain(tcp) => tcp.own_read_watch(),
        _ => Err(io::ErrorKind::Unsupported.into()),
    }
}

/// An idle connection's multishot watch as [`may_stay`] sees it (faked in the tests).
pub(super) trait Look {
    /// Whether the watch fired since the last look (forgotten once reported); with
    /// `cx`, its waker is woken by the next event, else nobody is.
    fn look(&mut self, cx: Option<&mut Context<'_>>) -> io::Result<bool>;
    /// The peek: nothing is there to read (the socket would block).
    fn quiet(&self) -> bool;
}

impl Look for ServerStream {
    fn look(&mut self, cx: Option<&mut Context<'_>>) -> io::Result<bool> {
        let watch = own_watch(self)?;
        match cx {
            None => watch.take_fired(),
            Some(cx) => match watch.poll_fired(cx) {
                Poll::Pending => Ok(false),
                Poll::Ready(r) => r.map(|()| true),
            },
        }
    }

    fn quiet(&self) -> bool {
        super::still_open(self)
    }
}

/// One look at a connection's watch (`cx`: with the watcher's waker, as it goes idle
/// or while idle; `None`: as it is taken): whether the connection may stay or be
/// used. Quiet: yes, no syscall. Fired: the one peek decides (stale: nothing there).
/// A failed look (the watch could not be armed again): no.
pub(super) fn may_stay<L: Look>(conn: &mut L, cx: Option<&mut Context<'_>>) -> bool {
    match conn.look(cx) {
        Ok(false) => true,
        Ok(true) => conn.quiet(),
        Err(_) => false,
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
        if let Armed::Watch(stream) = self {
            let fired = stream.as_mut().is_some_and(|s| !may_stay(s, Some(cx)));
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
            // One that fired and holds bytes, or is closed, is closed plainly as it drops.
            Armed::Watch(s) => {
                let mut s = s.take()?;
                may_stay(&mut s, None).then_some(s)
            }
        }
    }

    fn give_up(&self) {
        let fd = match self {
            Armed::Waiting {
                waiter: Some(_),
                fd,
            } => *fd,
            Armed::Waiting { .. } => -1,
            Armed::Tls(s) | Armed::Peeked(s) | Armed::Watch(s) => {
                s.as_ref().map_or(-1, ServerStream::raw_fd)
            }
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
