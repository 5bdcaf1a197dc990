//! An HTTP-mode session: requests one after another on a client connection
//! (keep-alive, pipelining answered in order), each parsed strictly, routed, sent to a
//! server connection from this worker's pool (or a new one), its body streamed, and
//! the response streamed back. Upgrades (101) become a byte tunnel.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::buf::IoBufMut;
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, CancelableAsyncReadRent, Canceller,
};
use monoio::net::TcpStream;

use super::body::{pump, read_more, BodyError, End};
use super::error::{SessionError, Side};
use super::relay::{relay, Timeouts};
use super::route::{route, Action};
use super::session::{connect, Reuse};
use super::state::Worker;
use crate::config::Frontend;
use crate::http::{error_response, parse_request, parse_response, BodyFraming, HttpError};

/// Most header fields parsed per message (`global.max_headers` is capped at this).
pub const MAX_HEADERS: usize = 256;

/// What the session needs to know about a parsed request once the buffer is released.
#[derive(Debug, Clone, Copy)]
struct Parsed {
    head_len: usize,
    framing: BodyFraming,
    keep_alive: bool,
    version: u8,
    upgrade: bool,
    expect_continue: bool,
    /// Idempotent and without a body: may be sent again on a fresh connection.
    replayable: bool,
    head_method: bool,
    action: Action,
}

/// Serve one client connection in HTTP mode until it closes or must be closed.
pub async fn serve_http(
    worker: Rc<Worker>,
    fe: usize,
    mut client: TcpStream,
    peer: SocketAddr,
) -> Result<(), SessionError> {
    let _ = client.set_nodelay(true);
    let frontend = &worker.frontends[fe];
    let mut cbuf = worker.take_buffer();
    let mut sbuf = worker.take_buffer();
    let mut head = Vec::with_capacity(1024);
    let mut first = true;
    loop {
        if cbuf.is_empty()
            && !first
            && !wait_next_request(&worker, frontend, &mut client, &mut cbuf, &mut sbuf).await
        {
            return Ok(());
        }
        let parsed =
            match read_request(&worker, frontend, &mut client, &mut cbuf, &mut head, peer).await {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(()),
                Err(status) => {
                    reject(&mut client, status).await;
                    return Ok(());
                }
            };
        cbuf.drain(..parsed.head_len);
        let keep_client = match parsed.action {
            Action::Redirect(i) => {
                let r = &frontend.redirects[i];
                let has_body = parsed.framing != BodyFraming::Length(0);
                let keep = parsed.keep_alive && !has_body;
                head.clear();
                let reason = match r.status {
                    301 => "Moved Permanently",
                    302 => "Found",
                    303 => "See Other",
                    307 => "Temporary Redirect",
                    _ => "Permanent Redirect",
                };
                let close = if keep { "" } else { "connection: close\r\n" };
                head.extend_from_slice(
                    format!(
                        "HTTP/1.1 {} {reason}\r\nlocation: {}\r\ncontent-length: 0\r\n{close}\r\n",
                        r.status, r.location
                    )
                    .as_bytes(),
                );
                let (res, h) = client.write_all(std::mem::take(&mut head)).await;
                head = h;
                res.is_ok() && keep
            }
            Action::NoBackend => {
                reject(&mut client, 503).await;
                false
            }
            Action::Backend(b) => match forward(
                &worker,
                frontend,
                b,
                &mut client,
                &mut cbuf,
                &mut sbuf,
                &mut head,
                &parsed,
                peer,
                first,
            )
            .await
            {
                Ok(Next::KeepGoing) => parsed.keep_alive,
                Ok(Next::Close) => false,
                Ok(Next::Upgraded(mut server)) => {
                    // Bytes already read past the heads belong to the tunnel.
                    if !sbuf.is_empty() {
                        let (res, _) = client.write_all(std::mem::take(&mut sbuf)).await;
                        res.map_err(|e| SessionError::Io(Side::Client, e))?;
                    }
                    if !cbuf.is_empty() {
                        let (res, _) = server.write_all(std::mem::take(&mut cbuf)).await;
                        res.map_err(|e| SessionError::Io(Side::Server, e))?;
                    }
                    let t = tunnel_timeouts(&worker, frontend, b);
                    relay(
                        client,
                        server,
                        t,
                        (worker.take_buffer(), worker.take_buffer()),
                    )
                    .await?;
                    return Ok(());
                }
                Err(e) => {
                    tracing::debug!(worker = worker.id, %peer, "request failed: {e}");
                    false
                }
            },
        };
        first = false;
        if !keep_client {
            worker.give_buffer(cbuf);
            worker.give_buffer(sbuf);
            return Ok(());
        }
    }
}

