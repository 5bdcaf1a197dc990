//! One HTTP/2 stream: the request is checked and written as an HTTP/1.1 head
//! (`crate::http::h2`; a malformed one is reset with PROTOCOL_ERROR and goes nowhere),
//! then served by the HTTP/1.1 session code ([`serve_stream`]) over a pipe: the body
//! goes in as DATA frames arrive, the response comes out as HTTP/1.1 bytes and is sent
//! back as HEADERS and DATA. Three parts run in this task: the session, the feed
//! (request body) and the answer (response); a reset by the client drops them all,
//! which closes the server connection the session was using.

use std::future::poll_fn;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use ::h2::server::SendResponse;
use ::h2::{Reason, RecvStream};
use bytes::Bytes;
use http_types::{Method, Request};

use super::super::http::{serve_stream, StreamStart};
use super::super::state::Worker;
use super::body::Out;
use super::head::response_head;
use super::Shared;
use crate::http::h2::{last_chunk, to_h1_marked, Pseudo, RequestBody, Translated};
use crate::http::BodyFraming;
use crate::tls::pipe::{pipe, PipePeer};
use crate::tls::ClientStream;

/// Bytes held in the pipe each way, at most.
const PIPE_CAP: usize = 64 * 1024;
/// Response bytes read from the pipe at a time (one DATA frame's worth by default).
pub(super) const READ: usize = 16 * 1024;
/// After the response went out, how long the session may take to log and tidy up.
const AFTER: Duration = Duration::from_secs(1);

/// Why a stream ended before its response was sent whole.
pub(super) enum Cut {
    /// The client reset the stream (or the connection went).
    Reset,
    /// Ringlb reset it (no usable response, a stalled window).
    Failed,
}

/// Counts the stream as served while it lives (the driver counted it in).
struct Active(Rc<Shared>);

impl Drop for Active {
    fn drop(&mut self) {
        let active = self.0.active.get() - 1;
        self.0.active.set(active);
        // (Only the last stream's end counts for the idle timeout: no clock read
        // for the others.)
        if active == 0 {
            self.0.last_end.set(std::time::Instant::now());
        }
    }
}

/// Serve one stream.
pub(super) async fn serve(
    shared: Rc<Shared>,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    first: bool,
) {
    let _active = Active(Rc::clone(&shared));
    // (Counted in `requests` too, where the HTTP/1.1 code counts every request.)
    shared
        .worker
        .with_frontend_stats(shared.fe, |s| s.h2_requests += 1);
    let (parts, mut body) = request.into_parts();
    let Some(Admitted {
        head,
        marks,
        plan,
        first_data,
        bodiless,
    }) = admit(&shared, &parts, &mut body, &mut respond)
    else {
        return;
    };
    let (end, peer) = pipe(PIPE_CAP, shared.tls.is_some());
    // On the heap, in a slot of this thread's (`worker/slot.rs`: the last one a stream gave
    // back, still warm), the future written into it. (`Box::pin(f)` makes `f` on the
    // stack and copies it whole into the box: the session's future is most of a
    // stream's state, ~6 KB, ~600 instructions of copying per stream.)
    let mut session = crate::worker::slot::empty().write(serve_stream(
        Rc::clone(&shared.worker),
        shared.fe,
        ClientStream::Pipe(end),
        shared.peer,
        shared.tls,
        StreamStart {
            rc: shared.rc.clone(),
            origin: shared.origin.clone(),
            head,
            // The session takes the request from the marks, without parsing the
            // head it was just checked and written as.
            translated: marks,
            first,
        },
    ));
    let head_method = parts.method == Method::HEAD;
    let timeout = shared.worker.frontend(shared.fe).timeout_client;
    // A request without a body (most) needs no feed: the session reads its end now.
    // (The feed is boxed where there is one: a body is the rarer case.)
    let mut feed = match bodiless {
        true => {
            peer.close_write();
            None
        }
        false => Some(Box::pin(feed(&peer, body, plan, first_data))),
    };
    let buf = Lent::take(&shared.worker);
    let mut answer = pin!(answer(&peer, respond, head_method, timeout, buf));
    let cut = loop {
        let step = monoio::select! {
            r = &mut answer => Step::Answered(r),
            _ = &mut session => Step::SessionDone,
            r = fed(&mut feed), if feed.is_some() => Step::Fed(r),
        };
        match step {
            Step::Fed(Ok(())) => feed = None,
            Step::Fed(Err(())) => break Some(Cut::Reset),
            Step::Answered(Ok(())) => {
                // The body is not needed any more: the session sees its end.
                drop(feed.take());
                peer.close_write();
                // Most often the session has only to log and tidy up by now, done at
                // its next poll: the timer (boxed: inline, it would make this task
                // larger and 128-byte aligned) is for one that is not.
                if poll_now(&mut session).is_none() {
                    let _ = Box::pin(monoio::time::timeout(AFTER, session)).await;
                }
                break None;
            }
            Step::Answered(Err(cut)) => break Some(cut),
            Step::SessionDone => {
                // Logged and done: what is left of the response is in the pipe.
                break answer.await.err();
            }
        }
    };
    if let Some(Cut::Reset) = cut {
        shared.client_reset();
    }
}

