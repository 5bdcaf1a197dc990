//! The accept loop with one multishot accept (a child of `listener.rs`), io_uring only.
//!
//! One `IORING_OP_ACCEPT` with `IORING_ACCEPT_MULTISHOT` (a monoio patch,
//! vendor/PATCHES.md: `TcpListener::accept_multi`) stays armed while the loop accepts:
//! each connection is one completion, queued by the driver until the loop takes it.
//! The loop keeps the rules of the one-accept-at-a-time loop (`listener.rs`):
//! - **Connection limit.** At the limit the multishot is cancelled, so further
//!   connections wait in the kernel's backlog; the ones the kernel accepted before the
//!   cancel took effect are held here, in order, and served first once below the
//!   limit, before a new multishot is armed.
//! - **Stop** (the worker's, or a reload that drops the listener): the multishot is
//!   cancelled and every connection it accepted is served, then the held ones, then
//!   those left in the backlog (`take_queued`), as after a one-shot accept's cancel.
//! - **Bursts.** Connections already queued are taken without waiting: after
//!   `ACCEPT_BURST` of them in a row the other tasks run first (`AcceptBurst`), as with
//!   epoll.
//! - **Errors** (EMFILE, ENFILE...) end the kernel's multishot: counted and logged as
//!   any accept error, then the same 50 ms back-off, then a new multishot.
//! - **No peer address** from the kernel: one `getpeername` per connection (access
//!   log, rules, balancing by source and PROXY headers all want it at once).
//!
//! A kernel that refuses the flag (`EINVAL` before any connection was accepted) sends
//! the caller back to the one-accept-at-a-time loop.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use monoio::net::tcp::AcceptStream;
use monoio::net::{TcpListener, TcpStream};

use super::{accepted_one, noting_wait, until_stop, yield_to_queued, AcceptBurst};
use crate::worker::local::Flag;
use crate::worker::state::Worker;

/// How the multishot loop ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ended {
    /// The worker or the listener stopped; every accepted connection was served.
    Stopped,
    /// The runtime or the kernel has no multishot accept: use the one-shot loop.
    Refused,
}

/// What to do with an error of the multishot accept.
#[derive(Debug, PartialEq, Eq)]
enum OnError {
    /// The kernel does not know the flag: fall back to one accept at a time.
    FallBack,
    /// Count it, back off, arm again.
    BackOff,
}

/// The state of the loop's multishot, without the I/O: connections held while at the
/// limit, and whether the kernel ever accepted one (then `EINVAL` is an error of the
/// listener, not a kernel without the flag).
#[derive(Debug)]
struct Multishot<T> {
    held: VecDeque<T>,
    accepted_any: bool,
}

impl<T> Default for Multishot<T> {
    fn default() -> Self {
        Multishot {
            held: VecDeque::new(),
            accepted_any: false,
        }
    }
}

impl<T> Multishot<T> {
    fn accepted(&mut self) {
        self.accepted_any = true;
    }

    fn on_error(&self, e: &io::Error) -> OnError {
        let refused = matches!(e.kind(), io::ErrorKind::Unsupported)
            || e.raw_os_error() == Some(libc::EINVAL);
        if refused && !self.accepted_any {
            OnError::FallBack
        } else {
            OnError::BackOff
        }
    }

    /// A connection taken from a cancelled multishot: served once below the limit.
    fn hold(&mut self, conn: T) {
        self.held.push_back(conn);
    }

    /// The oldest connection held, served before any new accept.
    fn next_held(&mut self) -> Option<T> {
        self.held.pop_front()
    }
}

