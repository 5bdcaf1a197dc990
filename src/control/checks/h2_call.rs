//! The I/O of checks over HTTP/2 (grpc, and http with `proto = "h2"`), kept thin: one
//! connection (the `h2` crate's client, on the control thread's runtime), one request,
//! the answer read (its body up to a bound) and handed to `grpc.rs` or `http.rs` to
//! judge. The caller bounds it all by the check's `timeout`; the connection is dropped
//! after.
//!
//! The connection runs in readiness mode, as the data path's HTTP/2 connections do:
//! the socket itself ([`TcpStreamPoll`]), or rustls driven over it ([`TlsPoll`]), read
//! and written straight from the library's own buffers, with no adapter buffers in
//! between.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use monoio::net::tcp::stream_poll::TcpStreamPoll;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use http_types::{HeaderMap, Request};

use super::grpc::{head_verdict, request_body, request_head, verdict, GrpcFailure, MAX_RESPONSE};
use super::http::{authority, h2_request, h2_verdict, MAX_BODY};
use super::Failure;
use crate::config::{HealthCheck, Server, ServerTls};
use crate::tls::{ServerStream, TlsPoll};

/// The library's client, sized for one small call.
fn builder() -> h2::client::Builder {
    let mut b = h2::client::Builder::new();
    b.enable_push(false)
        .initial_window_size(MAX_RESPONSE as u32)
        .max_header_list_size(16 * 1024)
        .max_send_buffer_size(16 * 1024);
    b
}

/// The TLS client configuration of a check over HTTP/2: the server's or the check's,
/// with ALPN `h2` offered (gRPC servers require it). Built per check: a check runs once
/// an interval, and the copy shares the original's roots and session cache.
pub fn with_h2_alpn(config: &Arc<rustls::ClientConfig>) -> Arc<rustls::ClientConfig> {
    let mut c = (**config).clone();
    c.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(c)
}

/// Call `grpc.health.v1.Health/Check` over `stream` (plain, or TLS already done).
pub async fn grpc(
    stream: ServerStream,
    check: &HealthCheck,
    server: &Server,
    tls: Option<&ServerTls>,
) -> Result<(), Failure> {
    let authority = authority(check, server, tls);
    let head = request_head(&authority, tls.is_some(), check.timeout)?;
    let body = Bytes::from(request_body(&check.grpc_service));
    let answer = exchange(stream, head, body, MAX_RESPONSE).await?;
    if let Some(v) = head_verdict(answer.status, &answer.headers) {
        return v;
    }
    if answer.cut {
        return Err(GrpcFailure::TooLarge.into());
    }
    verdict(&answer.body, answer.trailers.as_ref())
}

/// An http check over HTTP/2 (`proto = "h2"`): the request, judged as over HTTP/1.1.
pub async fn http(
    stream: ServerStream,
    check: &HealthCheck,
    server: &Server,
    tls: Option<&ServerTls>,
) -> Result<(), Failure> {
    let head = h2_request(check, &authority(check, server, tls), tls.is_some())?;
    let answer = exchange(stream, head, Bytes::new(), MAX_BODY).await?;
    h2_verdict(answer.status, &answer.body, check)
}

/// What an HTTP/2 request got back.
struct Answer {
    status: u16,
    headers: HeaderMap,
    /// At most the bound given to [`exchange`].
    body: Vec<u8>,
    /// The body went on past the bound (and was not read further).
    cut: bool,
    trailers: Option<HeaderMap>,
}

/// One request over a new HTTP/2 connection on `stream`: its answer, the body read
/// up to `max` bytes (and the trailers, when the body ended within it).
async fn exchange(
    stream: ServerStream,
    head: Request<()>,
    body: Bytes,
    max: usize,
) -> Result<Answer, Failure> {
    let write_error = Rc::new(RefCell::new(None));
    let io = Kept {
        inner: readiness(stream)?,
        write_error: Rc::clone(&write_error),
    };
    let fail = |e: h2::Error| failure(e, &write_error);
    let (send, conn) = builder().handshake::<_, Bytes>(io).await.map_err(fail)?;
    let call = async {
        let mut send = send.ready().await.map_err(fail)?;
        let end = body.is_empty();
        let (response, mut outgoing) = send.send_request(head, end).map_err(fail)?;
        if !end {
            outgoing.send_data(body, true).map_err(fail)?;
        }
        let (head, mut incoming) = response.await.map_err(fail)?.into_parts();
        let mut answer = Answer {
            status: head.status.as_u16(),
            headers: head.headers,
            body: Vec::new(),
            cut: false,
            trailers: None,
        };
        while let Some(chunk) = incoming.data().await {
            let chunk = chunk.map_err(fail)?;
            let room = max - answer.body.len();
            answer
                .body
                .extend_from_slice(&chunk[..chunk.len().min(room)]);
            if chunk.len() > room {
                answer.cut = true;
                return Ok(answer);
            }
            let _ = incoming.flow_control().release_capacity(chunk.len());
        }
        answer.trailers = incoming.trailers().await.map_err(fail)?;
        Ok(answer)
    };
    let (mut call, mut conn) = (std::pin::pin!(call), std::pin::pin!(conn));
    monoio::select! {
        v = &mut call => v,
        ended = &mut conn => {
            // The connection ended, maybe just after the whole answer (a server that
            // closes after each request): the call takes what arrived, and only a
            // call cut short by the end reports the end.
            let v = call.await;
            match (&v, ended) {
                (Err(Failure::Io(_) | Failure::H2(_)), Ok(())) => {
                    Err(Failure::H2("the server closed the connection".into()))
                }
                _ => v,
            }
        }
    }
}

