//! The byte relay of a TCP session: client→server and server→client copy at the same
//! time in one task, each with its own reused buffer. A FIN on one side becomes a
//! `shutdown(Write)` on the other (half-close), and the relay ends when both
//! directions have finished. A watchdog ends it when a side has been inactive (no
//! byte read from or written to it) for its timeout.

use std::cell::Cell;
use std::future::Future;
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, Split, Splitable};

use super::error::{SessionError, Side};

/// Inactivity limits of each side.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub client: Duration,
    pub server: Duration,
}

/// Bytes moved each way.
#[derive(Debug, Default, Clone, Copy)]
pub struct RelayStats {
    pub to_server: u64,
    pub to_client: u64,
}

/// Last time each side moved a byte, and whether a direction has ended.
pub(super) struct Activity {
    client: Cell<Instant>,
    server: Cell<Instant>,
    ended: Cell<bool>,
}

impl Activity {
    pub(super) fn new() -> Activity {
        let now = Instant::now();
        Activity {
            client: Cell::new(now),
            server: Cell::new(now),
            ended: Cell::new(false),
        }
    }

    /// A direction of a plain TCP relay read EOF: whether its FIN must be passed on
    /// with a `shutdown`. Only for the first direction to end: when the second one
    /// does, the relay ends and both sockets are closed at once, and a close sends the
    /// FIN itself (the socket to be shut has nothing unread: its own EOF was read
    /// already). One syscall or ring operation less per connection. (Not over TLS,
    /// where the shutdown also sends the close_notify.)
    pub(super) fn pass_fin(&self) -> bool {
        !self.ended.replace(true)
    }

    pub(super) fn touch(&self, side: Side) {
        match side {
            Side::Client => self.client.set(Instant::now()),
            Side::Server => self.server.set(Instant::now()),
        }
    }
}

/// Relay until both directions are closed. The buffers come back when the relay ends
/// cleanly so the worker can reuse them.
pub async fn relay<C, S>(
    client: C,
    server: S,
    timeouts: Timeouts,
    buffers: (Vec<u8>, Vec<u8>),
) -> Result<(RelayStats, Vec<u8>, Vec<u8>), SessionError>
where
    C: AsyncReadRent + AsyncWriteRent + Split,
    S: AsyncReadRent + AsyncWriteRent + Split,
{
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
            let _ = to.shutdown().await;
            return Ok((total, buf));
        }
        total += n as u64;
    }
}

/// One read from `from` into `buf`, written whole to `to`: the bytes moved, 0 at EOF.
pub(super) async fn copy_once<R: AsyncReadRent, W: AsyncWriteRent>(
    from: &mut R,
    to: &mut W,
    buf: &mut Vec<u8>,
    from_side: Side,
    activity: &Activity,
) -> Result<usize, SessionError> {
    let (res, b) = from.read(std::mem::take(buf)).await;
    *buf = b;
    let n = res.map_err(|e| SessionError::Io(from_side, e))?;
    if n == 0 {
        return Ok(0);
    }
    activity.touch(from_side);
    let (res, b) = to.write_all(std::mem::take(buf)).await;
    *buf = b;
    res.map_err(|e| SessionError::Io(from_side.other(), e))?;
    activity.touch(from_side.other());
    Ok(n)
}

/// Resolves with the side that stayed inactive past its timeout. Sleeps until the
/// earliest deadline, so an active connection costs one timer wake per timeout period.
async fn watchdog(activity: &Activity, t: Timeouts) -> Side {
    loop {
        let client_deadline = activity.client.get() + t.client;
        let server_deadline = activity.server.get() + t.server;
        let (side, deadline) = if client_deadline <= server_deadline {
            (Side::Client, client_deadline)
        } else {
            (Side::Server, server_deadline)
        };
        if Instant::now() >= deadline {
            return side;
        }
        monoio::time::sleep_until(deadline.into()).await;
    }
}
