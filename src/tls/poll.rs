//! TLS in readiness mode, under a client's connection (HTTP/1.1, a tunnel or HTTP/2)
//! and under an HTTP/2 connection to a server with `proto = "h2"`: rustls driven
//! directly over the socket ([`TcpStreamPoll`]), with no buffers between them but
//! rustls' own.
//! monoio's TLS stream keeps a 16 KiB read and a 16 KiB write buffer for the
//! connection's life, and the compatibility adapter over it 8 KiB more each way; here
//! an idle connection holds rustls' record buffer (4 KiB once drained) and nothing in
//! flight.
//!
//! Either side of rustls (`ServerConnection` with clients, `ClientConnection` with
//! servers): both are a `ConnectionCommon`, which is all this drives.
//!
//! The socket is read when the library wants bytes and rustls has no plaintext left;
//! written whenever rustls has records to send (right after each write, and on flush).
//! "Would block" on the socket is rustls' `WouldBlock`, and `Pending` here (the socket's
//! readiness wakes the task).
//!
//! rustls is touched only within one poll, never across an await: a connection's
//! reading half and writing half (a tunnel's two directions) can share it. (monoio's
//! TLS stream cannot be shared so: a read that fails to decrypt writes its alert
//! through the write buffer, which a write blocked on a client that does not read has
//! taken, and the stream panics.)

use std::future::poll_fn;
use std::io::{self, BufRead, Read, Write};
use std::mem::MaybeUninit;
use std::ops::DerefMut;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut, RawBuf};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::BufResult;

