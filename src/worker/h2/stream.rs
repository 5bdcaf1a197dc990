//! One HTTP/2 stream: the request is checked and written as an HTTP/1.1 head
//! ([`admit`], `crate::http::h2`; a malformed one is reset with PROTOCOL_ERROR and goes
//! nowhere), then served by the HTTP/1.1 session code ([`serve_stream`]) over a pipe:
//! the body goes in as DATA frames arrive, the response comes out as HTTP/1.1 bytes
//! and is sent back as HEADERS and DATA. Three parts run in this task: the session,
//! the feed (request body) and the answer (response); a reset by the client drops
//! them all, which closes the server connection the session was using.

use std::future::poll_fn;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use super::super::http::{serve_stream, StreamStart};
use super::super::state::Worker;
use super::body::Out;
use super::head::response_head;
use super::link::Link;
use super::Shared;
use crate::http::h2::conn::{Head, Reason};
use crate::http::h2::{last_chunk_of, to_h1_marked, RequestBody, Translated};
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

/// What a stream's request head gives. (Unboxed: it lives for one call, and a box
/// would be an allocation per stream.)
#[allow(clippy::large_enum_variant)]
pub(super) enum Admit {
    /// Checked and translated: served.
    Serve(Admitted),
    /// Malformed (counted and logged as refused): reset with PROTOCOL_ERROR.
    Refused,
    /// Past `h2_max_header_list_size`: answered 431.
    TooLarge,
}

/// A stream's request, checked and written as an HTTP/1.1 head, for the session.
pub(super) struct Admitted {
    /// The head, in a buffer of the worker's pool.
    head: Vec<u8>,
    /// What the session takes the request from, without parsing the head again.
    marks: Translated,
    plan: RequestBody,
    /// No body at all (most requests): no feed.
    bodiless: bool,
    head_method: bool,
}

/// Check a new stream's request head and translate it (the head is the connection's,
/// borrowed until its next frame). The translated head goes into a buffer of the
/// worker's pool, which the session keeps as its client buffer (no allocation, no
/// copy).
pub(super) fn admit(shared: &Shared, h: &Head, end_stream: bool) -> Admit {
    if h.too_large() {
        return Admit::TooLarge;
    }
    let pseudo = h.pseudo();
    let mut head = shared.worker.take_buffer();
    let mut marks = Translated::default();
    let translated = match h.malformed() {
        Some(why) => Err(why),
        None => to_h1_marked(&pseudo, h.fields(), end_stream, &mut head, &mut marks),
    };
    match translated {
        Ok(plan) => Admit::Serve(Admitted {
            head,
            marks,
            plan,
            bodiless: end_stream,
            head_method: pseudo.method == b"HEAD",
        }),
        Err(why) => {
            shared.worker.give_buffer(head);
            let w = &shared.worker;
            tracing::debug!(worker = w.id(), peer = %shared.peer, "malformed HTTP/2 request: {why}");
            let fields: Vec<(&[u8], &[u8])> = h.fields().collect();
            shared.refused(&pseudo, &fields);
            Admit::Refused
        }
    }
}

