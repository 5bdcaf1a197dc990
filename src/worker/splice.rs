//! The relay of a plain TCP session (no TLS on either side): each direction starts by
//! copying through its buffer like `relay`, and switches to `splice(2)` through a pipe
//! of its own once a read fills the whole buffer (a bulk transfer). The bytes then move
//! socket → pipe → socket inside the kernel, never copied into ringlb: half the copies
//! of a read and a write. Short exchanges never fill the buffer, so they pay nothing
//! for this (no pipe is made); a pipe that cannot be made leaves the copy path on.
//!
//! A pipe holds at most its capacity (64 KiB), and the next splice into it waits until
//! it is empty, so a slow reader holds back the sender exactly as the buffer does.
//! Both drivers: the legacy one through monoio's splice operations (non-blocking calls
//! on the driver's readiness); io_uring with a poll operation on the ring and plain
//! non-blocking splice calls (see `spliced_uring` for why not `IORING_OP_SPLICE`).

use std::io::ErrorKind;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use monoio::io::splice::{SpliceDestination, SpliceSource};
use monoio::io::{AsyncWriteRent, Splitable};
use monoio::net::tcp::{TcpOwnedReadHalf, TcpOwnedWriteHalf};
use monoio::net::{Pipe, TcpStream};

use super::error::{SessionError, Side};
use super::relay::{copy_once, supervise, totals, Activity, RelayStats, Timeouts};

/// Bytes asked of one splice into the pipe: a default pipe's capacity (16 pages).
const SPLICE_LEN: u32 = 64 * 1024;

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
    if monoio::utils::is_legacy() {
        let pipe = monoio::net::unix::new_pipe().ok()?;
        Some(spliced(from, to, pipe, from_side, activity).await)
    } else {
        let pipe = OwnPipe::new().ok()?;
        Some(spliced_uring(from, to, fds, pipe, from_side, activity).await)
    }
}

/// Splice `from` → pipe → `to` until EOF on `from` (legacy driver: monoio's splice
/// operations, which wait on the driver's readiness); the bytes moved.
async fn spliced(
    from: &mut TcpOwnedReadHalf,
    to: &mut TcpOwnedWriteHalf,
    (mut rd, mut wr): (Pipe, Pipe),
    from_side: Side,
    activity: &Activity,
) -> Result<u64, SessionError> {
    let to_side = from_side.other();
    let mut total = 0u64;
    loop {
        let got = from
            .splice_to_pipe(&mut wr, SPLICE_LEN)
            .await
            .map_err(|e| SessionError::Io(from_side, e))?;
        if got == 0 {
            return Ok(total);
        }
        activity.touch(from_side);
        let mut left = got;
        while left > 0 {
            match to.splice_from_pipe(&mut rd, left).await {
                Ok(0) => return Err(SessionError::Io(to_side, ErrorKind::WriteZero.into())),
                Ok(n) => left -= n,
                Err(e) => return Err(SessionError::Io(to_side, e)),
            }
        }
        activity.touch(to_side);
        total += u64::from(got);
    }
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
/// relay waits for readiness on the ring.
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
        Ok(OwnPipe { rd, wr })
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

/// Splice `from` → pipe → `to` until EOF on `from` (io_uring): io_uring's own splice
/// operation always runs on a kernel worker thread (a thread switch each way per
/// splice), so here each round waits for readability on the ring (a poll operation,
/// also the task's yield point) and then splices with plain non-blocking calls: one
/// ring operation and two syscalls per pipe-full. The bytes moved.
async fn spliced_uring(
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
    loop {
        stream(&from.0)
            .readable(true)
            .await
            .map_err(|e| SessionError::Io(from_side, e))?;
        let got = match splice_now(from_fd, pipe_wr, SPLICE_LEN as usize) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(e) => return Err(SessionError::Io(from_side, e)),
        };
        activity.touch(from_side);
        let mut left = got;
        while left > 0 {
            match splice_now(pipe_rd, to_fd, left) {
                Ok(0) => return Err(SessionError::Io(to_side, ErrorKind::WriteZero.into())),
                Ok(n) => left -= n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    stream(&to.0)
                        .writable(true)
                        .await
                        .map_err(|e| SessionError::Io(to_side, e))?
                }
                Err(e) => return Err(SessionError::Io(to_side, e)),
            }
        }
        activity.touch(to_side);
        total += got as u64;
    }
}
