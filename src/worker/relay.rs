//! The byte relay of a TCP session: client→server and server→client copy at the same
//! time in one task, each with its own reused buffer. A FIN on one side becomes a
//! `shutdown(Write)` on the other (half-close), and the relay ends when both
//! directions have finished. A watchdog ends it when a side has been inactive (no
//! byte read from or written to it) for its timeout; once a direction has closed, a
//! side's `*_fin` timeout (when set) replaces its timeout, counted from the close or
//! its last byte, whichever is later (HAProxy's `timeout client-fin`/`server-fin`).

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, Splitable};

use super::error::{SessionError, Side};
use crate::tls::{ClientStream, ServerStream};

/// Inactivity limits of each side.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub client: Duration,
    pub server: Duration,
    /// Once a direction is closed: the client side's limit instead of `client`.
    pub client_fin: Option<Duration>,
    /// Once a direction is closed: the server side's limit instead of `server`.
    pub server_fin: Option<Duration>,
}

/// Bytes moved each way.
#[derive(Debug, Default, Clone, Copy)]
pub struct RelayStats {
    pub to_server: u64,
    pub to_client: u64,
}

/// Last time each side moved a byte, and when the first direction ended.
pub(super) struct Activity {
    client: Cell<Instant>,
    server: Cell<Instant>,
    ended: Cell<Option<Instant>>,
    /// The watchdog, while it waits for a direction to end (only with a `*_fin`
    /// timeout): woken then, since the deadlines change.
    watchdog: Cell<Option<Waker>>,
}

impl Activity {
    pub(super) fn new() -> Activity {
        let now = Instant::now();
        Activity {
            client: Cell::new(now),
            server: Cell::new(now),
            ended: Cell::new(None),
            watchdog: Cell::new(None),
        }
    }

    /// A direction read EOF: whether it is the first one to (its time is kept, and the
    /// watchdog woken: the `*_fin` timeouts apply from now).
    pub(super) fn half_close(&self) -> bool {
        if self.ended.get().is_some() {
            return false;
        }
        self.ended.set(Some(Instant::now()));
        if let Some(w) = self.watchdog.take() {
            w.wake();
        }
        true
    }

    /// A direction of a plain TCP relay read EOF: whether its FIN must be passed on
    /// with a `shutdown`. Only for the first direction to end: when the second one
    /// does, the relay ends and both sockets are closed at once, and a close sends the
    /// FIN itself (the socket to be shut has nothing unread: its own EOF was read
    /// already). One syscall or ring operation less per connection. (Not over TLS,
    /// where the shutdown also sends the close_notify.)
    pub(super) fn pass_fin(&self) -> bool {
        self.half_close()
    }

    /// A byte moved from or to `side`. The time is the runtime's last clock read (at
    /// most one turn of the worker's loop old, a millisecond or less under load), not
    /// a clock read per read and per write: the timeouts it feeds count in seconds.
    pub(super) fn touch(&self, side: Side) {
        let now = monoio::time::coarse_now();
        match side {
            Side::Client => self.client.set(now),
            Side::Server => self.server.set(now),
        }
    }
}

/// Relay until both directions are closed. The buffers come back when the relay ends
/// cleanly so the worker can reuse them. A TLS connection the driver kept out of
/// readiness mode (it could not register the socket: short of resources) is refused:
/// its stream cannot be read and written at once safely (see `tls::TlsConn`).
pub async fn relay(
    client: ClientStream,
    server: ServerStream,
    timeouts: Timeouts,
    buffers: (Vec<u8>, Vec<u8>),
) -> Result<(RelayStats, Vec<u8>, Vec<u8>), SessionError> {
    if !client.splits_safely() || !server.splits_safely() {
        return Err(SessionError::Local(io::Error::other(
            "a TLS connection outside readiness mode cannot be relayed",
        )));
    }
    let activity = Activity::new();
    let (client_rd, client_wr) = client.into_split();
    let (server_rd, server_wr) = server.into_split();
    let upstream = copy_half(client_rd, server_wr, buffers.0, Side::Client, &activity);
    let downstream = copy_half(server_rd, client_wr, buffers.1, Side::Server, &activity);
    let both = futures_util::future::try_join(upstream, downstream);
    supervise(both, &activity, timeouts).await.map(totals)
}

/// Both directions' byte counts and buffers, as a relay returns them.
pub(super) fn totals(
    ((to_server, b0), (to_client, b1)): ((u64, Vec<u8>), (u64, Vec<u8>)),
) -> (RelayStats, Vec<u8>, Vec<u8>) {
    let stats = RelayStats {
        to_server,
        to_client,
    };
    (stats, b0, b1)
}

/// Run both directions of a relay, or end it when a side stays inactive too long.
pub(super) async fn supervise<T>(
    both: impl Future<Output = Result<T, SessionError>>,
    activity: &Activity,
    timeouts: Timeouts,
) -> Result<T, SessionError> {
    monoio::select! {
        done = both => done,
        side = watchdog(activity, timeouts) => Err(SessionError::Timeout(side)),
    }
}