/// How long an idle keep-alive client keeps its buffer attached to a pending read.
const HOT_WAIT: Duration = Duration::from_secs(1);

/// Wait for the next request on a keep-alive connection; false when the client closed
/// or stayed idle past `timeout_http_keep_alive`. For a while (`HOT_WAIT`) a read with
/// the buffer attached is pending, so a busy connection costs one operation per
/// request. After that the read is cancelled (monoio hands the buffer back, with any
/// bytes that raced in) and the buffers go back to the worker's pool: a connection that
/// stays idle holds no buffer, only a readiness wait.
async fn wait_next_request(
    worker: &Worker,
    fe: &Frontend,
    client: &mut TcpStream,
    cbuf: &mut Vec<u8>,
    sbuf: &mut Vec<u8>,
) -> bool {
    let hot = HOT_WAIT.min(fe.timeout_http_keep_alive);
    let canceller = Canceller::new();
    let (res, slice, cancelled) = {
        let mut read = std::pin::pin!(
            client.cancelable_read(std::mem::take(cbuf).slice_mut(0..), canceller.handle())
        );
        monoio::select! {
            (res, slice) = &mut read => (res, slice, false),
            _ = monoio::time::sleep(hot) => {
                let _canceller = canceller.cancel();
                let (res, slice) = read.await;
                (res, slice, true)
            }
        }
    };
    *cbuf = slice.into_inner();
    match res {
        Ok(0) => return false,
        Ok(_) => return true,
        Err(_) if !cancelled => return false,
        Err(_) => {}
    }
    worker.give_buffer(std::mem::take(cbuf));
    worker.give_buffer(std::mem::take(sbuf));
    let cold = fe.timeout_http_keep_alive.saturating_sub(hot);
    let ready = monoio::time::timeout(cold, client.readable(false)).await;
    *cbuf = worker.take_buffer();
    *sbuf = worker.take_buffer();
    matches!(ready, Ok(Ok(())))
}