use monoio::net::tcp::stream_poll::TcpStreamPoll;
use rustls::{ConnectionCommon, IoState, SideData};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A TLS connection (rustls' `C`: either side) over a socket in readiness mode.
pub struct TlsPoll<C> {
    pub io: TcpStreamPoll,
    pub tls: C,
}

/// The socket as blocking-style `Read`/`Write` for rustls, within one poll: `Pending`
/// becomes `WouldBlock` (the waker is registered by then).
struct Sync<'a, 'b> {
    io: &'a mut TcpStreamPoll,
    cx: &'a mut Context<'b>,
}

impl Read for Sync<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut rb = ReadBuf::new(buf);
        match Pin::new(&mut *self.io).poll_read(self.cx, &mut rb) {
            Poll::Ready(Ok(())) => Ok(rb.filled().len()),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for Sync<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write_vectored(self.cx, bufs) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<C, D> TlsPoll<C>
where
    C: DerefMut<Target = ConnectionCommon<D>> + Unpin,
    D: SideData,
{
    /// Send the records rustls holds; `Pending` until the socket took them all.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.tls.wants_write() {
            let mut sock = Sync {
                io: &mut self.io,
                cx,
            };
            match self.tls.write_tls(&mut sock) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Run the handshake to its end (either side), and send what rustls queued with
    /// it (TLS 1.3 session tickets). Every byte read goes into rustls, so whatever the
    /// peer sent after its last handshake message (a request, HTTP/2 frames) waits
    /// there for the first read.
    pub fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_send(cx))?;
            if !self.tls.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            if !ready!(self.poll_receive(cx))? {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed during the TLS handshake",
                )));
            }
        }
    }

    /// Read records from the socket and decrypt them. `Ready(Ok(false))`: the socket
    /// is at its end.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut sock = Sync {
            io: &mut self.io,
            cx,
        };
        let more = match self.tls.read_tls(&mut sock) {
            Ok(n) => n > 0,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if let Err(e) = self.tls.process_new_packets() {
            // The alert rustls queued goes out if the socket takes it now.
            let _ = self.poll_send(cx);
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
        }
        // Anything rustls answers on its own (a key update, say): sent when it can be.
        if let Poll::Ready(Err(e)) = self.poll_send(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(more))
    }

    /// Plaintext into `buf`; nothing at a close_notify, `UnexpectedEof` at a TCP end
    /// without one.
    fn poll_plaintext(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut reader = self.tls.reader();
            match reader.fill_buf() {
                Ok(data) => {
                    // Empty: the peer sent close_notify.
                    let n = data.len().min(buf.remaining());
                    buf.put_slice(&data[..n]);
                    reader.consume(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            if !ready!(self.poll_receive(cx))? {
                // rustls knows of the end now: the next turn says how it ended.
                continue;
            }
        }
    }

    /// Hand plaintext to rustls (`write` or `write_vectored`), sending records first
    /// when its buffer is full, then as much as the socket takes now.
    fn poll_put(
        &mut self,
        cx: &mut Context<'_>,
        mut put: impl FnMut(&mut ConnectionCommon<D>) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let mut n = put(&mut *self.tls)?;
        if n == 0 {
            ready!(self.poll_send(cx))?;
            n = put(&mut *self.tls)?;
        }
        if let Poll::Ready(Err(e)) = self.poll_send(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    /// One look at an idle connection (the server pool's armed wait): rustls' state as
    /// it is if it holds plaintext or a close_notify already, else after one
    /// non-blocking read of the socket into it (`Pending`: nothing came; the socket's
    /// readiness wakes `cx`). `true` with the state unless the socket is at its end.
    pub fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(bool, IoState)>> {
        let state = |tls: &mut C| {
            tls.process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
        };
        let held = state(&mut self.tls)?;
        if held.plaintext_bytes_to_read() > 0 || held.peer_has_closed() {
            return Poll::Ready(Ok((true, held)));
        }
        let more = ready!(self.poll_receive(cx))?;
        Poll::Ready(Ok((more, state(&mut self.tls)?)))
    }

    /// Plaintext appended to `buf`, within its spare capacity: how many bytes (0 at a
    /// close_notify; `UnexpectedEof` at a TCP end without one). Nothing is taken from
    /// rustls before it is `Ready`, so the wait can be dropped at any `Pending`.
    pub fn poll_read_vec(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut Vec<u8>,
    ) -> Poll<io::Result<usize>> {
        if buf.len() == buf.capacity() {
            buf.reserve(4096);
        }
        let mut rb = ReadBuf::uninit(buf.spare_capacity_mut());
        ready!(self.poll_plaintext(cx, &mut rb))?;
        let n = rb.filled().len();
        // SAFETY: `ReadBuf` initialised the first `n` bytes of the spare capacity.
        unsafe { buf.set_len(buf.len() + n) };
        Poll::Ready(Ok(n))
    }

    /// Ready when a read would not wait: rustls holds plaintext or the peer's
    /// close_notify, or the socket is at its end. Records with no plaintext (a session
    /// ticket, a key update) are taken in and waited past. Holds no buffer but rustls'
    /// own (an idle keep-alive client's wait).
    pub fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let (more, state) = ready!(self.poll_idle(cx))?;
            if !more || state.plaintext_bytes_to_read() > 0 || state.peer_has_closed() {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<C, D> AsyncRead for TlsPoll<C>
where
    C: DerefMut<Target = ConnectionCommon<D>> + Unpin,
    D: SideData,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // A TCP end without close_notify ends the byte stream all the same: HTTP/2
        // frames say themselves whether they came whole.
        match ready!(self.get_mut().poll_plaintext(cx, buf)) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Poll::Ready(Ok(())),
            r => Poll::Ready(r),
        }
    }
}

impl<C, D> AsyncWrite for TlsPoll<C>
where
    C: DerefMut<Target = ConnectionCommon<D>> + Unpin,
    D: SideData,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_put(cx, |tls| tls.writer().write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_put(cx, |tls| tls.writer().write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_send(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.tls.send_close_notify();
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// The same connection as monoio's owned-buffer streams are used (HTTP/1.1 sessions,
/// tunnels): each call polls rustls and the socket through the methods above. A write
/// returns once its bytes are on the socket, as monoio-rustls' does: callers take a
/// written response as sent and go on to read.
impl<C, D> AsyncReadRent for TlsPoll<C>
where
    C: DerefMut<Target = ConnectionCommon<D>> + Unpin,
    D: SideData,
{
    async fn read<T: IoBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        let room = buf.bytes_total();
        // SAFETY: `write_ptr` is valid for `bytes_total` bytes (IoBufMut's contract);
        // `ReadBuf` writes only there, and `set_init` declares what it filled.
        let out = unsafe {
            std::slice::from_raw_parts_mut(buf.write_ptr().cast::<MaybeUninit<u8>>(), room)
        };
        let mut rb = ReadBuf::uninit(out);
        // (A TCP end without close_notify is an error here, as with monoio-rustls: a
        // body delimited by the close cannot be told whole then.)
        let res = poll_fn(|cx| self.poll_plaintext(cx, &mut rb)).await;
        let n = rb.filled().len();
        unsafe { buf.set_init(n) };
        (res.map(|()| n), buf)
    }

    async fn readv<T: IoVecBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        // Into the first slice (a short read), as monoio-rustls' stream does.
        // SAFETY: the raw buffer points into `buf`, which outlives the read.
        let res = match unsafe { RawBuf::new_from_iovec_mut(&mut buf) } {
            Some(raw) => self.read(raw).await.0,
            None => Ok(0),
        };
        if let Ok(n) = res {
            unsafe { buf.set_init(n) };
        }
        (res, buf)
    }
}

impl<C, D> AsyncWriteRent for TlsPoll<C>
where
    C: DerefMut<Target = ConnectionCommon<D>> + Unpin,
    D: SideData,
{
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: `read_ptr` is valid for `bytes_init` bytes (IoBuf's contract).
        let data = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        let res = match poll_fn(|cx| Pin::new(&mut *self).poll_write(cx, data)).await {
            Ok(n) => poll_fn(|cx| self.poll_send(cx)).await.map(|()| n),
            Err(e) => Err(e),
        };
        (res, buf)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // From the first slice (a short write), as monoio-rustls' stream does.
        // SAFETY: the raw buffer points into `buf`, which outlives the write.
        let res = match unsafe { RawBuf::new_from_iovec(&buf) } {
            Some(raw) => self.write(raw).await.0,
            None => Ok(0),
        };
        (res, buf)
    }

    async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_send(cx)).await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        poll_fn(|cx| Pin::new(&mut *self).poll_shutdown(cx)).await
    }
}

/// A TLS connection after its handshake, either side (`C`: rustls' connection): in
/// readiness mode ([`TlsPoll`]), which a connection's two halves can share (a tunnel
/// reads and writes at once), or monoio-rustls' stream `M` when the driver cannot
/// switch the socket to readiness mode. Split, that one panics when a read fails to
/// decrypt while a write to a peer that does not read is blocked: a tunnel refuses it
/// (`worker::relay`).
pub enum TlsConn<C, M> {
    Poll(TlsPoll<C>),
    Compat(M),
}

impl<C, M, D> TlsConn<C, M>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
{
    /// Whether the connection's two halves may be used at once.
    pub fn splits_safely(&self) -> bool {
        matches!(self, TlsConn::Poll(_))
    }
}

// monoio-rustls' futures (the `Compat` fallback, rare) are boxed: inline, their ~600
// bytes set the size of every read and write future on a server or client stream,
// plain TCP included, moved into each wait's future per read (docs/benchmarks.md,
// "Sixteenth session").
impl<C, M> AsyncReadRent for TlsConn<C, M>
where
    TlsPoll<C>: AsyncReadRent,
    M: AsyncReadRent,
{
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            TlsConn::Poll(s) => s.read(buf).await,
            TlsConn::Compat(s) => Box::pin(s.read(buf)).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            TlsConn::Poll(s) => s.readv(buf).await,
            TlsConn::Compat(s) => Box::pin(s.readv(buf)).await,
        }
    }
}

impl<C, M> AsyncWriteRent for TlsConn<C, M>
where
    TlsPoll<C>: AsyncWriteRent,
    M: AsyncWriteRent,
{
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            TlsConn::Poll(s) => s.write(buf).await,
            TlsConn::Compat(s) => Box::pin(s.write(buf)).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            TlsConn::Poll(s) => s.writev(buf).await,
            TlsConn::Compat(s) => Box::pin(s.writev(buf)).await,
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            TlsConn::Poll(s) => AsyncWriteRent::flush(s).await,
            TlsConn::Compat(s) => Box::pin(s.flush()).await,
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            TlsConn::Poll(s) => AsyncWriteRent::shutdown(s).await,
            TlsConn::Compat(s) => Box::pin(s.shutdown()).await,
        }
    }
}
