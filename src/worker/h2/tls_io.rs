//! TLS under an HTTP/2 connection (a client's, or one to a server with `proto = "h2"`),
//! in readiness mode: rustls driven directly over the socket ([`TcpStreamPoll`]), with
//! no buffers between them but rustls' own.
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

use std::io::{self, BufRead, Read, Write};
use std::ops::DerefMut;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use monoio::net::tcp::stream_poll::TcpStreamPoll;
use rustls::{ConnectionCommon, SideData};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A TLS connection (rustls' `C`: either side) over a socket in readiness mode.
pub(super) struct TlsPoll<C> {
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
        let this = self.get_mut();
        loop {
            let mut reader = this.tls.reader();
            match reader.fill_buf() {
                Ok(data) => {
                    // Empty: the client sent close_notify.
                    let n = data.len().min(buf.remaining());
                    buf.put_slice(&data[..n]);
                    reader.consume(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // A TCP end without close_notify ends the byte stream all the same:
                // HTTP/2 frames say themselves whether they came whole.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Poll::Ready(Ok(())),
                Err(e) => return Poll::Ready(Err(e)),
            }
            if !ready!(this.poll_receive(cx))? {
                // rustls knows of the end now: the next turn says how it ended.
                continue;
            }
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
