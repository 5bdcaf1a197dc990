//! Connections as sessions see them: a client's (plain TCP, or TLS terminated by
//! ringlb) and a server's (plain TCP, or TLS when the server has `tls = true`).
//! Sessions read and write through these types, so TCP and HTTP mode work the same
//! over all of them; only the idle wait between keep-alive requests differs (see
//! `http_heads`). Their TLS handshakes are in `stream_handshake.rs`.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, Split};
use monoio::net::TcpStream;
use monoio::BufResult;
use monoio_rustls::{ClientTlsStream, ServerTlsStream};

use super::pipe::Pipe;
use super::poll::{TlsConn, TlsPoll};

pub use handshake::{accept_tls, connect_tls, HandshakeError, TlsInfo};

#[path = "stream_handshake.rs"]
mod handshake;

pub enum ClientStream {
    Plain(TcpStream),
    Tls(Box<TlsClient>),
    /// One HTTP/2 stream, presented to the HTTP/1.1 session code (see `pipe`).
    Pipe(super::pipe::Pipe),
}

// SAFETY: every variant is `Split` (monoio's TcpStream; rustls in readiness mode,
// touched only within a poll; a pipe's lanes are independent); the enum only forwards
// to them. (The compatibility TLS stream is not: see [`TlsClient`].)
unsafe impl Split for ClientStream {}

/// A client's TLS connection after its handshake (see [`TlsConn`]).
pub type TlsClient = TlsConn<rustls::ServerConnection, ServerTlsStream<TcpStream>>;

/// A server's TLS connection after its handshake (see [`TlsConn`]).
pub type TlsServer = TlsConn<rustls::ClientConnection, ClientTlsStream<TcpStream>>;

impl ClientStream {
    /// An HTTP/2 stream's: a second handle on the request it reads.
    pub fn pipe_reader(&self) -> Option<super::pipe::PipeReader> {
        match self {
            ClientStream::Pipe(p) => Some(p.reader()),
            _ => None,
        }
    }

    /// Whether its reading and writing halves may be used at once (see [`TlsConn`]).
    pub fn splits_safely(&self) -> bool {
        match self {
            ClientStream::Tls(t) => t.splits_safely(),
            _ => true,
        }
    }

    /// TLS in readiness mode: rustls and the socket, for a wait that holds no buffer
    /// of the session's (an idle keep-alive client); `None` for any other connection.
    pub fn tls_poll(&mut self) -> Option<&mut TlsPoll<rustls::ServerConnection>> {
        match self {
            ClientStream::Tls(t) => match &mut **t {
                TlsConn::Poll(p) => Some(p),
                TlsConn::Compat(_) => None,
            },
            _ => None,
        }
    }

    pub fn is_tls(&self) -> bool {
        match self {
            ClientStream::Plain(_) => false,
            ClientStream::Tls(_) => true,
            ClientStream::Pipe(p) => p.is_tls(),
        }
    }
}

impl AsyncReadRent for ClientStream {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ClientStream::Plain(s) => s.read(buf).await,
            ClientStream::Tls(s) => s.read(buf).await,
            ClientStream::Pipe(p) => pipe_read(p, buf).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ClientStream::Plain(s) => s.readv(buf).await,
            ClientStream::Tls(s) => s.readv(buf).await,
            ClientStream::Pipe(p) => pipe_readv(p, buf).await,
        }
    }
}

impl AsyncWriteRent for ClientStream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ClientStream::Plain(s) => s.write(buf).await,
            ClientStream::Tls(s) => s.write(buf).await,
            ClientStream::Pipe(p) => pipe_write(p, buf).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ClientStream::Plain(s) => s.writev(buf).await,
            ClientStream::Tls(s) => s.writev(buf).await,
            ClientStream::Pipe(p) => pipe_writev(p, buf).await,
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            ClientStream::Plain(s) => s.flush().await,
            ClientStream::Tls(s) => s.flush().await,
            ClientStream::Pipe(_) => Ok(()),
        }
    }

    /// Half-close. Over TLS: a close_notify alert first (RFC 8446 §6.1: without it a
    /// client cannot tell a response cut short from a whole one), within
    /// [`CLOSE_NOTIFY_WAIT`]: a client that stops reading cannot hold the connection
    /// open (the caller drops it then; what the kernel holds is still sent). (The
    /// timeout is boxed: monoio's timer is 128-byte aligned, and inline it would make
    /// every session's future so, and an HTTP/2 stream's box an aligned allocation.)
    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            ClientStream::Plain(s) => s.shutdown().await,
            ClientStream::Tls(s) => {
                match Box::pin(monoio::time::timeout(CLOSE_NOTIFY_WAIT, s.shutdown())).await {
                    Ok(res) => res,
                    Err(_) => Err(io::ErrorKind::TimedOut.into()),
                }
            }
            ClientStream::Pipe(p) => {
                p.close_write();
                Ok(())
            }
        }
    }
}

