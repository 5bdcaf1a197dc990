//! One request on one stream to an HTTP/2 server: the HTTP/1.1 request the session
//! writes into the pipe is translated (`crate::http::h2::request_to_h2`) and sent as
//! HEADERS, its body as DATA within the server's window (chunks decoded, a chunked
//! trailer section sent as trailers); the response comes back into the pipe as
//! HTTP/1.1 (chunked when its length is unknown, HTTP/2 trailers in the trailer
//! section when the client takes them). Both directions run at once, so a server may
//! answer before the request body ends.
//!
//! Interim responses (103 Early Hints, 100 Continue) come before it as HTTP/1.1
//! interim heads, which the session forwards to its client.
//!
//! The session letting go of its end (a client gone, a timeout) resets the stream
//! (CANCEL, as the library does when the last handle goes). A stream that ends
//! before any response byte (RST_STREAM, GOAWAY, the connection lost) leaves the
//! session reading EOF with nothing: its retry policy decides what follows.

use std::future::poll_fn;
use std::io::Write as _;
use std::pin::pin;
use std::time::Duration;

use ::h2::client::ResponseFuture;
use ::h2::SendStream;
use bytes::Bytes;

use super::super::http_heads::MAX_HEADERS;
use super::send::send_data;
use super::upstream::{ServerConn, StreamOpts, StreamSlot};
use crate::http::h2::{
    last_chunk, request_to_h2, response_to_h1, trailers_to_h2, Asked, ResponseBody,
};
use crate::http::{BodyFraming, ChunkedValidator};
use crate::tls::pipe::PipePeer;

/// Bytes read from the pipe at a time.
const READ: usize = 16 * 1024;

/// One stream's task.
pub(super) struct Task {
    pub slot: StreamSlot,
    pub peer: PipePeer,
    pub scheme: &'static str,
    /// `:authority` when the request has no Host.
    pub authority: String,
    pub opts: StreamOpts,
}

/// Why the request body stopped.
enum Up {
    /// The session let go before the end of the body.
    Gone,
    /// The server no longer takes it (reset, or a shut window): its answer may
    /// still come.
    Refused,
}

impl Task {
    pub(super) async fn run(self) {
        let Task {
            slot,
            peer,
            scheme,
            authority,
            opts,
        } = self;
        let mut buf = Vec::with_capacity(READ);
        let req = loop {
            let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match request_to_h2(&buf, &mut storage, scheme, &authority) {
                Ok(Some(req)) => break req,
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!("request not sent to an HTTP/2 server: {e}");
                    return;
                }
            }
            if peer.read_append(&mut buf, READ).await == 0 {
                return;
            }
        };
        buf.drain(..req.head_len);
        let mut sender = slot.0.sender();
        // Past the server's stream limit the library makes this wait.
        if poll_fn(|cx| sender.poll_ready(cx)).await.is_err() {
            return;
        }
        let empty = req.body == BodyFraming::Length(0);
        let (response, mut body) = match sender.send_request(req.request, empty) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!("HTTP/2 server stream not opened: {e}");
                return;
            }
        };
        let upload = upload(&peer, &mut body, buf, req.body, opts.timeout);
        let download = download(&peer, response, req.asked, opts.trailers, &slot.0);
        let (mut upload, mut download) = (pin!(upload), pin!(download));
        let mut uploaded = empty;
        let mut scratch = Vec::new();
        loop {
            monoio::select! {
                done = &mut download => {
                    if done.is_ok() && !uploaded {
                        // The answer came first: let the session finish writing the
                        // body (it reads the answer after), then go.
                        while peer.read_append(&mut scratch, READ).await > 0 {
                            scratch.clear();
                        }
                    }
                    return;
                }
                up = &mut upload, if !uploaded => match up {
                    Ok(()) | Err(Up::Refused) => uploaded = true,
                    Err(Up::Gone) => return,
                },
                // The body is sent: the session writing nothing more, its end
                // reads EOF once it lets go.
                n = peer.read_append(&mut scratch, READ), if uploaded => {
                    if n == 0 {
                        return;
                    }
                    scratch.clear();
                }
            }
        }
    }
}