/// An error of the library as a check failure: anything the library itself refused
/// (an HTTP/1.x answer to the preface is not a frame) as "no HTTP/2 answer"; a
/// reset or GOAWAY from the server as HTTP/2; a socket error as such, the failed
/// write's first when [`Kept`] held one back.
fn failure(e: h2::Error, write_error: &RefCell<Option<io::Error>>) -> Failure {
    if e.is_library() {
        return Failure::NotH2(e.to_string());
    }
    if let Some(w) = write_error.borrow_mut().take() {
        return Failure::Io(w);
    }
    let text = e.to_string();
    match e.into_io() {
        Some(io) => Failure::Io(io),
        None => Failure::H2(text),
    }
}

/// What the library reads and writes: a socket in readiness mode, or rustls over one.
trait Duplex: AsyncRead + AsyncWrite + Unpin {}

impl Duplex for TcpStreamPoll {}
impl Duplex for TlsPoll<rustls::ClientConnection> {}

/// `stream` switched to readiness mode. The control thread's runtime is the epoll
/// driver, where the switch cannot fail; were it refused, the check reports it (it
/// says nothing about the server then, but never passes unseen).
fn readiness(stream: ServerStream) -> Result<Box<dyn Duplex>, Failure> {
    let refused = |e: io::Error| {
        Failure::Local(io::Error::new(
            e.kind(),
            format!("socket kept in completion mode: {e}"),
        ))
    };
    match stream {
        ServerStream::Plain(tcp) => match tcp.try_into_poll_io() {
            Ok(io) => Ok(Box::new(io)),
            Err((e, _)) => Err(refused(e)),
        },
        ServerStream::Tls(tls) => match tls.into_poll() {
            Ok(io) => Ok(Box::new(io)),
            Err(_) => Err(refused(io::ErrorKind::Unsupported.into())),
        },
        // Checks connect their own sockets: never a stream of a shared connection.
        ServerStream::Pipe(_) => Err(refused(io::ErrorKind::Unsupported.into())),
    }
}

/// The stream, holding back a failed write: an HTTP/1.x server answers the preface
/// and closes before the request is written, and the library, seeing the write
/// fail, would report a broken pipe without reading the answer already received.
/// Held back, that write and every later one (flush and shutdown too) "succeed",
/// the library reads the answer (not a frame), and the failure says the server does
/// not speak HTTP/2. The error is kept for when the read shows nothing better (a
/// reset, a close).
struct Kept {
    inner: Box<dyn Duplex>,
    write_error: Rc<RefCell<Option<io::Error>>>,
}

impl Kept {
    /// A write failed: the write side is gone.
    fn held(&self) -> bool {
        self.write_error.borrow().is_some()
    }

    /// A write's (or flush's) outcome, an error held back as `done` (what a success
    /// would have returned).
    fn hold<T>(&self, res: Poll<io::Result<T>>, done: T) -> Poll<io::Result<T>> {
        match res {
            Poll::Ready(Err(e)) => {
                *self.write_error.borrow_mut() = Some(e);
                Poll::Ready(Ok(done))
            }
            other => other,
        }
    }
}

impl AsyncRead for Kept {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Kept {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.held() {
            return Poll::Ready(Ok(buf.len()));
        }
        let res = Pin::new(&mut *this.inner).poll_write(cx, buf);
        this.hold(res, buf.len())
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let len = bufs.iter().map(|b| b.len()).sum();
        if this.held() {
            return Poll::Ready(Ok(len));
        }
        let res = Pin::new(&mut *this.inner).poll_write_vectored(cx, bufs);
        this.hold(res, len)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.held() {
            return Poll::Ready(Ok(()));
        }
        let res = Pin::new(&mut *this.inner).poll_flush(cx);
        this.hold(res, ())
    }

    /// Never fails: the library shuts down after a connection error, when the
    /// server may have reset the connection already, and that is not the news.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.held() {
            let _ = ready!(Pin::new(&mut *this.inner).poll_shutdown(cx));
        }
        Poll::Ready(Ok(()))
    }
}