/// How long writing a TLS client's close_notify may wait for room in the socket
/// (HAProxy tries once and closes; this is a little kinder to a slow reader).
pub const CLOSE_NOTIFY_WAIT: Duration = Duration::from_secs(1);

async fn pipe_read<T: IoBufMut>(p: &mut Pipe, mut buf: T) -> BufResult<usize, T> {
    let room = buf.bytes_total();
    // SAFETY: `write_ptr` is valid for `bytes_total` bytes (IoBufMut's contract); the
    // bytes are written before `set_init` declares them.
    let out = unsafe { std::slice::from_raw_parts_mut(buf.write_ptr(), room) };
    let n = p.read_into(out).await;
    unsafe { buf.set_init(n) };
    (Ok(n), buf)
}

async fn pipe_readv<T: IoVecBufMut>(p: &mut Pipe, mut buf: T) -> BufResult<usize, T> {
    // Into the first non-empty slice only, as a short read may.
    let (ptr, len) = (buf.write_iovec_ptr(), buf.write_iovec_len());
    // SAFETY: `ptr` points to `len` iovecs valid while `buf` lives.
    let vecs = unsafe { std::slice::from_raw_parts(ptr, len) };
    let Some(v) = vecs.iter().find(|v| v.iov_len > 0) else {
        return (Ok(0), buf);
    };
    // SAFETY: each iovec describes writable memory of `buf`.
    let out = unsafe { std::slice::from_raw_parts_mut(v.iov_base.cast::<u8>(), v.iov_len) };
    let n = p.read_into(out).await;
    unsafe { buf.set_init(n) };
    (Ok(n), buf)
}

async fn pipe_write<T: IoBuf>(p: &mut Pipe, buf: T) -> BufResult<usize, T> {
    // SAFETY: `read_ptr` is valid for `bytes_init` bytes (IoBuf's contract).
    let data = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
    let res = p.write_from(data).await;
    (res, buf)
}

async fn pipe_writev<T: IoVecBuf>(p: &mut Pipe, buf: T) -> BufResult<usize, T> {
    let (ptr, len) = (buf.read_iovec_ptr(), buf.read_iovec_len());
    // SAFETY: `ptr` points to `len` iovecs valid while `buf` lives.
    let vecs = unsafe { std::slice::from_raw_parts(ptr, len) };
    let Some(v) = vecs.iter().find(|v| v.iov_len > 0) else {
        return (Ok(0), buf);
    };
    // SAFETY: each iovec describes initialised memory of `buf`.
    let data = unsafe { std::slice::from_raw_parts(v.iov_base.cast::<u8>(), v.iov_len) };
    let res = p.write_from(data).await;
    (res, buf)
}

/// A connection to a server: plain TCP, or TLS (`tls = true` on the server). The raw
/// descriptor of the TCP socket is kept for the idle pool's checks (peek, linger).
pub enum ServerStream {
    Plain(TcpStream),
    Tls(Box<TlsServerStream>),
    /// One stream of an HTTP/2 connection to a server (`proto = "h2"`), presented to
    /// the HTTP/1.1 session code through a pipe: the session writes the request into
    /// it and reads the response from it (the pipe's lanes used the other way round).
    Pipe(Pipe),
}

/// A TLS connection to a server, with what the idle pool needs to know about it.
pub struct TlsServerStream {
    stream: TlsServer,
    fd: RawFd,
    /// The last read filled the buffer it was given: rustls may hold more decrypted
    /// bytes than the socket shows, which a peek cannot see.
    filled: bool,
}

// SAFETY: as for `ClientStream`: both variants are `Split`.
unsafe impl Split for ServerStream {}

