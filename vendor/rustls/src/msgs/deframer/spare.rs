// ringlb patch: this whole file (vendor/PATCHES.md, "rustls 0.23.46", "The record
// buffer given back while a connection waits").
//
// A connection's record buffer (`DeframerVecBuffer`, 4 KiB, zero-filled when it is
// made) was kept for the connection's whole life, so every idle TLS connection held
// it. Here a connection gives it back when a read brought nothing into it while it
// held nothing (the socket had nothing to read: the connection waits), and takes one
// again at its next read. The buffers given back wait on a short list per thread,
// newest first, so a busy thread reuses a few warm buffers.
//
// No byte passes from one connection to the next: a buffer is kept with its length
// (the bytes there are initialised, so taking it zero-fills nothing), but its owner
// reads only `buf[..used]`, and `used` starts at 0 and grows only by what a read
// wrote into the buffer after it was taken. The same rule as ringlb's own buffer
// pools (`src/worker/buffers.rs`: a buffer is emptied by its length).

use alloc::vec::Vec;
use std::cell::RefCell;

/// Buffers kept per thread (at most 64 × 4 KiB = 256 KiB per thread); more are freed.
const KEEP: usize = 64;

/// A buffer larger than this (one that held a large handshake message) is freed
/// rather than kept.
const KEEP_MAX: usize = 32 * 1024;

std::thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer given back before (its bytes are stale: read only what is read into it),
/// or an empty one.
pub(crate) fn take() -> Vec<u8> {
    SPARE
        .try_with(|s| s.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Gives back a buffer whose owner holds nothing in it.
pub(crate) fn give(buf: Vec<u8>) {
    if buf.is_empty() || buf.capacity() > KEEP_MAX {
        return;
    }
    // During the thread's teardown the list may be gone: the buffer is then freed.
    let _ = SPARE.try_with(|s| {
        let mut list = s.borrow_mut();
        if list.len() < KEEP {
            list.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again_newest_first() {
        let (a, b) = (alloc::vec![1u8; 4096], alloc::vec![2u8; 4096]);
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        give(a);
        give(b);
        let (b2, a2) = (take(), take());
        assert_eq!((b2.as_ptr(), a2.as_ptr()), (pb, pa));
        assert!(take().is_empty());
    }

    #[test]
    fn an_empty_or_grown_buffer_is_not_kept() {
        give(Vec::new());
        give(alloc::vec![0u8; KEEP_MAX + 1]);
        assert!(take().is_empty());
    }

    #[test]
    fn at_most_keep_buffers_wait() {
        for _ in 0..KEEP + 5 {
            give(alloc::vec![0u8; 4096]);
        }
        assert_eq!(SPARE.with(|s| s.borrow().len()), KEEP);
    }
}
