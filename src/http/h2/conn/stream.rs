//! One stream's state, and the table of a connection's open streams (a short list:
//! at most SETTINGS_MAX_CONCURRENT_STREAMS, found by a scan).

use std::collections::VecDeque;
use std::task::Waker;

use bytes::{Bytes, BytesMut};

use super::Reason;

/// Pieces of body queued on a stream past which they are joined into one.
const JOIN_PAST: usize = 32;

/// Trailers the client sent, kept for the caller (rare: owned copies).
pub type Trailers = Vec<(Vec<u8>, Vec<u8>)>;

pub(super) struct Stream {
    pub id: u32,
    /// The client may still send on it (no END_STREAM, no reset).
    pub recv_open: bool,
    /// This side may still send on it.
    pub send_open: bool,
    /// Reset (by the client, by this side, or with the connection).
    pub reset: Option<Reason>,
    /// The reset was the client's (RST_STREAM).
    pub reset_by_peer: bool,
    /// What the client may still send before the next WINDOW_UPDATE.
    pub recv_window: i64,
    /// Body bytes the caller took and gave back, not yet in a WINDOW_UPDATE.
    pub released: u32,
    /// Body bytes received and not yet given back (the connection's window keeps
    /// them until the caller does, or until the stream goes).
    pub held: u32,
    /// The client's window for this stream.
    pub send_window: i64,
    /// DATA received, not yet taken.
    pub body: VecDeque<Bytes>,
    pub trailers: Option<Box<Trailers>>,
    /// The task serving the stream, to wake when something happens on it.
    pub waker: Option<Waker>,
    /// Its last send found no room (window or output): woken when there is.
    pub blocked: bool,
}

impl Stream {
    pub fn new(id: u32, end_stream: bool, recv_window: u32, send_window: u32) -> Stream {
        Stream {
            id,
            recv_open: !end_stream,
            send_open: true,
            reset: None,
            reset_by_peer: false,
            recv_window: i64::from(recv_window),
            released: 0,
            held: 0,
            send_window: i64::from(send_window),
            body: VecDeque::new(),
            trailers: None,
            waker: None,
            blocked: false,
        }
    }

    /// Queue a piece of the body. Many small pieces (a client sending 1-byte DATA
    /// frames) are joined, so that what they hold stays near their size.
    pub fn push_body(&mut self, data: &[u8]) {
        if self.body.len() >= JOIN_PAST {
            let total = self.body.iter().map(Bytes::len).sum::<usize>() + data.len();
            let mut joined = BytesMut::with_capacity(total);
            for piece in self.body.drain(..) {
                joined.extend_from_slice(&piece);
            }
            joined.extend_from_slice(data);
            self.body.push_back(joined.freeze());
            return;
        }
        self.body.push_back(Bytes::copy_from_slice(data));
    }

    pub fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Reset with `reason` (the first reason stays): both halves closed, the task woken.
    pub fn close(&mut self, reason: Reason) {
        if self.reset.is_none() {
            self.reset = Some(reason);
        }
        self.recv_open = false;
        self.send_open = false;
        self.wake();
    }
}

#[derive(Default)]
pub(super) struct Streams {
    list: Vec<Stream>,
}

impl Streams {
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn get(&mut self, id: u32) -> Option<&mut Stream> {
        self.list.iter_mut().find(|s| s.id == id)
    }

    pub fn insert(&mut self, s: Stream) {
        self.list.push(s);
    }

    pub fn remove(&mut self, id: u32) -> Option<Stream> {
        let i = self.list.iter().position(|s| s.id == id)?;
        Some(self.list.swap_remove(i))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Stream> {
        self.list.iter_mut()
    }
}
