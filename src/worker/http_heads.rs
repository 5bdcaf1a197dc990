//! Reading and answering heads for the HTTP session: waiting for the next request on a
//! keep-alive connection (`http_keepalive.rs`), reading and routing a request head,
//! reading a response head, and refusing a request with an error status.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};

use super::body::{read_more, read_more_timed, BodyError, End};
use super::error::Side;
use super::persist::{self, Sticky};
use super::route::{route, Action};
use super::rules::{self, RuleConn};
use super::rules_backend;
use super::state::Worker;
use super::timer::{self, Kept};
use crate::config::Frontend;
use crate::http::h2::{translated_request, Translated};
use crate::http::{parse_request, parse_response, BodyFraming, Forwarding, HttpError, Request};
use crate::rules::{Facts, Headers, HttpFacts, Slots};
use crate::tls::{ClientStream, ServerStream};

#[path = "http_keepalive.rs"]
mod keepalive;
pub use keepalive::wait_next_request;

/// Most header fields parsed per message (`global.max_headers` is capped at this).
pub const MAX_HEADERS: usize = 128;

/// What the session needs to know about a parsed request once the buffer is released.
#[derive(Debug, Clone, Copy)]
pub struct Parsed {
    pub head_len: usize,
    pub framing: BodyFraming,
    pub keep_alive: bool,
    pub version: u8,
    pub upgrade: bool,
    pub expect_continue: bool,
    /// Idempotent and without a body: may be sent again on a fresh connection.
    pub replayable: bool,
    pub head_method: bool,
    /// GET, HEAD, OPTIONS or TRACE: its response may be cacheable.
    pub safe_method: bool,
    /// The client takes trailer fields (`TE: trailers`): an HTTP/2 server's trailers
    /// reach it.
    pub trailers: bool,
    pub action: Action,
    /// The entries rules track the request in (errors are counted there).
    pub tracked: Slots,
    /// The rule that decided, in the frontend's rule numbering.
    pub rule: Option<usize>,
    /// What the backend's persistence cookie said, if it has one.
    pub sticky: Sticky,
    /// The request's key hash when its backend balances by `uri`, `url_param` or
    /// `hdr` (and the request has that key).
    pub hash: Option<u32>,
    /// The coding the response may be compressed with (`compression` configured and
    /// accepted by the client).
    pub compress: Option<crate::http::compress::Coding>,
}

/// The frontend's slot, the connection's rule state, the TLS version.
pub type RuleCtx<'a> = (usize, &'a RuleConn, Option<&'static str>);