/// Copy one direction until EOF, then half-close the other side's write direction.
async fn copy_half<R: AsyncReadRent, W: AsyncWriteRent>(
    mut from: R,
    mut to: W,
    mut buf: Vec<u8>,
    from_side: Side,
    activity: &Activity,
) -> Result<(u64, Vec<u8>), SessionError> {
    let mut total = 0u64;
    loop {
        let n = copy_once(&mut from, &mut to, &mut buf, from_side, activity).await?;
        if n == 0 {
            // FIN from `from`: pass it on, keep the other direction running. (Always
            // with a shutdown here: over TLS it also sends the close_notify.)
            activity.half_close();
            let _ = to.shutdown().await;
            return Ok((total, buf));
        }
        total += n as u64;
    }
}

/// One read from `from` into `buf`, written whole to `to`: the bytes moved, 0 at EOF.
async fn copy_once<R: AsyncReadRent, W: AsyncWriteRent>(
    from: &mut R,
    to: &mut W,
    buf: &mut Vec<u8>,
    from_side: Side,
    activity: &Activity,
) -> Result<usize, SessionError> {
    let (res, b) = from.read(std::mem::take(buf)).await;
    *buf = b;
    let n = res.map_err(|e| SessionError::Io(from_side, e))?;
    if n > 0 {
        pass_on(to, buf, from_side, activity).await?;
    }
    Ok(n)
}

/// The bytes just read from `from_side` (all of `buf`), written whole to the other
/// side; both sides' activity noted.
pub(super) async fn pass_on<W: AsyncWriteRent>(
    to: &mut W,
    buf: &mut Vec<u8>,
    from_side: Side,
    activity: &Activity,
) -> Result<(), SessionError> {
    activity.touch(from_side);
    let (res, b) = to.write_all(std::mem::take(buf)).await;
    *buf = b;
    res.map_err(|e| SessionError::Io(from_side.other(), e))?;
    activity.touch(from_side.other());
    Ok(())
}

/// Resolves with the side that stayed inactive past its timeout. Sleeps until the
/// earliest deadline, so an active connection costs one timer wake per timeout period
/// (and, with a `*_fin` timeout, one more when the first direction ends).
async fn watchdog(activity: &Activity, t: Timeouts) -> Side {
    loop {
        let ended = activity.ended.get();
        let (side, deadline) = earliest(
            deadline(activity.client.get(), t.client, t.client_fin, ended),
            deadline(activity.server.get(), t.server, t.server_fin, ended),
        );
        if Instant::now() >= deadline {
            return side;
        }
        // From the worker's spare timer slots: a `Sleep` held inline would make every
        // TCP session's future 128-byte aligned (`timer.rs`), its box an aligned
        // allocation.
        let sleep = super::timer::sleep_until(deadline.into());
        if ended.is_some() || (t.client_fin.is_none() && t.server_fin.is_none()) {
            sleep.await;
            continue;
        }
        let closed = std::future::poll_fn(|cx| {
            if activity.ended.get().is_some() {
                return Poll::Ready(());
            }
            activity.watchdog.set(Some(cx.waker().clone()));
            Poll::Pending
        });
        monoio::select! {
            _ = sleep => {},
            _ = closed => {},
        }
    }
}

/// A side's deadline: its last byte plus its timeout, or, once a direction has
/// ended and the side has a `fin` timeout, the later of its last byte and the end
/// plus that.
fn deadline(
    last: Instant,
    open: Duration,
    fin: Option<Duration>,
    ended: Option<Instant>,
) -> Instant {
    match (fin, ended) {
        (Some(fin), Some(at)) => last.max(at) + fin,
        _ => last + open,
    }
}

/// The side whose deadline comes first (the client's on a tie).
fn earliest(client: Instant, server: Instant) -> (Side, Instant) {
    if client <= server {
        (Side::Client, client)
    } else {
        (Side::Server, server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fin_timeouts_replace_the_open_ones_once_a_direction_ended() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        // Still open: the side's own timeout, fin or not.
        assert_eq!(deadline(t0, s(30), Some(s(2)), None), t0 + s(30));
        // Ended after the last byte: counted from the end.
        assert_eq!(deadline(t0, s(30), Some(s(2)), Some(t0 + s(5))), t0 + s(7));
        // A byte after the end: counted from it.
        assert_eq!(
            deadline(t0 + s(9), s(30), Some(s(2)), Some(t0 + s(5))),
            t0 + s(11)
        );
        // No fin timeout: unchanged by the end.
        assert_eq!(deadline(t0, s(30), None, Some(t0 + s(5))), t0 + s(30));
        // Longer than the open one: it replaces it all the same (HAProxy does).
        assert_eq!(deadline(t0, s(1), Some(s(20)), Some(t0)), t0 + s(20));
        assert_eq!(earliest(t0, t0), (Side::Client, t0));
        assert_eq!(earliest(t0 + s(1), t0), (Side::Server, t0));
    }

    #[test]
    fn only_the_first_end_counts() {
        let a = Activity::new();
        assert!(a.ended.get().is_none());
        assert!(a.half_close());
        let at = a.ended.get();
        assert!(at.is_some());
        assert!(!a.half_close());
        assert!(!a.pass_fin());
        assert_eq!(a.ended.get(), at);
    }
}