/// Accept with multishot accepts until the worker or the listener stops (see the
/// module's comment). `Refused` before anything was accepted: the caller goes on with
/// one accept at a time.
pub(super) async fn accept_multi(
    worker: &Rc<Worker>,
    listener: &TcpListener,
    addr: SocketAddr,
    frontend: &Cell<usize>,
    stop: &Flag,
) -> Ended {
    let mut state = Multishot::default();
    let mut armed: Option<AcceptStream> = None;
    let mut burst = AcceptBurst::default();
    loop {
        if worker.is_stopping() || stop.is_raised() {
            break;
        }
        if !below_limit_or_wait(worker, frontend, stop, &mut armed, &mut state).await {
            break;
        }
        let fe = frontend.get();
        if let Some(stream) = state.next_held() {
            take(worker, fe, stream);
            if burst.after_accept(false) {
                yield_to_queued().await;
            }
            continue;
        }
        let accepts = match &mut armed {
            Some(a) => a,
            None => match listener.accept_multi() {
                Ok(a) => armed.insert(a),
                Err(e) if state.on_error(&e) == OnError::FallBack => return Ended::Refused,
                Err(e) => {
                    worker.faults().accept_failed(worker.id(), addr, &e);
                    return Ended::Stopped;
                }
            },
        };
        let mut waited = false;
        let next = {
            let next = pin!(accepts.next());
            monoio::select! {
                r = noting_wait(next, &mut waited) => Some(r),
                _ = until_stop(worker, stop) => None,
            }
        };
        match next {
            None => break,
            Some(Some(Ok(stream))) => {
                state.accepted();
                take(worker, fe, stream);
            }
            Some(Some(Err(e))) if state.on_error(&e) == OnError::FallBack => return Ended::Refused,
            Some(Some(Err(e))) => {
                // EMFILE/ENFILE and the like: back off instead of spinning on the error.
                worker.faults().accept_failed(worker.id(), addr, &e);
                monoio::time::sleep(Duration::from_millis(50)).await;
            }
            // Not cancelled: not reached; armed again at the next turn.
            Some(None) => armed = None,
        }
        if burst.after_accept(waited) {
            yield_to_queued().await;
        }
    }
    // Stopping: what the kernel accepted is served, not lost (a binary upgrade counts
    // on that); the caller then takes what is left in the backlog.
    let fe = frontend.get();
    if let Some(mut accepts) = armed {
        accepts.cancel();
        while let Some(r) = accepts.next().await {
            if let Ok(stream) = r {
                take(worker, fe, stream);
            }
        }
    }
    while let Some(stream) = state.next_held() {
        take(worker, fe, stream);
    }
    Ended::Stopped
}

/// Below the connection limit now: true at once. At the limit: cancel the multishot
/// (connections then wait in the kernel's backlog), hold what it had accepted, and
/// wait; true once below the limit, false if the loop must stop.
async fn below_limit_or_wait(
    worker: &Rc<Worker>,
    frontend: &Cell<usize>,
    stop: &Flag,
    armed: &mut Option<AcceptStream>,
    state: &mut Multishot<TcpStream>,
) -> bool {
    let mut below = pin!(worker.until_below_limit(frontend.get()));
    let now = std::future::poll_fn(|cx| Poll::Ready(below.as_mut().poll(cx).is_ready())).await;
    if now {
        return true;
    }
    if let Some(mut accepts) = armed.take() {
        accepts.cancel();
        while let Some(r) = accepts.next().await {
            if let Ok(stream) = r {
                state.hold(stream);
            }
        }
    }
    monoio::select! {
        _ = below => true,
        _ = until_stop(worker, stop) => false,
    }
}

/// Serve a connection the multishot accepted: its peer address first (the kernel
/// gives none with a multishot accept). A client already gone is dropped.
fn take(worker: &Rc<Worker>, fe: usize, stream: TcpStream) {
    if let Ok(peer) = stream.peer_addr() {
        accepted_one(worker, fe, stream, peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn einval_before_any_connection_falls_back_after_one_backs_off() {
        let mut m = Multishot::<u32>::default();
        let einval = io::Error::from_raw_os_error(libc::EINVAL);
        let unsupported = io::Error::from(io::ErrorKind::Unsupported);
        assert_eq!(m.on_error(&einval), OnError::FallBack);
        assert_eq!(m.on_error(&unsupported), OnError::FallBack);
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(m.on_error(&emfile), OnError::BackOff);
        m.accepted();
        assert_eq!(m.on_error(&einval), OnError::BackOff);
        assert_eq!(m.on_error(&emfile), OnError::BackOff);
    }

    #[test]
    fn connections_held_at_the_limit_come_out_in_order() {
        let mut m = Multishot::<u32>::default();
        assert_eq!(m.next_held(), None);
        for c in 1..=3 {
            m.hold(c);
        }
        assert_eq!(m.next_held(), Some(1));
        m.hold(4);
        let rest: Vec<u32> = std::iter::from_fn(|| m.next_held()).collect();
        assert_eq!(rest, [2, 3, 4]);
    }
}