/// Read until a whole request head is in `cbuf`, then parse, validate and route it, and
/// write the head for the server into `head`. `Ok(None)`: the client closed or stayed
/// silent. `Err(status)`: answer with that error and close.
async fn read_request(
    worker: &Worker,
    fe: &Frontend,
    client: &mut TcpStream,
    cbuf: &mut Vec<u8>,
    head: &mut Vec<u8>,
    peer: SocketAddr,
) -> Result<Option<Parsed>, u16> {
    // The whole head must arrive within timeout_http_request: trickling bytes does not
    // extend it (slowloris).
    let deadline = Instant::now() + fe.timeout_http_request;
    loop {
        if !cbuf.is_empty() {
            match parse_and_route(worker, fe, cbuf, head, peer) {
                Ok(Some(p)) => return Ok(Some(p)),
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(worker = worker.id, %peer, "refused request: {e}");
                    return Err(e.status());
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let mut end = End {
            stream: client,
            side: Side::Client,
            timeout: left,
        };
        // (A timed-out read takes the buffer with it: look before reading.)
        let partial = !cbuf.is_empty();
        match read_more(&mut end, cbuf).await {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            // Nothing at all: close quietly (an idle or pre-opened connection).
            Err(BodyError::Timeout(_)) if !partial => return Ok(None),
            Err(BodyError::Timeout(_)) => return Err(408),
            Err(_) => return Ok(None),
        }
    }
}

fn parse_and_route(
    worker: &Worker,
    fe: &Frontend,
    cbuf: &[u8],
    head: &mut Vec<u8>,
    peer: SocketAddr,
) -> Result<Option<Parsed>, HttpError> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let Some(req) = parse_request(cbuf, &worker.http_limits, &mut storage)? else {
        return Ok(None);
    };
    if worker.max_body_bytes > 0
        && matches!(req.framing, BodyFraming::Length(n) if n > worker.max_body_bytes)
    {
        return Err(HttpError::PayloadTooLarge);
    }
    let action = route(fe, req.host, req.path());
    if let Action::Backend(_) = action {
        req.write_upstream_head(head, peer.ip(), fe.forwarded_for);
    }
    Ok(Some(Parsed {
        head_len: req.head_len,
        framing: req.framing,
        keep_alive: req.keep_alive,
        version: req.version,
        upgrade: req.upgrade,
        expect_continue: req.expect_continue,
        replayable: req.idempotent() && req.framing == BodyFraming::Length(0),
        head_method: req.method == "HEAD",
        action,
    }))
}

enum Next {
    KeepGoing,
    Close,
    Upgraded(TcpStream),
}

/// Send one request to a server of `backend` and its response back to the client.
#[allow(clippy::too_many_arguments)]
async fn forward(
    worker: &Rc<Worker>,
    fe: &Frontend,
    backend: usize,
    client: &mut TcpStream,
    cbuf: &mut Vec<u8>,
    sbuf: &mut Vec<u8>,
    head: &mut Vec<u8>,
    req: &Parsed,
    peer: SocketAddr,
    first: bool,
) -> Result<Next, SessionError> {
    let server_timeout = worker.backends.borrow()[backend].config.timeout_server;
    // http-reuse safe: a client's first request never goes on a reused connection.
    let mut reuse = if first {
        Reuse::Never
    } else {
        Reuse::Pooled {
            verify: !req.replayable,
        }
    };
    loop {
        let (lease, mut server, reused) = match connect(worker, backend, peer, reuse).await {
            Ok(c) => c,
            Err(e) => {
                reject(client, 503).await;
                return Err(e);
            }
        };
        let retry_fresh = reused && req.replayable;
        let (res, h) = server.write_all(std::mem::take(head)).await;
        *head = h;
        if res.is_err() {
            if retry_fresh {
                reuse = Reuse::Never;
                continue;
            }
            reject(client, 502).await;
            return Ok(Next::Close);
        }
        if req.expect_continue && req.framing != BodyFraming::Length(0) {
            // Like nginx: ringlb says "go on" itself and streams the body.
            send_static(client, b"HTTP/1.1 100 Continue\r\n\r\n").await;
        }
        {
            let mut src = End {
                stream: client,
                side: Side::Client,
                timeout: fe.timeout_client,
            };
            let mut dst = End {
                stream: &mut server,
                side: Side::Server,
                timeout: server_timeout,
            };
            match pump(&mut src, &mut dst, cbuf, req.framing, worker.max_body_bytes).await {
                Ok(_) => {}
                Err(BodyError::TooLarge) => {
                    reject(client, 413).await;
                    return Ok(Next::Close);
                }
                Err(BodyError::Chunked(Side::Client, _)) => {
                    reject(client, 400).await;
                    return Ok(Next::Close);
                }
                Err(BodyError::Timeout(Side::Client)) => {
                    reject(client, 408).await;
                    return Ok(Next::Close);
                }
                Err(e @ (BodyError::Io(Side::Server, _) | BodyError::Timeout(Side::Server))) => {
                    reject(client, 502).await;
                    return Err(body_error(e));
                }
                Err(e) => return Err(body_error(e)),
            }
        }
        // The response: interim heads first (forwarded), then the final one.
        sbuf.clear();
        loop {
            let client_keep_wanted = req.keep_alive;
            let got = read_response_head(
                &mut server,
                sbuf,
                head,
                server_timeout,
                req.head_method,
                client_keep_wanted,
                req.version,
            )
            .await;
            let ResponseHead {
                status,
                framing,
                server_keep,
                client_keep,
                head_len,
            } = match got {
                Ok(r) => r,
                Err(HeadError::ClosedEarly) if retry_fresh && sbuf.is_empty() => {
                    reuse = Reuse::Never;
                    break;
                }
                Err(HeadError::Timeout) => {
                    reject(client, 504).await;
                    return Ok(Next::Close);
                }
                Err(_) => {
                    reject(client, 502).await;
                    return Ok(Next::Close);
                }
            };
            sbuf.drain(..head_len);
            // Send the part of the body already read with the head in the same write:
            // one operation instead of two for a typical small response.
            let mut rest = framing;
            if let BodyFraming::Length(n) = framing {
                let k = (n.min(sbuf.len() as u64)) as usize;
                head.extend_from_slice(&sbuf[..k]);
                sbuf.drain(..k);
                rest = BodyFraming::Length(n - k as u64);
            }
            let (res, h) = client.write_all(std::mem::take(head)).await;
            *head = h;
            res.map_err(|e| SessionError::Io(Side::Client, e))?;
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            if status == 101 {
                if !req.upgrade {
                    return Ok(Next::Close);
                }
                drop(lease);
                return Ok(Next::Upgraded(server));
            }
            let mut src = End {
                stream: &mut server,
                side: Side::Server,
                timeout: server_timeout,
            };
            let mut dst = End {
                stream: client,
                side: Side::Client,
                timeout: fe.timeout_client,
            };
            pump(&mut src, &mut dst, sbuf, rest, 0)
                .await
                .map_err(body_error)?;
            if server_keep && sbuf.is_empty() {
                worker
                    .pool
                    .put(backend, lease.server, server, Instant::now());
            }
            return Ok(if client_keep {
                Next::KeepGoing
            } else {
                Next::Close
            });
        }
    }
}

#[derive(Debug)]
enum HeadError {
    ClosedEarly,
    Timeout,
    Invalid,
}

/// A response head, already rewritten for the client.
struct ResponseHead {
    status: u16,
    framing: BodyFraming,
    /// The server keeps its connection open after this response.
    server_keep: bool,
    /// The client connection stays open after this response.
    client_keep: bool,
    head_len: usize,
}

/// Read until a whole response head is in `sbuf`, parse it once, and write the head for
/// the client into `out`.
#[allow(clippy::too_many_arguments)]
async fn read_response_head(
    server: &mut TcpStream,
    sbuf: &mut Vec<u8>,
    out: &mut Vec<u8>,
    timeout: Duration,
    head_request: bool,
    client_keep_alive: bool,
    client_version: u8,
) -> Result<ResponseHead, HeadError> {
    loop {
        if !sbuf.is_empty() {
            let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match parse_response(sbuf, head_request, &mut storage) {
                Ok(Some(r)) => {
                    // A close-delimited body cannot be delimited for the client either.
                    let client_keep = client_keep_alive && r.framing != BodyFraming::UntilClose;
                    r.write_downstream_head(out, !client_keep, client_version == 0 && client_keep);
                    return Ok(ResponseHead {
                        status: r.status,
                        framing: r.framing,
                        server_keep: r.keep_alive,
                        client_keep,
                        head_len: r.head_len,
                    });
                }
                Ok(None) => {}
                Err(_) => return Err(HeadError::Invalid),
            }
        }
        // (A timed-out read takes the buffer with it: look before reading.)
        let partial = !sbuf.is_empty();
        let mut end = End {
            stream: server,
            side: Side::Server,
            timeout,
        };
        match read_more(&mut end, sbuf).await {
            Ok(0) if !partial => return Err(HeadError::ClosedEarly),
            Ok(0) => return Err(HeadError::Invalid),
            Ok(_) => {}
            Err(BodyError::Timeout(_)) => return Err(HeadError::Timeout),
            Err(_) if !partial => return Err(HeadError::ClosedEarly),
            Err(_) => return Err(HeadError::Invalid),
        }
    }
}

fn body_error(e: BodyError) -> SessionError {
    match e {
        BodyError::Io(side, err) => SessionError::Io(side, err),
        BodyError::Timeout(side) => SessionError::Timeout(side),
        BodyError::Truncated(side) | BodyError::Chunked(side, _) => SessionError::Io(
            side,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
        ),
        BodyError::TooLarge => SessionError::Io(Side::Client, std::io::Error::other(e.to_string())),
    }
}

fn tunnel_timeouts(worker: &Worker, fe: &Frontend, backend: usize) -> Timeouts {
    let b = &worker.backends.borrow()[backend].config;
    match fe.timeout_tunnel.or(b.timeout_tunnel) {
        Some(t) => Timeouts {
            client: t,
            server: t,
        },
        None => Timeouts {
            client: fe.timeout_client,
            server: b.timeout_server,
        },
    }
}

/// Best effort: the connection is closed right after anyway.
async fn send_static(client: &mut TcpStream, bytes: &'static [u8]) {
    let _ = client.write_all(bytes).await;
}

/// How long a refused client may keep sending before the socket is closed.
const LINGER: Duration = Duration::from_secs(1);

/// Answer with an error status, then close *lingeringly*: half-close, and read and
/// discard what the client still sends for a short while. Closing a socket that holds
/// unread input makes the kernel send a reset, which can destroy the error response
/// before the client reads it (HAProxy and nginx linger for the same reason).
async fn reject(client: &mut TcpStream, status: u16) {
    if client.write_all(error_response(status)).await.0.is_err() {
        return;
    }
    let _ = client.shutdown().await;
    let deadline = Instant::now() + LINGER;
    let mut sink = Vec::with_capacity(4096);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match monoio::time::timeout(left, client.read(sink)).await {
            Ok((Ok(n), buf)) if n > 0 => sink = buf,
            _ => return,
        }
    }
}