/// Read until a whole request head is in `cbuf`, then parse, validate and route it, and
/// write the head for the server into `head`. `Ok(None)`: the client closed or stayed
/// silent. `Err(status)`: answer with that error and close.
#[allow(clippy::too_many_arguments)]
pub async fn read_request(
    worker: &Worker,
    fe: &Frontend,
    client: &mut ClientStream,
    cbuf: &mut Vec<u8>,
    head: &mut Vec<u8>,
    peer: SocketAddr,
    rc: RuleCtx<'_>,
    translated: Option<&Translated>,
) -> Result<Option<Parsed>, u16> {
    // The whole head must arrive within timeout_http_request: trickling bytes does not
    // extend it (slowloris). Read off the clock once a read is needed (a keep-alive
    // request is usually whole in `cbuf` already: no clock read then).
    let mut deadline = None;
    loop {
        if !cbuf.is_empty() {
            match parse_and_route(worker, fe, cbuf, head, peer, client, rc, translated) {
                Ok(Some(p)) => return Ok(Some(p)),
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(worker = worker.id(), %peer, "refused request: {e}");
                    return Err(e.status());
                }
            }
        }
        let now = Instant::now();
        let deadline = *deadline.get_or_insert_with(|| now + fe.timeout_http_request);
        let left = deadline.saturating_duration_since(now);
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

#[allow(clippy::too_many_arguments)]
fn parse_and_route(
    worker: &Worker,
    fe: &Frontend,
    cbuf: &[u8],
    head: &mut Vec<u8>,
    peer: SocketAddr,
    client: &ClientStream,
    rc: RuleCtx<'_>,
    translated: Option<&Translated>,
) -> Result<Option<Parsed>, HttpError> {
    let tls = client.is_tls();
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let limits = worker.http_limits();
    // An HTTP/2 stream's head, as its driver wrote and marked it: not parsed again.
    let split = translated.and_then(|t| translated_request(cbuf, t, &limits, &mut storage));
    let Some(req) = (match split {
        Some(req) => Some(req?),
        None => parse_request(cbuf, &limits, &mut storage)?,
    }) else {
        return Ok(None);
    };
    let max_body = worker.max_body_bytes();
    if max_body > 0 && matches!(req.framing, BodyFraming::Length(n) if n > max_body) {
        return Err(HttpError::PayloadTooLarge);
    }
    let (_, conn, tls_version) = rc;
    let facts = Facts {
        tls_version,
        sni: conn.sni.as_deref(),
        alpn: conn.alpn.as_deref(),
        http: Some(HttpFacts {
            method: req.method,
            target: req.target.as_bytes(),
            host: req.host,
            version: rule_version(client, req.version),
            headers: Headers::Parsed(req.headers),
        }),
        ..Facts::connection(peer.ip(), conn.dst_port)
    };
    let keep = req.keep_alive && req.framing == BodyFraming::Length(0);
    let (mut action, tracked, rule) =
        frontend_route(worker, fe, rc, &facts, &req, peer, tls, head, keep);
    // The backend's own rules, once it is chosen (HAProxy's order).
    let mut use_server = None;
    if let Action::Backend(b) = action {
        let after = fe.rules.is_some();
        let d = rules_backend::on_request(worker, fe, b, &facts, head, keep, after);
        match d.answer {
            Some(a) => action = Action::Answer(a),
            None => use_server = d.server,
        }
    }
    let (sticky, compress, hash) = match action {
        Action::Backend(b) => backend_request(worker, fe, b, &req, head, use_server),
        _ => (Sticky::default(), None, None),
    };
    Ok(Some(Parsed {
        head_len: req.head_len,
        framing: req.framing,
        keep_alive: req.keep_alive,
        version: req.version,
        upgrade: req.upgrade,
        expect_continue: req.expect_continue,
        replayable: req.idempotent() && req.framing == BodyFraming::Length(0),
        head_method: req.method == "HEAD",
        safe_method: crate::http::cacheable::safe_method(req.method),
        trailers: req.accepts_trailers(),
        action,
        tracked,
        rule,
        sticky,
        compress,
        hash,
    }))
}

/// Where the frontend sends `req`: its route, then its request rules when it has any
/// (an answer they give replaces the route, and so does a backend they pick unless the
/// route redirects), with the entries the rules track it in and the rule that decided.
/// When it goes to a backend, the head for the server is in `head` (the rules may have
/// written and edited it). `tls`: the client came over TLS.
#[allow(clippy::too_many_arguments)]
fn frontend_route(
    worker: &Worker,
    fe: &Frontend,
    (slot, conn, _): RuleCtx<'_>,
    facts: &Facts<'_>,
    req: &Request<'_, '_>,
    peer: SocketAddr,
    tls: bool,
    head: &mut Vec<u8>,
    keep: bool,
) -> (Action, Slots, Option<usize>) {
    let mut action = route(fe, req.host, req.path());
    let (mut tracked, mut rule, mut written) = (Slots::default(), None, false);
    if fe.rules.is_some() {
        let upstream = |head: &mut Vec<u8>| {
            req.write_upstream_head(head, peer.ip(), forwarding(fe, peer.ip(), tls));
        };
        let d = rules::on_request(
            worker,
            slot,
            fe,
            &conn.state,
            facts,
            head,
            keep,
            &action,
            upstream,
        );
        (tracked, rule, written) = (d.tracked, d.rule, d.written);
        match (d.answer, d.backend) {
            (Some(a), _) => action = Action::Answer(a),
            (None, Some(b)) if !matches!(action, Action::Redirect(_)) => {
                action = Action::Backend(b)
            }
            _ => {}
        }
    }
    if matches!(action, Action::Backend(_)) && !written {
        req.write_upstream_head(head, peer.ip(), forwarding(fe, peer.ip(), tls));
    }
    (action, tracked, rule)
}

/// What backend `b` keeps of a request sent to it: the server its persistence cookie
/// names (after `use_server`, which comes first), the coding its response may be
/// compressed with, and its key hash for `uri`, `url_param` or `hdr` balancing. The
/// cookie and compression may edit the server's head in `head`.
fn backend_request(
    worker: &Worker,
    fe: &Frontend,
    b: usize,
    req: &Request<'_, '_>,
    head: &mut Vec<u8>,
    use_server: Option<usize>,
) -> (Sticky, Option<crate::http::compress::Coding>, Option<u32>) {
    worker.with_backend_config(b, |b| {
        let fields = req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("cookie"));
        let mut sticky = persist::on_request(b, fields.map(|h| h.value), head);
        // `use_server` comes before the persistence cookie.
        sticky.server = use_server.or(sticky.server);
        let hash =
            crate::lb::hashing::request_hash(b.balance, &b.hash, req.target.as_bytes(), |name| {
                field(req.headers, name)
            });
        (
            sticky,
            super::compress::on_request(fe, b, req.headers, head),
            hash,
        )
    })
}

