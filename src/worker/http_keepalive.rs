//! Waiting for the next request on a keep-alive HTTP connection (a child of
//! `http_heads.rs`): a read armed with the buffer for a while, then a readiness wait
//! that holds no buffer.

use std::cell::RefCell;
use std::future::poll_fn;
use std::time::Duration;

use monoio::buf::IoBufMut;
use monoio::io::{CancelableAsyncReadRent, Canceller};

use crate::config::Frontend;
use crate::tls::{ClientStream, TlsPoll};
use crate::worker::body::{read_more, End};
use crate::worker::error::Side;
use crate::worker::hot_ticks;
use crate::worker::state::Worker;
use crate::worker::timer;

/// How long an idle keep-alive client keeps its buffer attached to a pending read:
/// about this long, on the worker's tick (`hot_ticks.rs`: 1 to 1.5 s), exactly this
/// long (or the whole timeout) when `timeout_http_keep_alive` is shorter than
/// `hot_ticks::COARSE_FROM`.
const HOT_WAIT: Duration = Duration::from_secs(1);

/// Spare cancellers kept per thread (more are freed). Few: the list only has to cover
/// the waits that end before others begin (the waits themselves hold theirs), and each
/// spare is two small allocations made wherever the heap was then: after a flood of
/// connections, 1,024 of them kept ~1.5 MiB of heap pages from being trimmed
/// (`tests/faults.rs`, `memory_goes_back_after_a_flood_of_idle_connections_closes`).
const SPARE_CANCELLERS: usize = 64;

thread_local! {
    /// Cancellers of keep-alive waits that ended without a cancel, for the next waits: a
    /// new one costs two allocations per request (its shared state, and its set of
    /// operations at the first one); one reused keeps both. It holds nothing of the last
    /// connection: its read took itself out of the set as it ended.
    static CANCELLERS: RefCell<Vec<Canceller>> = const { RefCell::new(Vec::new()) };
}

/// Wait for the next request on a keep-alive connection; false when the client closed
/// or stayed idle past `timeout_http_keep_alive`. For a while (`HOT_WAIT`) a read with
/// the buffer attached is pending, so a busy connection costs one operation per
/// request. After that the read is cancelled (monoio hands the buffer back, with any
/// bytes that raced in) and the buffers go back to the worker's pool: a connection that
/// stays idle holds no buffer (nor `head`), only a readiness wait. A TLS connection
/// in readiness mode does the same with no read pending ([`wait_tls`]); one in
/// completion mode keeps its read pending with the buffer, and so does an HTTP/2
/// stream (it ends after one request).
pub async fn wait_next_request(
    worker: &Worker,
    fe: &Frontend,
    client: &mut ClientStream,
    cbuf: &mut Vec<u8>,
    sbuf: &mut Vec<u8>,
    head: &mut Vec<u8>,
) -> bool {
    // Shutting down: an idle keep-alive connection is closed at once, not kept for more.
    if worker.is_closing_idle() {
        return false;
    }
    if let Some(tls) = client.tls_poll() {
        return wait_tls(worker, fe, tls, cbuf, sbuf, head).await;
    }
    let client = match client {
        ClientStream::Plain(tcp) => tcp,
        tls @ (ClientStream::Tls(_) | ClientStream::Pipe(_)) => {
            let mut end = End {
                stream: tls,
                side: Side::Client,
                timeout: fe.timeout_http_keep_alive,
            };
            return monoio::select! {
                r = read_more(&mut end, cbuf) => matches!(r, Ok(n) if n > 0),
                _ = worker.until_closing_idle() => false,
            };
        }
    };
    let canceller = CANCELLERS.with_borrow_mut(Vec::pop).unwrap_or_default();
    let (res, slice, unused, cold) = {
        let mut read = std::pin::pin!(
            client.cancelable_read(std::mem::take(cbuf).slice_mut(0..), canceller.handle())
        );
        monoio::select! {
            (res, slice) = &mut read => (res, slice, Some(canceller), Duration::ZERO),
            cold = hot_end(worker, fe.timeout_http_keep_alive) => {
                let _canceller = canceller.cancel();
                let (res, slice) = read.await;
                (res, slice, None, cold)
            }
        }
    };
    *cbuf = slice.into_inner();
    let cancelled = unused.is_none();
    if let Some(canceller) = unused {
        CANCELLERS.with_borrow_mut(|spare| {
            if spare.len() < SPARE_CANCELLERS {
                spare.push(canceller);
            }
        });
    }
    match res {
        Ok(0) => return false,
        Ok(_) => return true,
        Err(_) if !cancelled || worker.is_closing_idle() => return false,
        Err(_) => {}
    }
    worker.give_buffer(std::mem::take(cbuf));
    worker.give_buffer(std::mem::take(sbuf));
    worker.give_head(std::mem::take(head));
    let ready = monoio::select! {
        r = timer::within(cold, client.readable(false)) => matches!(r, Ok(Ok(()))),
        _ = worker.until_closing_idle() => false,
    };
    *cbuf = worker.take_buffer();
    *sbuf = worker.take_buffer();
    *head = worker.take_head();
    ready
}