/// Serve one stream.
pub(super) async fn serve(link: Link, a: Admitted, first: bool) {
    let shared = Rc::clone(&link.shared);
    // Opened and reset in the same read (rapid reset): nothing of it starts.
    if poll_now(&mut poll_fn(|cx| link.poll_reset(cx))).is_some() {
        shared.worker.give_buffer(a.head);
        shared.client_reset();
        return;
    }
    // (Counted in `requests` too, where the HTTP/1.1 code counts every request.)
    shared
        .worker
        .with_frontend_stats(shared.fe, |s| s.h2_requests += 1);
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
            head: a.head,
            // The session takes the request from the marks, without parsing the
            // head it was just checked and written as.
            translated: a.marks,
            first,
        },
    ));
    let timeout = shared.worker.frontend(shared.fe).timeout_client;
    // A request without a body (most) needs no feed: the session reads its end now.
    // (The feed is boxed where there is one: a body is the rarer case.)
    let mut feed = match a.bodiless {
        true => {
            peer.close_write();
            None
        }
        false => Some(Box::pin(feed(&peer, &link, a.plan))),
    };
    let buf = Lent::take(&shared.worker);
    let mut answer = pin!(answer(&peer, &link, a.head_method, timeout, buf));
    let cut = loop {
        let step = monoio::select! {
            r = &mut answer => Step::Answered(r),
            _ = &mut session => Step::SessionDone,
            r = fed(&mut feed), if feed.is_some() => Step::Fed(r),
        };
        match step {
            Step::Fed(Ok(())) => feed = None,
            Step::Fed(Err(cut)) => break Some(cut),
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
    Fed(Result<(), Cut>),
}

/// Feed the request body to the session as DATA frames arrive (chunked when the
/// client gave no content-length), giving the window back as it goes. `Err`: the
/// stream was reset, or its DATA disagreed with its content-length (reset here with
/// PROTOCOL_ERROR, before the disagreeing bytes go on: RFC 9113 §8.1.1).
async fn feed(peer: &PipePeer, link: &Link, plan: RequestBody) -> Result<(), Cut> {
    let mut total = 0u64;
    let malformed = || {
        link.reset(Reason::PROTOCOL_ERROR);
        Err(Cut::Failed)
    };
    loop {
        let data = match link.data().await {
            Some(Ok(d)) => d,
            Some(Err(_)) => return Err(Cut::Reset),
            None => break,
        };
        let n = data.len();
        total += n as u64;
        if let RequestBody::Length(l) = plan {
            if total > l || (total < l && link.body_ended()) {
                return malformed();
            }
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
        link.release(n);
    }
    match plan {
        RequestBody::Length(l) if total != l => return malformed(),
        RequestBody::Chunked => {
            // The last chunk, with the client's trailers (HTTP/2 trailers) if any.
            let trailers = link.trailers().unwrap_or_default();
            let mut last = Vec::new();
            last_chunk_of(trailers.iter().map(|(n, v)| (&n[..], &v[..])), &mut last);
            let _ = peer.write_all(&last).await;
        }
        RequestBody::Length(_) => {}
    }
    peer.close_write();
    Ok(())
}

/// Read the session's response from the pipe and send it to the client: the head
/// (interim ones sent on), then the body as DATA frames (chunks decoded).
async fn answer(
    peer: &PipePeer,
    link: &Link,
    head_method: bool,
    timeout: Duration,
    mut lent: Lent<'_>,
) -> Result<(), Cut> {
    let buf = &mut lent.0;
    let (framing, whole) = loop {
        match response_head(peer, buf, head_method, link) {
            Ok(Some(r)) => break r,
            Ok(None) => {}
            Err(Cut::Failed) => {
                link.reset(Reason::INTERNAL_ERROR);
                return Err(Cut::Failed);
            }
            Err(Cut::Reset) => return Err(Cut::Reset),
        }
        // The read first (no random start, and no look at the reset when the response
        // is there already: a reset shows at the next send anyway).
        let n = monoio::select! {
            biased;
            n = peer.read_append(buf, READ) => n,
            _ = poll_fn(|cx| link.poll_reset(cx)) => return Err(Cut::Reset),
        };
        if n == 0 {
            link.reset(Reason::INTERNAL_ERROR);
            return Err(Cut::Failed);
        }
    };
    // (The HEADERS went with the head; with END_STREAM when there is no body.)
    if framing == BodyFraming::Length(0) {
        return Ok(());
    }
    let mut out = Out { link, timeout };
    if whole {
        // All of a small body came with the head: sent from the buffer, whole.
        return out.data(buf, true).await;
    }
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
    let (size, align) = super::super::http::sizes::ret3(serve);
    println!("stream::serve            {size:6} bytes, aligned to {align}");
    assert!(align <= 16, "an aligned allocation per stream");
    assert!(size < 2048, "{size} bytes copied per stream, several times");
}
