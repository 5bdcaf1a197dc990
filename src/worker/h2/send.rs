//! Sending DATA to a server (a request body) within its flow-control window, through
//! the `h2` crate: only what the window allows is handed to the library, so it
//! buffers at most a window's worth per stream (and a small last piece: [`SMALL`]); a
//! window that stays shut past the timeout resets the stream.

use std::future::poll_fn;
use std::time::Duration;

use ::h2::{Reason, SendStream};
use bytes::Bytes;

/// The last of a body up to this size goes to the library whole, without waiting
/// for the window first.
pub(super) const SMALL: usize = 4096;

/// Why DATA could not be sent (to a server here, to a client by `link.rs`).
pub(super) enum SendError {
    /// The stream was reset (by the peer, or the connection went).
    Reset,
    /// The window stayed shut for the timeout: ringlb reset the stream (CANCEL).
    Stalled,
}

/// Send `data` as the window allows; `end`: the last of the body (an empty `data`
/// with `end` just ends the stream).
pub(super) async fn send_data(
    send: &mut SendStream<Bytes>,
    mut data: &[u8],
    end: bool,
    timeout: Duration,
) -> Result<(), SendError> {
    if end && !data.is_empty() && data.len() <= SMALL {
        // The whole (rest of the) body, small: handed over at once, with END_STREAM,
        // without asking for capacity first (two calls into the library and a look at
        // the window less per response: most responses are small). The library sends
        // it as the window allows and holds it meanwhile: at most SMALL bytes per
        // stream, and such a stream still counts against the connection's concurrent
        // streams until it is sent, so what a client with a shut window can make
        // ringlb hold stays bounded (the connection ends at its idle timeout).
        let chunk = Bytes::copy_from_slice(data);
        return send.send_data(chunk, true).map_err(|_| SendError::Reset);
    }
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        // The timer only when the window is shut (no clock read otherwise).
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let got = match send.poll_capacity(&mut cx) {
            std::task::Poll::Ready(c) => Ok(c),
            std::task::Poll::Pending => {
                // Boxed: a rare wait, and a timer inline would make every stream's
                // task 128-byte aligned and larger (see `stream.rs`).
                let wait = poll_fn(|cx| send.poll_capacity(cx));
                Box::pin(monoio::time::timeout(timeout, wait)).await
            }
        };
        let n = match got {
            Ok(Some(Ok(n))) => n.min(data.len()),
            Ok(_) => return Err(SendError::Reset),
            Err(_) => {
                send.send_reset(Reason::CANCEL);
                return Err(SendError::Stalled);
            }
        };
        if n == 0 {
            continue;
        }
        let last = end && n == data.len();
        let chunk = Bytes::copy_from_slice(&data[..n]);
        send.send_data(chunk, last).map_err(|_| SendError::Reset)?;
        data = &data[n..];
        if last {
            return Ok(());
        }
    }
    if end {
        send.send_data(Bytes::new(), true)
            .map_err(|_| SendError::Reset)?;
    }
    Ok(())
}
