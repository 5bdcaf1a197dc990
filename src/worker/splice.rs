//! The relay of a plain TCP session (no TLS on either side): each direction starts by
//! copying through its buffer like `relay`, and switches to `splice(2)` through a pipe
//! of its own once a read fills the whole buffer (a bulk transfer). The bytes then move
//! socket → pipe → socket inside the kernel, never copied into ringlb: half the copies
//! of a read and a write. Short exchanges never fill the buffer, so they pay nothing
//! for this (no pipe is made); a pipe that cannot be made leaves the copy path on.
//! A copying direction reads with the hint of its last read (`read_drained`, a
//! patched monoio method): after a short read, the next one's bytes are likely still
//! to come, so io_uring arms the read's poll first instead of trying a receive that
//! finds nothing (on the legacy driver, the short read cleared read readiness): one
//! socket receive per read, as HAProxy makes, instead of two (docs/benchmarks.md,
//! "TCP mode: what one exchange costs").
//!
//! The pipe is grown to 1 MiB (`pipe.rs`: within the system's `fs.pipe-max-size` and
//! a per-worker share of the user's pipe allowance; else the default 64 KiB), so that
//! one splice each way moves up to that much. The next splice into it waits until it is empty,
//! so a slow reader holds back the sender with at most one pipe-full per direction in
//! the proxy (on top of the sockets' own buffers).
//! Both drivers splice with plain non-blocking calls and wait for a socket's
//! readiness only when a call would block (io_uring: a poll operation on the ring; see
//! `spliced` for why not `IORING_OP_SPLICE`; epoll: the driver's readiness).

use std::io::ErrorKind;
use std::os::fd::{AsRawFd, RawFd};

use monoio::io::{AsyncWriteRent, Splitable};
use monoio::net::tcp::{TcpOwnedReadHalf, TcpOwnedWriteHalf};
use monoio::net::TcpStream;

use super::error::{SessionError, Side};
use super::listener::yield_to_queued;
use super::pipe::OwnPipe;
use super::relay::{pass_on, supervise, totals, Activity, RelayStats, Timeouts};

/// Relay until both directions are closed, as `relay::relay` does, splicing bulk.
pub async fn relay_plain(
    client: TcpStream,
    server: TcpStream,
    timeouts: Timeouts,
    buffers: (Vec<u8>, Vec<u8>),
) -> Result<(RelayStats, Vec<u8>, Vec<u8>), SessionError> {
    let activity = Activity::new();
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut server_rd, mut server_wr) = server.into_split();
    let upstream = half(
        &mut client_rd,
        &mut server_wr,
        buffers.0,
        Side::Client,
        &activity,
    );
    let downstream = half(
        &mut server_rd,
        &mut client_wr,
        buffers.1,
        Side::Server,
        &activity,
    );
    let both = futures_util::future::try_join(upstream, downstream);
    let done = supervise(both, &activity, timeouts).await;
    // Whole again before they are dropped: a write half left to drop on its own calls
    // shutdown(2) (monoio does, synchronously), a syscall per side for nothing.
    drop((client_rd.reunite(client_wr), server_rd.reunite(server_wr)));
    done.map(totals)
}

/// One direction until EOF (then a half-close of the other side): copy while reads
/// come in pieces smaller than the buffer, splice from the first full one on.
async fn half(
    from: &mut TcpOwnedReadHalf,
    to: &mut TcpOwnedWriteHalf,
    mut buf: Vec<u8>,
    from_side: Side,
    activity: &Activity,
) -> Result<(u64, Vec<u8>), SessionError> {
    let mut total = 0u64;
    // The last read was short: it emptied the socket's receive queue, so the next
    // bytes are likely still to come (a request/response exchange: the client's next
    // request follows the response, the server's next response the next request).
    let mut drained = false;
    loop {
        let hint = drained && poll_first_works();
        let (res, b) = from.read_drained(std::mem::take(&mut buf), hint).await;
        buf = b;
        let n = res.map_err(|e| SessionError::Io(from_side, e))?;
        if n == 0 {
            break;
        }
        pass_on(to, &mut buf, from_side, activity).await?;
        total += n as u64;
        drained = n < buf.capacity();
        if !drained {
            // Bulk: splice from here on, unless no pipe can be had (descriptors).
            if let Some(moved) = splice_rest(from, to, from_side, activity).await {
                total += moved?;
                break;
            }
        }
    }
    if activity.pass_fin() {
        let _ = to.shutdown().await;
    }
    Ok((total, buf))
}

/// Whether a read may ask io_uring to arm its poll before trying
/// (`IORING_RECVSEND_POLL_FIRST`): kernel 5.19 or later (read once per worker thread).
/// Earlier kernels do not know the flag; the legacy driver does not look at it.
fn poll_first_works() -> bool {
    thread_local! {
        static WORKS: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
    }
    WORKS.with(|w| match w.get() {
        Some(works) => works,
        None => {
            let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok();
            let works = release.is_some_and(|r| kernel_at_least(&r, (5, 19)));
            w.set(Some(works));
            works
        }
    })
}

