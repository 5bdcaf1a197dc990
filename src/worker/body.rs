//! Streaming one HTTP message body from one socket to another through one bounded
//! buffer: what is read is written before more is read (backpressure both ways), so a
//! slow reader never makes ringlb hold more than a buffer per direction. Between two
//! in-process pipes (an HTTP/2 client's stream to an HTTP/2 server's), a request body
//! can stream while the response does ([`pump_pipes`]); so can an HTTP/1.1 client's,
//! over plain TCP, to an HTTP/2 server ([`pump_to_pipe`]).

use std::time::Duration;

use std::os::fd::{AsRawFd, FromRawFd};

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio::BufResult;

use super::error::Side;
use super::timer::{within, Kept};
use crate::http::{BodyFraming, ChunkError, ChunkedValidator};
use crate::tls::pipe::{PipeReader, PipeWriter};
use crate::tls::ClientStream;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("{0} side: {1}")]
    Io(Side, #[source] std::io::Error),
    #[error("{0} side closed before the end of the body")]
    Truncated(Side),
    #[error("{0} side inactive past its timeout")]
    Timeout(Side),
    #[error("{0} side sent a bad chunked body: {1}")]
    Chunked(Side, ChunkError),
    #[error("request body larger than max_body_bytes")]
    TooLarge,
}

/// One end of a pump: a connection (a server's TCP, a client's TCP or TLS), which
/// side it is, and its inactivity timeout.
pub struct End<'a, S> {
    pub stream: &'a mut S,
    pub side: Side,
    pub timeout: Duration,
}

/// Read more bytes into `buf` (appending, growing it if full). `Ok(0)` is EOF.
pub async fn read_more<S: AsyncReadRent>(
    end: &mut End<'_, S>,
    buf: &mut Vec<u8>,
) -> Result<usize, BodyError> {
    read_more_timed(end, buf, None).await
}

/// [`read_more`], its timeout counted by `timer` (the connection's kept timer) when
/// there is one, else by a timer of its own.
pub async fn read_more_timed<S: AsyncReadRent>(
    end: &mut End<'_, S>,
    buf: &mut Vec<u8>,
    timer: Option<&mut Kept>,
) -> Result<usize, BodyError> {
    if buf.len() == buf.capacity() {
        buf.reserve(buf.capacity().max(4096));
    }
    let len = buf.len();
    let owned = std::mem::take(buf);
    let read = end.stream.read(owned.slice_mut(len..));
    let got = match timer {
        Some(timer) => timer.within(end.timeout, read).await,
        None => within(end.timeout, read).await,
    };
    match got {
        Ok((res, slice)) => {
            *buf = slice.into_inner();
            res.map_err(|e| BodyError::Io(end.side, e))
        }
        Err(_) => Err(BodyError::Timeout(end.side)),
    }
}

/// Write `buf[..n]` and remove it from the front of `buf`.
pub async fn write_front<S: AsyncWriteRent>(
    end: &mut End<'_, S>,
    buf: &mut Vec<u8>,
    n: usize,
) -> Result<(), BodyError> {
    let owned = std::mem::take(buf);
    match within(end.timeout, end.stream.write_all(owned.slice(0..n))).await {
        Ok((res, slice)) => {
            *buf = slice.into_inner();
            res.map_err(|e| BodyError::Io(end.side, e))?;
            buf.drain(..n);
            Ok(())
        }
        Err(_) => Err(BodyError::Timeout(end.side)),
    }
}

/// Copy one body framed by `framing` from `src` to `dst`. `buf` holds what was already
/// read from `src` after the head; on return it holds what `src` sent after the body
/// (a pipelined request, say). `limit` caps the body size (0 = none). Returns the
/// number of body bytes copied.
pub async fn pump<A: AsyncReadRent, B: AsyncWriteRent>(
    src: &mut End<'_, A>,
    dst: &mut End<'_, B>,
    buf: &mut Vec<u8>,
    framing: BodyFraming,
    limit: u64,
) -> Result<u64, BodyError> {
    let mut remaining = match framing {
        BodyFraming::Length(n) => n,
        _ => u64::MAX,
    };
    if limit > 0 && matches!(framing, BodyFraming::Length(n) if n > limit) {
        return Err(BodyError::TooLarge);
    }
    let mut chunked = ChunkedValidator::default();
    let mut copied = 0u64;
    loop {
        let take = match framing {
            BodyFraming::Length(_) => remaining.min(buf.len() as u64) as usize,
            BodyFraming::Chunked => chunked
                .feed(buf)
                .map_err(|e| BodyError::Chunked(src.side, e))?,
            BodyFraming::UntilClose => buf.len(),
        };
        if take > 0 {
            copied += take as u64;
            if limit > 0 && copied > limit {
                return Err(BodyError::TooLarge);
            }
            write_front(dst, buf, take).await?;
            if let BodyFraming::Length(_) = framing {
                remaining -= take as u64;
            }
        }
        let done = match framing {
            BodyFraming::Length(_) => remaining == 0,
            BodyFraming::Chunked => chunked.is_done(),
            BodyFraming::UntilClose => false,
        };
        if done {
            return Ok(copied);
        }
        if read_more(src, buf).await? == 0 {
            return match framing {
                BodyFraming::UntilClose => Ok(copied),
                _ => Err(BodyError::Truncated(src.side)),
            };
        }
    }
}