/// [`wait_next_request`] for a TLS client in readiness mode. For `HOT_WAIT` the
/// request is read into `cbuf` as it comes (as before any wait: a busy connection pays
/// nothing more). rustls reads only when the socket is ready, so there is no read in
/// flight to cancel after that: the buffers go back to the worker's pool and the wait
/// goes on on rustls and the socket ([`TlsPoll::poll_readable`]) until the client
/// sends again. An idle TLS connection holds rustls' own buffers and no others.
async fn wait_tls(
    worker: &Worker,
    fe: &Frontend,
    tls: &mut TlsPoll<rustls::ServerConnection>,
    cbuf: &mut Vec<u8>,
    sbuf: &mut Vec<u8>,
    head: &mut Vec<u8>,
) -> bool {
    let read = monoio::select! {
        r = poll_fn(|cx| tls.poll_read_vec(cx, cbuf)) => Ok(matches!(r, Ok(n) if n > 0)),
        cold = hot_end(worker, fe.timeout_http_keep_alive) => Err(cold),
    };
    let cold = match read {
        Ok(got) => return got,
        Err(cold) => cold,
    };
    if worker.is_closing_idle() {
        return false;
    }
    if cold.is_zero() {
        return false;
    }
    worker.give_buffer(std::mem::take(cbuf));
    worker.give_buffer(std::mem::take(sbuf));
    worker.give_head(std::mem::take(head));
    let ready = tls_readable(worker, tls, cold).await.unwrap_or(false);
    *cbuf = worker.take_buffer();
    *sbuf = worker.take_buffer();
    *head = worker.take_head();
    ready
}

/// Whether a read on `tls` would find something within `limit` (false: it failed, or
/// the worker is stopping); `None` when `limit` passed first.
async fn tls_readable(
    worker: &Worker,
    tls: &mut TlsPoll<rustls::ServerConnection>,
    limit: Duration,
) -> Option<bool> {
    monoio::select! {
        r = timer::within(limit, poll_fn(|cx| tls.poll_readable(cx))) => match r {
            Ok(r) => Some(r.is_ok()),
            Err(_) => None,
        },
        _ = worker.until_closing_idle() => Some(false),
    }
}

/// The end of the armed wait (`HOT_WAIT` has passed, or the worker is stopping), and
/// what is left of `keep_alive` then, counted from the call. A long `keep_alive` takes
/// the worker's tick (no timer of its own: `hot_ticks.rs`) and is counted from the
/// runtime's clock of this turn (no clock read either, unless the wait ends); a short
/// one has an exact timer.
async fn hot_end(worker: &Worker, keep_alive: Duration) -> Duration {
    if keep_alive < hot_ticks::COARSE_FROM {
        let hot = HOT_WAIT.min(keep_alive);
        monoio::select! {
            _ = timer::sleep(hot) => {}
            _ = worker.until_closing_idle() => {}
        }
        return keep_alive.saturating_sub(hot);
    }
    let start = monoio::time::coarse_now();
    worker.hot_wait_over().await;
    keep_alive.saturating_sub(start.elapsed())
}