/// The value of the first header field called `name`.
fn field<'a>(headers: &[httparse::Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// The X-Forwarded-* fields a request from `client` gets on this frontend.
fn forwarding(fe: &Frontend, client: std::net::IpAddr, tls: bool) -> Option<Forwarding<'_>> {
    let f = &fe.forwarding;
    fe.forwarded_for.then(|| Forwarding {
        for_name: f.for_client(client),
        if_none: f.if_none,
        proto: f.proto.then_some(if tls { "https" } else { "http" }),
        host: f.host,
    })
}

/// The HTTP version rules see: 2 for an HTTP/2 stream (its pipe carries a head
/// translated to HTTP/1.1), else the request line's minor version.
pub fn rule_version(client: &ClientStream, minor: u8) -> u8 {
    match client {
        ClientStream::Pipe(_) => 2,
        _ => minor,
    }
}

#[derive(Debug)]
pub enum HeadError {
    ClosedEarly,
    Timeout,
    Invalid,
}

/// A response head, already rewritten for the client.
pub struct ResponseHead {
    pub status: u16,
    pub framing: BodyFraming,
    /// The server keeps its connection open after this response.
    pub server_keep: bool,
    /// The client connection stays open after this response.
    pub client_keep: bool,
    pub head_len: usize,
    /// Its body is compressed (`compression`), and how.
    pub compress: Option<super::compress::Plan>,
}

/// How long a server may be silent while its response head comes (`timeout_server`),
/// and the connection's timer that counts it (kept from request to request).
pub struct HeadWait<'a> {
    pub timeout: Duration,
    pub timer: &'a mut Kept,
}

/// Read until a whole response head to `req` is in `sbuf`, parse it once, and write the
/// head for the client into `out` (compressed when `req` negotiated a coding and the
/// response qualifies: see `compress.rs`).
pub async fn read_response_head(
    worker: &Worker,
    fe: &Frontend,
    server: &mut ServerStream,
    sbuf: &mut Vec<u8>,
    out: &mut Vec<u8>,
    wait: HeadWait<'_>,
    req: &Parsed,
) -> Result<ResponseHead, HeadError> {
    loop {
        if !sbuf.is_empty() {
            let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match parse_response(sbuf, req.head_method, &mut storage) {
                Ok(Some(r)) => {
                    // A close-delimited body cannot be delimited for the client
                    // either; a stopping worker tells the client this is the last one.
                    let mut client_keep = req.keep_alive
                        && r.framing != BodyFraming::UntilClose
                        && !worker.is_stopping()
                        && !fe.http_close;
                    r.write_downstream_head(out, !client_keep, req.version == 0 && client_keep);
                    let compress = match (req.compress, req.action) {
                        (Some(coding), Action::Backend(b))
                            if !r.is_interim() && r.status != 101 =>
                        {
                            let client_10 = req.version == 0;
                            worker.with_backend_config(b, |be| {
                                super::compress::on_response(fe, be, coding, &r, client_10, out)
                            })
                        }
                        _ => None,
                    };
                    // An HTTP/1.0 client's compressed body ends with the connection.
                    client_keep &= compress.is_none() || req.version != 0;
                    return Ok(ResponseHead {
                        status: r.status,
                        framing: r.framing,
                        // `http_close`: the server connection ends too.
                        server_keep: r.keep_alive && !fe.http_close,
                        client_keep,
                        head_len: r.head_len,
                        compress,
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
            timeout: wait.timeout,
        };
        match read_more_timed(&mut end, sbuf, Some(&mut *wait.timer)).await {
            Ok(0) if !partial => return Err(HeadError::ClosedEarly),
            Ok(0) => return Err(HeadError::Invalid),
            Ok(_) => {}
            Err(BodyError::Timeout(_)) => return Err(HeadError::Timeout),
            Err(_) if !partial => return Err(HeadError::ClosedEarly),
            Err(_) => return Err(HeadError::Invalid),
        }
    }
}

/// Best effort: the connection is closed right after anyway.
pub async fn send_static(client: &mut ClientStream, bytes: &'static [u8]) {
    let _ = client.write_all(bytes).await;
}

/// How long a refused client may keep sending before the socket is closed.
const LINGER: Duration = Duration::from_secs(1);

/// Answer with an error response (ringlb's own or the frontend's `error_page`), then
/// close *lingeringly*: half-close, and read and
/// discard what the client still sends for a short while. Closing a socket that holds
/// unread input makes the kernel send a reset, which can destroy the error response
/// before the client reads it (HAProxy and nginx linger for the same reason).
pub async fn reject<B: monoio::buf::IoBuf + 'static>(client: &mut ClientStream, response: B) {
    if client.write_all(response).await.0.is_err() {
        return;
    }
    let _ = client.shutdown().await;
    let deadline = Instant::now() + LINGER;
    let mut sink = Vec::with_capacity(4096);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timer::within(left, client.read(sink)).await {
            Ok((Ok(n), buf)) if n > 0 => sink = buf,
            _ => return,
        }
    }
}