/// A stream's request, checked and written as an HTTP/1.1 head, for the session.
struct Admitted {
    /// The head, in a buffer of the worker's pool.
    head: Vec<u8>,
    /// What the session takes the request from, without parsing the head again.
    marks: Translated,
    plan: RequestBody,
    /// The body's first DATA, if it came with the head.
    first_data: Option<Bytes>,
    /// No body at all (most requests): no feed.
    bodiless: bool,
}

/// Check the stream's request and translate it; `None`: it goes nowhere (malformed:
/// reset with PROTOCOL_ERROR; its DATA already broke its content-length, or it was
/// reset: counted as a client reset).
fn admit(
    shared: &Shared,
    parts: &http_types::request::Parts,
    body: &mut RecvStream,
    respond: &mut SendResponse<Bytes>,
) -> Option<Admitted> {
    let pseudo = Pseudo {
        method: parts.method.as_str().as_bytes(),
        scheme: parts.uri.scheme_str().map(str::as_bytes),
        authority: parts.uri.authority().map(|a| a.as_str().as_bytes()),
        path: parts.uri.path_and_query().map(|p| p.as_str().as_bytes()),
        protocol: parts.extensions.get::<::h2::ext::Protocol>().is_some(),
    };
    // The translated head goes into a buffer of the worker's pool, which the session
    // keeps as its client buffer (no allocation, no copy).
    let mut head = shared.worker.take_buffer();
    let end = body.is_end_stream();
    let mut marks = Translated::default();
    let Some(plan) = translate(shared, &pseudo, &parts.headers, end, &mut head, &mut marks) else {
        shared.worker.give_buffer(head);
        respond.send_reset(Reason::PROTOCOL_ERROR);
        return None;
    };
    // What already came of the body: a stream whose DATA already broke its
    // content-length (or that was reset) goes nowhere.
    let first_data = match poll_data_now(body) {
        Some(Some(Err(_))) => {
            shared.worker.give_buffer(head);
            shared.client_reset();
            return None;
        }
        Some(Some(Ok(data))) => Some(data),
        Some(None) | None => None,
    };
    Some(Admitted {
        head,
        marks,
        plan,
        bodiless: end && first_data.is_none(),
        first_data,
    })
}

/// Check the request and write it as an HTTP/1.1 head into `head`; `None`: malformed
/// (counted and logged as refused). The fields are listed on the stack when they are
/// few (no allocation per stream).
fn translate(
    shared: &Shared,
    pseudo: &Pseudo<'_>,
    headers: &http_types::HeaderMap,
    end: bool,
    head: &mut Vec<u8>,
    marks: &mut Translated,
) -> Option<RequestBody> {
    const ON_STACK: usize = 32;
    let mut stack: [(&[u8], &[u8]); ON_STACK] = [(&[], &[]); ON_STACK];
    let heap: Vec<(&[u8], &[u8])>;
    let all = headers
        .iter()
        .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()));
    let fields: &[(&[u8], &[u8])] = match headers.len() <= ON_STACK {
        true => {
            let mut n = 0;
            for (slot, field) in stack.iter_mut().zip(all) {
                *slot = field;
                n += 1;
            }
            &stack[..n]
        }
        false => {
            heap = all.collect();
            &heap
        }
    };
    match to_h1_marked(pseudo, fields.iter().copied(), end, head, marks) {
        Ok(plan) => Some(plan),
        Err(why) => {
            let w = &shared.worker;
            tracing::debug!(worker = w.id(), peer = %shared.peer, "malformed HTTP/2 request: {why}");
            shared.refused(pseudo, fields);
            None
        }
    }
}

/// A buffer of the worker's pool (a relay buffer), given back when dropped, whichever
/// way the stream ends: no allocation per stream for the response read from the pipe.
/// (The translated head is in a pooled buffer too, which the session keeps as its
/// client buffer instead of taking one: no buffer more is held per stream.)
struct Lent<'a>(Vec<u8>, &'a Worker);