impl ServerStream {
    pub fn raw_fd(&self) -> RawFd {
        match self {
            ServerStream::Plain(s) => s.as_raw_fd(),
            ServerStream::Tls(s) => s.fd,
            ServerStream::Pipe(_) => -1,
        }
    }

    /// Whether its reading and writing halves may be used at once (see [`TlsConn`]).
    pub fn splits_safely(&self) -> bool {
        match self {
            ServerStream::Tls(t) => t.stream.splits_safely(),
            _ => true,
        }
    }

    /// A stream of a shared HTTP/2 connection: never pooled, never a tunnel.
    pub fn is_pipe(&self) -> bool {
        matches!(self, ServerStream::Pipe(_))
    }

    /// A stream of an HTTP/2 connection's: a second handle on the request it takes.
    pub fn pipe_writer(&self) -> Option<super::pipe::PipeWriter> {
        match self {
            ServerStream::Pipe(p) => Some(p.writer()),
            _ => None,
        }
    }

    /// The protocol the server selected by ALPN (TLS only).
    pub fn alpn(&self) -> Option<Vec<u8>> {
        match self {
            ServerStream::Tls(s) => match &s.stream {
                TlsConn::Poll(p) => p.tls.alpn_protocol().map(<[u8]>::to_vec),
                TlsConn::Compat(c) => c.alpn_protocol(),
            },
            _ => None,
        }
    }

    /// Whether bytes may wait inside ringlb (not in the socket) after the last read: a
    /// TLS read that filled its buffer may have left decrypted bytes behind. Such a
    /// connection must not go back to the pool.
    pub fn may_hold_unread(&self) -> bool {
        matches!(self, ServerStream::Tls(s) if s.filled)
    }
}

impl ServerStream {
    /// One look at an idle TLS connection in readiness mode, for the server pool's
    /// armed wait (see [`TlsPoll::poll_idle`]); `None` for any other connection.
    pub fn poll_idle(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> Option<std::task::Poll<io::Result<(bool, rustls::IoState)>>> {
        match self {
            ServerStream::Tls(s) => match &mut s.stream {
                TlsConn::Poll(p) => Some(p.poll_idle(cx)),
                TlsConn::Compat(_) => None,
            },
            _ => None,
        }
    }
}

impl TlsServerStream {
    /// rustls in readiness mode, for an HTTP/2 connection: the stream back when the
    /// driver kept it in completion mode.
    pub fn into_poll(self: Box<Self>) -> Result<TlsPoll<rustls::ClientConnection>, Box<Self>> {
        let TlsServerStream { stream, fd, filled } = *self;
        match stream {
            TlsConn::Poll(p) => Ok(p),
            stream => Err(Box::new(TlsServerStream { stream, fd, filled })),
        }
    }
}

impl AsyncReadRent for ServerStream {
    async fn read<T: IoBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        match self {
            ServerStream::Plain(s) => s.read(buf).await,
            ServerStream::Tls(s) => {
                let room = buf.bytes_total();
                let (res, buf) = s.stream.read(buf).await;
                s.filled = matches!(res, Ok(n) if n == room);
                (res, buf)
            }
            ServerStream::Pipe(p) => pipe_read(p, buf).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ServerStream::Plain(s) => s.readv(buf).await,
            // (Vectored reads are not used on server connections; count them as
            // filled so that one never makes a connection look drained.)
            ServerStream::Tls(s) => {
                s.filled = true;
                s.stream.readv(buf).await
            }
            ServerStream::Pipe(p) => pipe_readv(p, buf).await,
        }
    }
}

impl AsyncWriteRent for ServerStream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ServerStream::Plain(s) => s.write(buf).await,
            ServerStream::Tls(s) => s.stream.write(buf).await,
            ServerStream::Pipe(p) => pipe_write(p, buf).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ServerStream::Plain(s) => s.writev(buf).await,
            ServerStream::Tls(s) => s.stream.writev(buf).await,
            ServerStream::Pipe(p) => pipe_writev(p, buf).await,
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            ServerStream::Plain(s) => s.flush().await,
            ServerStream::Tls(s) => s.stream.flush().await,
            ServerStream::Pipe(_) => Ok(()),
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            ServerStream::Plain(s) => s.shutdown().await,
            ServerStream::Tls(s) => s.stream.shutdown().await,
            ServerStream::Pipe(p) => {
                p.close_write();
                Ok(())
            }
        }
    }
}
