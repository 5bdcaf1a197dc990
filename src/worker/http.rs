//! An HTTP-mode session: requests one after another on a client connection
//! (keep-alive, pipelining answered in order), each parsed strictly, routed, sent to a
//! server connection from this worker's pool (or a new one), its body streamed, and
//! the response streamed back. Upgrades (101) become a byte tunnel.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use monoio::io::AsyncWriteRentExt;

use super::access::{request_line, Record};
use super::backend::Outcome;
use super::body::{pump, BodyError, End};
use super::error::{SessionError, Side};
use super::http_heads::{
    read_request, read_response_head, reject, send_static, wait_next_request, HeadError, Parsed,
    ResponseHead,
};
use super::relay::relay;
use super::route::Action;
use super::upstream::{connect, Replays};
use super::session::tunnel_timeouts;
use super::state::Worker;
use crate::msg::stats::count_status;
use crate::tls::{ClientStream, ServerStream};
use crate::config::Frontend;
use crate::http::BodyFraming;

/// Serve one client connection in HTTP mode until it closes or must be closed.
pub async fn serve_http(
    worker: Rc<Worker>,
    fe: usize,
    mut client: ClientStream,
    peer: SocketAddr,
    tls: Option<(&'static str, &'static str)>,
) -> Result<(), SessionError> {
    let mut cbuf = worker.take_buffer();
    let mut sbuf = worker.take_buffer();
    let mut head = Vec::with_capacity(1024);
    let mut first = true;
    let logging = worker.logging();
    // The request line for the access log, reused from request to request.
    let mut line = Vec::new();
    loop {
        // Per request: a reload may have changed the frontend.
        let frontend_rc = worker.frontend(fe);
        let frontend = &*frontend_rc;
        if cbuf.is_empty()
            && !first
            && !wait_next_request(
                &worker,
                frontend,
                &mut client,
                &mut cbuf,
                &mut sbuf,
                &mut head,
            )
            .await
        {
            return Ok(());
        }
        let mut rec = Record::new(peer, fe, tls, logging);
        let parsed =
            match read_request(&worker, frontend, &mut client, &mut cbuf, &mut head, peer).await {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(()),
                Err(status) => {
                    refuse(&worker, fe, &mut client, status, true, &mut rec).await;
                    if logging {
                        request_line(&cbuf, &mut line);
                        rec.bytes_in = cbuf.len() as u64;
                        worker.log_access(&rec, &line);
                    }
                    return Ok(());
                }
            };
        worker.with_frontend_stats(fe, |s| s.requests += 1);
        if logging {
            request_line(&cbuf[..parsed.head_len], &mut line);
            rec.bytes_in = parsed.head_len as u64;
        }
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
                worker.with_frontend_stats(fe, |s| count_status(&mut s.responses, r.status));
                rec.status = Some(r.status);
                rec.bytes_out = head.len() as u64;
                let (res, h) = client.write_all(std::mem::take(&mut head)).await;
                head = h;
                res.is_ok() && keep
            }
            Action::NoBackend => {
                refuse(&worker, fe, &mut client, 503, false, &mut rec).await;
                false
            }
            Action::Backend(b) => match forward(
                &worker,
                (fe, frontend),
                b,
                &mut client,
                &mut cbuf,
                &mut sbuf,
                &mut head,
                &parsed,
                &mut rec,
                first,
            )
            .await
            {
                Ok(Next::KeepGoing) => parsed.keep_alive,
                Ok(Next::Close) => false,
                Ok(Next::Upgraded(mut server)) => {
                    // The upgrade is the request's end in the log; the tunnel is not.
                    if logging {
                        worker.log_access(&rec, &line);
                    }
                    // Bytes already read past the heads belong to the tunnel.
                    if !sbuf.is_empty() {
                        let (res, _) = client.write_all(std::mem::take(&mut sbuf)).await;
                        res.map_err(|e| SessionError::Io(Side::Client, e))?;
                    }
                    if !cbuf.is_empty() {
                        let (res, _) = server.write_all(std::mem::take(&mut cbuf)).await;
                        res.map_err(|e| SessionError::Io(Side::Server, e))?;
                    }
                    let t = tunnel_timeouts(frontend, &worker.backend_settings(b));
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
                    tracing::debug!(worker = worker.id(), %peer, "request failed: {e}");
                    false
                }
            },
        };
        first = false;
        if logging {
            worker.log_access(&rec, &line);
        }
        if !keep_client {
            worker.give_buffer(cbuf);
            worker.give_buffer(sbuf);
            return Ok(());
        }
    }
}

enum Next {
    KeepGoing,
    Close,
    Upgraded(ServerStream),
}