/// Whether a kernel release string (`6.1.0-18-amd64`) is `want` (major, minor) or
/// later; false when it cannot be read.
fn kernel_at_least(release: &str, want: (u32, u32)) -> bool {
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
    match (major, minor) {
        (Some(major), Some(minor)) => (major, minor) >= want,
        _ => false,
    }
}

/// The rest of a direction by splice, until EOF on `from`: the bytes moved, or `None`
/// when the sockets cannot be made non-blocking or no pipe can be had (then copying
/// goes on).
async fn splice_rest(
    from: &mut TcpOwnedReadHalf,
    to: &mut TcpOwnedWriteHalf,
    from_side: Side,
    activity: &Activity,
) -> Option<Result<u64, SessionError>> {
    let fds = (stream(&from.0).as_raw_fd(), stream(&to.0).as_raw_fd());
    nonblocking(fds.0).and_then(|_| nonblocking(fds.1)).ok()?;
    let pipe = OwnPipe::new().ok()?;
    Some(spliced(from, to, fds, pipe, from_side, activity).await)
}

/// The stream a split half belongs to, to wait on its readiness.
fn stream(half: &std::rc::Rc<std::cell::UnsafeCell<TcpStream>>) -> &TcpStream {
    // SAFETY: a shared reference used only to wait for readiness (which clones the
    // descriptor's handle); monoio's own half methods (`peer_addr`) do the same while
    // the other half may be in use.
    unsafe { &*half.get() }
}

/// Make a socket non-blocking (for the splice path), if it is not already: the legacy
/// driver's sockets are; with io_uring, accepted sockets are not, and a splice(2) on
/// them could block the worker. Non-blocking, it comes back with `WouldBlock` and the
/// relay waits for readiness.
fn nonblocking(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor the session owns, with integer arguments.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// One non-blocking splice(2) of up to `len` bytes.
fn splice_now(from: RawFd, to: RawFd, len: usize) -> std::io::Result<usize> {
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
    let null = std::ptr::null_mut();
    // SAFETY: two descriptors this session owns; no offsets (sockets and pipes).
    let n = unsafe { libc::splice(from, null, to, null, len, flags) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Wait until `s` is readable (or writable). io_uring: a poll operation on the ring.
/// epoll: the driver's readiness, checked with poll(2) (`strict`), since readiness
/// left over from before the `EAGAIN` that sent us here would return at once, forever.
async fn ready(s: &TcpStream, read: bool, side: Side) -> Result<(), SessionError> {
    let strict = monoio::utils::is_legacy();
    let waited = if read {
        s.readable(!strict).await
    } else {
        s.writable(!strict).await
    };
    waited.map_err(|e| SessionError::Io(side, e))
}

/// Splice `from` → pipe → `to` until EOF on `from`; the bytes moved. Each call is a
/// plain non-blocking splice(2), and a socket's readiness is waited for only after one
/// would block. io_uring's own splice operation was tried and dropped: the kernel runs
/// every one on an io-wq worker thread (a thread switch each way per splice). A round
/// that moved a pipe-full without waiting is followed by a yield, so a sender that
/// never pauses does not keep the other direction and the worker's other sessions
/// waiting.
async fn spliced(
    from: &TcpOwnedReadHalf,
    to: &TcpOwnedWriteHalf,
    (from_fd, to_fd): (RawFd, RawFd),
    pipe: OwnPipe,
    from_side: Side,
    activity: &Activity,
) -> Result<u64, SessionError> {
    let to_side = from_side.other();
    let (pipe_rd, pipe_wr) = (pipe.rd.as_raw_fd(), pipe.wr.as_raw_fd());
    let mut total = 0u64;
    let mut waited = true;
    loop {
        if !waited {
            // The last round went through without a wait: let the others run first.
            yield_to_queued().await;
        }
        waited = false;
        let got = match splice_now(from_fd, pipe_wr, pipe.cap) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                ready(stream(&from.0), true, from_side).await?;
                waited = true;
                continue;
            }
            Err(e) => return Err(SessionError::Io(from_side, e)),
        };
        activity.touch(from_side);
        let mut left = got;
        while left > 0 {
            match splice_now(pipe_rd, to_fd, left) {
                Ok(0) => return Err(SessionError::Io(to_side, ErrorKind::WriteZero.into())),
                Ok(n) => left -= n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    ready(stream(&to.0), false, to_side).await?;
                    waited = true;
                }
                Err(e) => return Err(SessionError::Io(to_side, e)),
            }
        }
        activity.touch(to_side);
        total += got as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::kernel_at_least;

    #[test]
    fn the_kernel_release_is_compared_by_major_and_minor() {
        assert!(kernel_at_least("5.19.0\n", (5, 19)));
        assert!(kernel_at_least("6.1.0-18-amd64", (5, 19)));
        assert!(kernel_at_least("6.18.44-fc-v857", (5, 19)));
        assert!(!kernel_at_least("5.15.0-91-generic", (5, 19)));
        assert!(!kernel_at_least("4.19.0", (5, 19)));
        // Unreadable: assumed too old.
        assert!(!kernel_at_least("", (5, 19)));
        assert!(!kernel_at_least("six", (5, 19)));
        assert!(!kernel_at_least("6", (5, 19)));
    }
}
