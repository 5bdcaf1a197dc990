//! The relay of a plain TCP session (no TLS on either side): each direction starts by
//! copying through its buffer like `relay`, and switches to `splice(2)` through a pipe
//! of its own once a read fills the whole buffer (a bulk transfer). The bytes then move
//! socket → pipe → socket inside the kernel, never copied into ringlb: half the copies
//! of a read and a write. Short exchanges never fill the buffer, so they pay nothing
//! for this (no pipe is made); a pipe that cannot be made leaves the copy path on.
//!
//! The pipe is grown to `PIPE_SIZE` (1 MiB, `F_SETPIPE_SZ`, capped by the system's
//! `fs.pipe-max-size`; the default 64 KiB when the kernel refuses), so that one splice
//! each way moves up to that much. The next splice into it waits until it is empty,
//! so a slow reader holds back the sender with at most one pipe-full per direction in
//! the proxy (on top of the sockets' own buffers).
//! Both drivers splice with plain non-blocking calls and wait for a socket's
//! readiness only when a call would block (io_uring: a poll operation on the ring; see
//! `spliced` for why not `IORING_OP_SPLICE`; epoll: the driver's readiness).

use std::cell::Cell;
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use monoio::io::{AsyncWriteRent, Splitable};
use monoio::net::tcp::{TcpOwnedReadHalf, TcpOwnedWriteHalf};
use monoio::net::TcpStream;

use super::error::{SessionError, Side};
use super::listener::yield_to_queued;
use super::relay::{copy_once, supervise, totals, Activity, RelayStats, Timeouts};

/// The capacity asked for each splice pipe: 16 times the default (64 KiB), so a
/// pipe-full is 1 MiB and a bulk MiB costs one splice in and one out instead of 16
/// each (see docs/benchmarks.md, "Bulk transfer: splice").
const PIPE_SIZE: usize = 1 << 20;

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
    loop {
        let n = copy_once(from, to, &mut buf, from_side, activity).await?;
        total += n as u64;
        if n == 0 {
            break;
        }
        if n == buf.capacity() {
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

/// A pipe of ringlb's own (non-blocking both ends), closed on drop.
struct OwnPipe {
    rd: OwnedFd,
    wr: OwnedFd,
    /// Its capacity in bytes: what one splice into it asks for.
    cap: usize,
}

impl OwnPipe {
    fn new() -> std::io::Result<OwnPipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 fills the two-element array it is given.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned by nobody else.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let cap = grow(wr.as_raw_fd(), pipe_size());
        Ok(OwnPipe { rd, wr, cap })
    }
}

thread_local! {
    /// `PIPE_SIZE` capped by `fs.pipe-max-size` (read once per worker thread), 0 until
    /// read.
    static WANTED: Cell<usize> = const { Cell::new(0) };
}

/// The capacity to ask of a new pipe.
fn pipe_size() -> usize {
    WANTED.with(|w| {
        if w.get() == 0 {
            let max = std::fs::read_to_string("/proc/sys/fs/pipe-max-size").ok();
            w.set(capped(PIPE_SIZE, max.as_deref()));
        }
        w.get()
    })
}

/// `want`, at most the `fs.pipe-max-size` read (`max`); the default pipe's 64 KiB
/// when it cannot be read.
fn capped(want: usize, max: Option<&str>) -> usize {
    match max.and_then(|m| m.trim().parse::<usize>().ok()) {
        Some(max) => want.min(max).max(DEFAULT_PIPE),
        None => DEFAULT_PIPE,
    }
}

/// A new pipe's capacity (16 pages).
const DEFAULT_PIPE: usize = 64 * 1024;

/// Grow the pipe of `fd` to `size` bytes; its capacity after (the default when the
/// kernel refuses: `EPERM` once the user's pipes hold `fs.pipe-user-pages-soft`).
fn grow(fd: RawFd, size: usize) -> usize {
    if size <= DEFAULT_PIPE {
        return DEFAULT_PIPE;
    }
    // SAFETY: fcntl on a pipe this session owns, with integer arguments.
    let got = unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, size as libc::c_int) };
    if got > 0 {
        got as usize
    } else {
        DEFAULT_PIPE
    }
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
    use super::*;

    #[test]
    fn the_pipe_size_asked_is_capped_by_the_system_maximum() {
        assert_eq!(capped(1 << 20, Some("1048576\n")), 1 << 20);
        assert_eq!(capped(1 << 20, Some("262144\n")), 256 << 10);
        // Below the default or unreadable: the default, which needs no fcntl.
        assert_eq!(capped(1 << 20, Some("4096\n")), DEFAULT_PIPE);
        assert_eq!(capped(1 << 20, Some("junk")), DEFAULT_PIPE);
        assert_eq!(capped(1 << 20, None), DEFAULT_PIPE);
    }

    #[test]
    fn a_pipe_is_grown_to_the_size_asked_or_keeps_the_default() {
        let pipe = OwnPipe::new().unwrap();
        assert!(pipe.cap >= DEFAULT_PIPE && pipe.cap <= PIPE_SIZE);
        assert_eq!(grow(pipe.wr.as_raw_fd(), 256 << 10), 256 << 10);
        // Refused (not a pipe): the default is kept, nothing fails.
        assert_eq!(grow(-1, 256 << 10), DEFAULT_PIPE);
        assert_eq!(grow(pipe.wr.as_raw_fd(), DEFAULT_PIPE), DEFAULT_PIPE);
    }
}