impl<'a> Lent<'a> {
    fn take(worker: &'a Worker) -> Lent<'a> {
        Lent(worker.take_buffer(), worker)
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        self.1.give_buffer(std::mem::take(&mut self.0));
    }
}

/// What the feed gave, once it is done (never, with none).
async fn fed<F: std::future::Future + Unpin>(feed: &mut Option<F>) -> F::Output {
    match feed {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// The body's next DATA if it is there already; `None`: not yet.
fn poll_data_now(body: &mut RecvStream) -> Option<Option<Result<Bytes, ::h2::Error>>> {
    if body.is_end_stream() {
        return Some(None);
    }
    poll_now(&mut poll_fn(|cx| body.poll_data(cx)))
}

/// What `f` gives if it is ready now; `None`: not yet (polled again later with the
/// task's waker, which then replaces the one given here).
fn poll_now<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::Pin::new(f).poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

enum Step {
    Answered(Result<(), Cut>),
    SessionDone,
    Fed(Result<(), ()>),
}

/// Feed the request body to the session as DATA frames arrive (chunked when the
/// client gave no content-length), giving the window back as it goes. `Err`: the
/// stream was reset, or its DATA disagreed with its content-length.
async fn feed(
    peer: &PipePeer,
    mut body: RecvStream,
    plan: RequestBody,
    mut first: Option<Bytes>,
) -> Result<(), ()> {
    let mut total = 0u64;
    if first.is_some() || !body.is_end_stream() {
        loop {
            let data = match first.take() {
                Some(d) => d,
                None => match body.data().await {
                    Some(d) => d.map_err(drop)?,
                    None => break,
                },
            };
            let n = data.len();
            total += n as u64;
            if matches!(plan, RequestBody::Length(l) if total > l) {
                return Err(());
            }
            let written = match plan {
                RequestBody::Chunked if n > 0 => {
                    let size = format!("{n:x}\r\n");
                    peer.write_all(size.as_bytes()).await.is_ok()
                        && peer.write_all(&data).await.is_ok()
                        && peer.write_all(b"\r\n").await.is_ok()
                }
                _ => peer.write_all(&data).await.is_ok(),
            };
            if !written {
                // The session is done with the request (refused it, say).
                return Ok(());
            }
            let _ = body.flow_control().release_capacity(n);
        }
    }
    match plan {
        RequestBody::Length(l) if total != l => return Err(()),
        RequestBody::Chunked => {
            // The last chunk, with the client's trailers (HTTP/2 trailers) if any.
            let trailers = body.trailers().await.ok().flatten();
            let mut last = Vec::new();
            last_chunk(trailers.as_ref(), &mut last);
            let _ = peer.write_all(&last).await;
        }
        RequestBody::Length(_) => {}
    }
    peer.close_write();
    Ok(())
}

/// Read the session's response from the pipe and send it to the client: the head
/// (interim ones skipped), then the body as DATA frames (chunks decoded).
async fn answer(
    peer: &PipePeer,
    mut respond: SendResponse<Bytes>,
    head_method: bool,
    timeout: Duration,
    mut lent: Lent<'_>,
) -> Result<(), Cut> {
    let buf = &mut lent.0;
    let (status, block, framing, small) = loop {
        match response_head(peer, buf, head_method, &mut respond) {
            Ok(Some(r)) => break r,
            Ok(None) => {}
            Err(()) => {
                respond.send_reset(Reason::INTERNAL_ERROR);
                return Err(Cut::Failed);
            }
        }
        // The read first (no random start, and no look at the reset when the response
        // is there already: a reset shows at the next send anyway).
        let n = monoio::select! {
            biased;
            n = peer.read_append(buf, READ) => n,
            _ = poll_fn(|cx| respond.poll_reset(cx)) => return Err(Cut::Reset),
        };
        if n == 0 {
            respond.send_reset(Reason::INTERNAL_ERROR);
            return Err(Cut::Failed);
        }
    };
    let empty = framing == BodyFraming::Length(0);
    let mut send = respond
        .send_response_encoded(status, block, empty)
        .map_err(|_| Cut::Reset)?;
    if empty {
        return Ok(());
    }
    if let Some(body) = small {
        // All of a small body came with the head, copied with it: sent from that
        // copy, whole, as `send_data` sends a small last piece.
        return send.send_data(body, true).map_err(|_| Cut::Reset);
    }
    let mut out = Out {
        send: &mut send,
        timeout,
    };
    match framing {
        BodyFraming::Length(n) => out.length(peer, buf, n).await,
        BodyFraming::Chunked => out.chunked(peer, buf).await,
        BodyFraming::UntilClose => out.until_close(peer, buf).await,
    }
}

/// The stream's future is written in place into a slot per stream (`slot.rs`; the
/// task monoio spawns holds only the slot's pointer), so its size is what each stream
/// in flight holds and touches; the session inside it has a slot of its own. `cargo
/// test --lib worker::h2::stream -- --nocapture` prints it.
#[test]
fn stream_task_future_size() {
    let (size, align) = super::super::http::sizes::ret4(serve);
    println!("stream::serve            {size:6} bytes, aligned to {align}");
    assert!(align <= 16, "an aligned allocation per stream");
    assert!(size < 2048, "{size} bytes copied per stream, several times");
}