/// Send one request to a server of `backend` and its response back to the client.
#[allow(clippy::too_many_arguments)]
async fn forward(
    worker: &Rc<Worker>,
    (slot, fe): (usize, &Frontend),
    backend: usize,
    client: &mut ClientStream,
    cbuf: &mut Vec<u8>,
    sbuf: &mut Vec<u8>,
    head: &mut Vec<u8>,
    req: &Parsed,
    rec: &mut Record,
    first: bool,
) -> Result<Next, SessionError> {
    let peer = rec.peer;
    rec.backend = Some(backend);
    let settings = worker.backend_settings(backend);
    let server_timeout = settings.timeout_server;
    // When a request that got nothing back is sent again: see `upstream::Replays`.
    let mut replays = Replays::new(settings.retry, req.replayable, first);
    loop {
        let (reuse, avoid) = replays.next_send();
        let (lease, mut server, reused) = match connect(worker, backend, peer, reuse, avoid).await {
            Ok(c) => c,
            Err(e) => {
                refuse(worker, slot, client, 503, false, rec).await;
                return Err(e);
            }
        };
        rec.server = Some(lease.server);
        let attempt = replays.start(lease.server, reused);
        let sent = Instant::now();
        let (res, h) = server.write_all(std::mem::take(head)).await;
        *head = h;
        if res.is_err() {
            if attempt.counts_against_server() {
                worker.record(backend, lease.server, Outcome::ResponseFailed);
            }
            if attempt.may_replay() {
                replays.replay();
                continue;
            }
            refuse(worker, slot, client, 502, false, rec).await;
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
            match pump(
                &mut src,
                &mut dst,
                cbuf,
                req.framing,
                worker.max_body_bytes(),
            )
            .await
            {
                Ok(n) => rec.bytes_in += n,
                Err(BodyError::TooLarge) => {
                    refuse(worker, slot, client, 413, true, rec).await;
                    return Ok(Next::Close);
                }
                Err(BodyError::Chunked(Side::Client, _)) => {
                    refuse(worker, slot, client, 400, true, rec).await;
                    return Ok(Next::Close);
                }
                Err(BodyError::Timeout(Side::Client)) => {
                    refuse(worker, slot, client, 408, true, rec).await;
                    return Ok(Next::Close);
                }
                Err(e @ (BodyError::Io(Side::Server, _) | BodyError::Timeout(Side::Server))) => {
                    worker.record(backend, lease.server, Outcome::ResponseFailed);
                    refuse(worker, slot, client, 502, false, rec).await;
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
                Err(HeadError::ClosedEarly) if attempt.may_replay() && sbuf.is_empty() => {
                    if attempt.counts_against_server() {
                        worker.record(backend, lease.server, Outcome::ResponseFailed);
                    }
                    replays.replay();
                    break;
                }
                Err(HeadError::Timeout) => {
                    worker.record(backend, lease.server, Outcome::ResponseFailed);
                    refuse(worker, slot, client, 504, false, rec).await;
                    return Ok(Next::Close);
                }
                Err(_) => {
                    worker.record(backend, lease.server, Outcome::ResponseFailed);
                    refuse(worker, slot, client, 502, false, rec).await;
                    return Ok(Next::Close);
                }
            };
            if !(100..200).contains(&status) || status == 101 {
                // Time to the final response head: what p2c balances on.
                let latency = sent.elapsed();
                worker.record(backend, lease.server, Outcome::Response { status, latency });
                worker.with_frontend_stats(slot, |s| count_status(&mut s.responses, status));
            }
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
            rec.status = Some(status);
            rec.bytes_out += head.len() as u64;
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
            let pumped = pump(&mut src, &mut dst, sbuf, rest, 0).await;
            if let Ok(n) = pumped {
                rec.bytes_out += n;
            }
            if let Err(e) = pumped {
                if matches!(
                    e,
                    BodyError::Io(Side::Server, _)
                        | BodyError::Timeout(Side::Server)
                        | BodyError::Truncated(Side::Server)
                        | BodyError::Chunked(Side::Server, _)
                ) {
                    worker.record(backend, lease.server, Outcome::ResponseFailed);
                }
                return Err(body_error(e));
            }
            if server_keep && sbuf.is_empty() {
                worker.pool_put(backend, lease.server, server, Instant::now());
            }
            return Ok(if client_keep {
                Next::KeepGoing
            } else {
                Next::Close
            });
        }
    }
}

/// Answer with an error status, counted for frontend `slot` (`invalid`: the client's
/// request was at fault), then close.
async fn refuse(
    worker: &Worker,
    slot: usize,
    client: &mut ClientStream,
    status: u16,
    invalid: bool,
    rec: &mut Record,
) {
    rec.status = Some(status);
    worker.with_frontend_stats(slot, |s| {
        count_status(&mut s.responses, status);
        s.invalid_requests += u64::from(invalid);
    });
    reject(client, status).await;
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