/// The request body, from the pipe to the server as DATA (and trailers).
async fn upload(
    peer: &PipePeer,
    send: &mut SendStream<Bytes>,
    mut buf: Vec<u8>,
    framing: BodyFraming,
    timeout: Duration,
) -> Result<(), Up> {
    let mut left = match framing {
        BodyFraming::Length(0) => return Ok(()),
        BodyFraming::Length(n) => n,
        BodyFraming::Chunked => u64::MAX,
        BodyFraming::UntilClose => return Err(Up::Gone),
    };
    let mut chunks = ChunkedValidator::default();
    let (mut payload, mut trailers) = (Vec::new(), Vec::new());
    loop {
        let (data, done) = if framing == BodyFraming::Chunked {
            payload.clear();
            chunks
                .decode_with_trailers(&buf, &mut payload, &mut trailers)
                .map_err(|_| Up::Gone)?;
            (&payload[..], chunks.is_done())
        } else {
            let k = left.min(buf.len() as u64) as usize;
            left -= k as u64;
            (&buf[..k], left == 0)
        };
        let end = done && trailers.is_empty();
        send_data(send, data, end, timeout)
            .await
            .map_err(|_| Up::Refused)?;
        if done {
            if !trailers.is_empty() {
                let fields = trailers_to_h2(&trailers).map_err(|_| Up::Gone)?;
                send.send_trailers(fields).map_err(|_| Up::Refused)?;
            }
            return Ok(());
        }
        buf.clear();
        if peer.read_append(&mut buf, READ).await == 0 {
            return Err(Up::Gone);
        }
    }
}

/// The response, from the server into the pipe as HTTP/1.1. `Err`: it did not come
/// whole (the session sees the pipe end early).
async fn download(
    peer: &PipePeer,
    response: ResponseFuture,
    asked: Asked,
    trailers_ok: bool,
    conn: &ServerConn,
) -> Result<(), ()> {
    let mut response = response;
    let mut out = Vec::with_capacity(1024);
    // Interim responses first (103 Early Hints, 100 Continue), each as an HTTP/1.1
    // interim head: the session forwards them as it does an HTTP/1.1 server's.
    while let Some(interim) = poll_fn(|cx| response.poll_informational(cx)).await {
        let interim = interim.map_err(|e| {
            tracing::debug!("no response from the HTTP/2 server: {e}");
        })?;
        // 101 has no place in HTTP/2 (RFC 9113 §8.6).
        if interim.status() != 101 {
            out.clear();
            interim_head(&interim, &mut out);
            peer.write_all(&out).await.map_err(drop)?;
        }
    }
    let response = response.await.map_err(|e| {
        tracing::debug!("no response from the HTTP/2 server: {e}");
    })?;
    conn.answered();
    let (parts, mut body) = response.into_parts();
    out.clear();
    let end = body.is_end_stream();
    let framing = response_to_h1(parts.status, &parts.headers, end, asked, &mut out);
    peer.write_all(&out).await.map_err(drop)?;
    if framing == ResponseBody::None {
        peer.close_write();
        return Ok(());
    }
    let chunked = framing == ResponseBody::Chunked;
    while let Some(data) = body.data().await {
        let data = data.map_err(drop)?;
        let n = data.len();
        if chunked && n > 0 {
            out.clear();
            let _ = write!(out, "{n:x}\r\n");
            peer.write_all(&out).await.map_err(drop)?;
            peer.write_all(&data).await.map_err(drop)?;
            peer.write_all(b"\r\n").await.map_err(drop)?;
        } else {
            peer.write_all(&data).await.map_err(drop)?;
        }
        // The window opens again only as the session takes the bytes.
        let _ = body.flow_control().release_capacity(n);
    }
    if chunked {
        let trailers = body.trailers().await.map_err(drop)?;
        out.clear();
        last_chunk(trailers.as_ref().filter(|_| trailers_ok), &mut out);
        peer.write_all(&out).await.map_err(drop)?;
    }
    peer.close_write();
    Ok(())
}

/// An HTTP/2 interim response as an HTTP/1.1 interim head (the session parses it
/// strictly; the library has checked the field values already).
fn interim_head(interim: &http_types::Response<()>, out: &mut Vec<u8>) {
    let status = interim.status();
    let reason = status.canonical_reason().unwrap_or("Informational");
    let _ = write!(out, "HTTP/1.1 {} {reason}\r\n", status.as_u16());
    for (name, value) in interim.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interim_response_becomes_an_http11_interim_head() {
        let mut r = http_types::Response::new(());
        *r.status_mut() = http_types::StatusCode::EARLY_HINTS;
        r.headers_mut()
            .append("link", "</a.css>; rel=preload".parse().unwrap());
        r.headers_mut()
            .append("link", "</b.js>; rel=preload".parse().unwrap());
        let mut out = Vec::new();
        interim_head(&r, &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\nlink: </b.js>; rel=preload\r\n\r\n"
        );
        let mut storage = [httparse::EMPTY_HEADER; 4];
        let parsed = crate::http::parse_response(&out, false, &mut storage)
            .unwrap()
            .unwrap();
        assert!(parsed.is_interim());
    }
}