/// Bytes read from a pipe at a time.
const PIPE_READ: usize = 16 * 1024;

/// Copy a chunked request body from an HTTP/2 client's pipe to an HTTP/2 server's
/// (both ends in this worker) while the response flows the other way: what [`pump`]
/// does, for a bidirectional stream whose client may wait for a reply before it sends
/// on. `buf` holds what was read after the head. Returns the body bytes copied.
pub async fn pump_pipes(
    from: PipeReader,
    to: PipeWriter,
    mut buf: Vec<u8>,
    timeout: Duration,
    limit: u64,
) -> Result<u64, BodyError> {
    let mut chunked = ChunkedValidator::default();
    let mut copied = 0u64;
    loop {
        let take = chunked
            .feed(&buf)
            .map_err(|e| BodyError::Chunked(Side::Client, e))?;
        copied += take as u64;
        if limit > 0 && copied > limit {
            return Err(BodyError::TooLarge);
        }
        if take > 0 {
            match within(timeout, to.write_all(&buf[..take])).await {
                Ok(res) => res.map_err(|e| BodyError::Io(Side::Server, e))?,
                Err(_) => return Err(BodyError::Timeout(Side::Server)),
            }
            buf.drain(..take);
        }
        if chunked.is_done() {
            return Ok(copied);
        }
        match within(timeout, from.read_append(&mut buf, PIPE_READ)).await {
            Ok(0) => return Err(BodyError::Truncated(Side::Client)),
            Ok(_) => {}
            Err(_) => return Err(BodyError::Timeout(Side::Client)),
        }
    }
}

/// A second handle on an HTTP/1.1 client's plain TCP socket (a duplicate descriptor):
/// the request body is read through it while the response is written through the
/// first. `None`: the client is not plain TCP (a TLS connection's state cannot be
/// shared by two handles), or no descriptor was left.
pub fn second_reader(client: &ClientStream) -> Option<TcpStream> {
    let ClientStream::Plain(tcp) = client else {
        return None;
    };
    // SAFETY: dup has no memory preconditions; the new descriptor is owned below.
    let fd = unsafe { libc::dup(tcp.as_raw_fd()) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` is a fresh descriptor of a TCP socket, owned by nothing else.
    let std = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    TcpStream::from_std(std).ok()
}

/// Copy an HTTP/1.1 client's request body framed by `framing` from `src` (its
/// socket's second handle) into an HTTP/2 server stream's pipe, while the response
/// flows the other way: what [`pump`] does, for a server that answers (and a client
/// that waits for the answer) before the body ends. `buf` holds what was read after
/// the head. Returns the body bytes copied and what came after the body (a pipelined
/// request).
pub async fn pump_to_pipe(
    mut src: TcpStream,
    to: PipeWriter,
    mut buf: Vec<u8>,
    framing: BodyFraming,
    timeout: Duration,
    limit: u64,
) -> Result<(u64, Vec<u8>), BodyError> {
    let mut to = ToPipe(to);
    let mut from = End {
        stream: &mut src,
        side: Side::Client,
        timeout,
    };
    let mut dst = End {
        stream: &mut to,
        side: Side::Server,
        timeout,
    };
    let n = pump(&mut from, &mut dst, &mut buf, framing, limit).await?;
    Ok((n, buf))
}

/// An HTTP/2 server stream's request side (a second handle on its pipe) as a writer
/// for [`pump`].
struct ToPipe(PipeWriter);

impl AsyncWriteRent for ToPipe {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: an IoBuf's first `bytes_init` bytes are initialised while it lives.
        let data = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        let res = self.0.write_all(data).await.map(|()| data.len());
        (res, buf)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        let (ptr, len) = (buf.read_iovec_ptr(), buf.read_iovec_len());
        // SAFETY: `ptr` points to `len` iovecs valid while `buf` lives.
        let vecs = unsafe { std::slice::from_raw_parts(ptr, len) };
        let Some(v) = vecs.iter().find(|v| v.iov_len > 0) else {
            return (Ok(0), buf);
        };
        // SAFETY: each iovec describes initialised memory of `buf`.
        let data = unsafe { std::slice::from_raw_parts(v.iov_base.cast::<u8>(), v.iov_len) };
        let res = self.0.write_all(data).await.map(|()| data.len());
        (res, buf)
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    /// The body's end is told by its framing, not by closing the pipe.
    async fn shutdown(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
