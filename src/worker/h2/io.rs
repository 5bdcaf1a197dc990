//! The byte stream under an HTTP/2 connection: a client's (read and written by
//! `drive.rs`) or a server's (by the `h2` crate). Plain TCP runs in monoio's readiness
//! mode ([`TcpStreamPoll`]): reads and writes go straight from the connection's own
//! buffers, with no adapter buffer between, and an idle connection waits for
//! readability with no read (and no buffer) in flight. A TLS connection does the same
//! with rustls in between ([`TlsPoll`]). Only a socket the driver cannot switch to
//! readiness mode goes through monoio-compat's adapter over the owned-buffer stream.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use monoio::net::tcp::stream_poll::TcpStreamPoll;
use monoio::net::TcpStream;
use monoio_compat::StreamWrapper;
use rustls::{ClientConnection, ServerConnection};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::tls::{ClientStream, ServerStream, TlsConn, TlsPoll};

/// What a connection reads and writes: over a client's stream `S` = `ClientStream`
/// and `C` = rustls' `ServerConnection`, over a server's the other way round.
pub(super) enum H2Io<S, C> {
    /// Plain TCP, readiness-based: no buffers of its own.
    Poll(TcpStreamPoll),
    /// TLS, readiness-based (boxed: plain connections stay small).
    Tls(Box<TlsPoll<C>>),
    /// A socket the driver could not switch to readiness mode.
    Compat(StreamWrapper<S>),
}

/// Plain TCP in readiness mode when the driver allows it, else `None` with the stream.
fn poll_mode(tcp: TcpStream) -> Result<TcpStreamPoll, TcpStream> {
    tcp.try_into_poll_io().map_err(|(e, tcp)| {
        tracing::debug!("HTTP/2 connection kept in completion mode: {e}");
        tcp
    })
}

impl H2Io<ClientStream, ServerConnection> {
    pub(super) fn client(stream: ClientStream) -> Self {
        match stream {
            ClientStream::Plain(tcp) => match poll_mode(tcp) {
                Ok(p) => H2Io::Poll(p),
                Err(tcp) => H2Io::Compat(StreamWrapper::new(ClientStream::Plain(tcp))),
            },
            // In readiness mode already (`tls::accept_tls`) unless the driver refused.
            ClientStream::Tls(tls) => match *tls {
                TlsConn::Poll(p) => H2Io::Tls(Box::new(p)),
                compat => H2Io::Compat(StreamWrapper::new(ClientStream::Tls(Box::new(compat)))),
            },
            other => H2Io::Compat(StreamWrapper::new(other)),
        }
    }
}

impl H2Io<ServerStream, ClientConnection> {
    pub(super) fn server(stream: ServerStream) -> Self {
        match stream {
            ServerStream::Plain(tcp) => match poll_mode(tcp) {
                Ok(p) => H2Io::Poll(p),
                Err(tcp) => H2Io::Compat(StreamWrapper::new(ServerStream::Plain(tcp))),
            },
            // In readiness mode already (`tls::connect_tls`) unless the driver refused;
            // the PROXY header, if any, went before the handshake.
            ServerStream::Tls(tls) => match tls.into_poll() {
                Ok(p) => H2Io::Tls(Box::new(p)),
                Err(tls) => H2Io::Compat(StreamWrapper::new(ServerStream::Tls(tls))),
            },
            other => H2Io::Compat(StreamWrapper::new(other)),
        }
    }
}

impl<S, C> AsyncRead for H2Io<S, C>
where
    StreamWrapper<S>: AsyncRead + Unpin,
    TlsPoll<C>: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            H2Io::Poll(s) => Pin::new(s).poll_read(cx, buf),
            H2Io::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
            H2Io::Compat(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl<S, C> AsyncWrite for H2Io<S, C>
where
    StreamWrapper<S>: AsyncWrite + Unpin,
    TlsPoll<C>: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            H2Io::Poll(s) => Pin::new(s).poll_write(cx, buf),
            H2Io::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
            H2Io::Compat(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            H2Io::Poll(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            H2Io::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
            H2Io::Compat(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            H2Io::Poll(s) => s.is_write_vectored(),
            H2Io::Tls(s) => s.is_write_vectored(),
            H2Io::Compat(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            H2Io::Poll(s) => Pin::new(s).poll_flush(cx),
            H2Io::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
            H2Io::Compat(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            H2Io::Poll(s) => Pin::new(s).poll_shutdown(cx),
            H2Io::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
            H2Io::Compat(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    use super::*;
    use crate::worker::http::sizes::ret7;

    /// What an idle client connection's task holds inline: printed with
    /// `cargo test --lib worker::h2::io -- --nocapture`. The connection's state
    /// (`Conn`) is on the heap with what its streams share; the task holds the driver
    /// (the socket, two empty buffers while idle), one timer and a little more.
    #[test]
    fn connection_sizes() {
        type Io = H2Io<ClientStream, ServerConnection>;
        let sizes = [
            ("H2Io (client)", size_of::<Io>()),
            ("TcpStreamPoll", size_of::<TcpStreamPoll>()),
            (
                "StreamWrapper<ClientStream>",
                size_of::<StreamWrapper<ClientStream>>(),
            ),
            ("Conn", size_of::<crate::http::h2::conn::Conn>()),
            ("Driver", size_of::<super::super::drive::Driver>()),
            ("Sleep", size_of::<monoio::time::Sleep>()),
            ("serve_h2 future", ret7(super::super::serve_h2).0),
        ];
        for (what, n) in sizes {
            println!("{what}: {n} bytes");
        }
        let [_, _, _, _, (_, driver), (_, sleep), (_, task)] = sizes;
        assert!(task <= driver + sleep + 1024, "{sizes:?}");
    }
}
