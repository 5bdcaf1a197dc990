// ringlb patch: this whole file (vendor/PATCHES.md, "Frame buffers given back while
// a connection is idle").
//
// A connection's frame read buffer (8 KiB) and write buffer (16 KiB) were allocated at
// the handshake and kept for its whole life, so an idle connection held 24 KiB of
// buffers whose first pages had been touched. Here a connection gives a buffer back
// when it has nothing in it (the read side when the socket has nothing more to read,
// the write side once a flush has written everything) and takes one again when bytes
// move. The buffers given back wait on a short list per thread, newest first, so a
// busy thread reuses a few warm buffers instead of touching one pair per connection.

use bytes::BytesMut;
use std::cell::RefCell;

/// A read buffer's size when it is taken new (tokio-util's `FramedRead` default).
pub(crate) const READ_CAPACITY: usize = 8 * 1024;

/// A write buffer's size when it is taken new (the crate's default: a HEADERS frame
/// of the minimum MAX_FRAME_SIZE fits).
pub(crate) const WRITE_CAPACITY: usize = 16 * 1024;

/// Buffers kept per thread and kind (at most 32 × 24 KiB = 768 KiB per thread); more
/// are freed.
const KEEP: usize = 32;

/// A read buffer given back with less room than this is freed rather than kept (its
/// allocation may still be shared with frames not yet consumed).
const READ_KEEP_MIN: usize = READ_CAPACITY / 2;

/// A write buffer that grew past this (a large header block) is freed rather than
/// kept.
const WRITE_KEEP_MAX: usize = 4 * WRITE_CAPACITY;

struct Spare {
    read: Vec<BytesMut>,
    write: Vec<BytesMut>,
}

thread_local! {
    static SPARE: RefCell<Spare> = const {
        RefCell::new(Spare { read: Vec::new(), write: Vec::new() })
    };
}

/// A read buffer with at least `READ_KEEP_MIN` bytes of room.
pub(crate) fn take_read() -> BytesMut {
    SPARE
        .try_with(|s| s.borrow_mut().read.pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| BytesMut::with_capacity(READ_CAPACITY))
}

/// A write buffer with at least `WRITE_CAPACITY` bytes of room.
pub(crate) fn take_write() -> BytesMut {
    SPARE
        .try_with(|s| s.borrow_mut().write.pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| BytesMut::with_capacity(WRITE_CAPACITY))
}

/// Gives back an empty read buffer.
pub(crate) fn give_read(buf: BytesMut) {
    debug_assert!(buf.is_empty());
    if buf.capacity() >= READ_KEEP_MIN {
        keep(buf, |s| &mut s.read);
    }
}

/// Gives back an empty write buffer.
pub(crate) fn give_write(mut buf: BytesMut) {
    debug_assert!(buf.is_empty());
    buf.clear();
    if buf.capacity() >= WRITE_CAPACITY && buf.capacity() <= WRITE_KEEP_MAX {
        keep(buf, |s| &mut s.write);
    }
}

fn keep(buf: BytesMut, list: fn(&mut Spare) -> &mut Vec<BytesMut>) {
    // During the thread's teardown the list may be gone: the buffer is then freed.
    let _ = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        let list = list(&mut s);
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
        let a = take_write();
        let b = take_write();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        give_write(a);
        give_write(b);
        assert_eq!(take_write().as_ptr(), pb);
        assert_eq!(take_write().as_ptr(), pa);
    }

    #[test]
    fn a_small_read_buffer_is_freed_not_kept() {
        let mut small = BytesMut::with_capacity(READ_KEEP_MIN - 1);
        small.clear();
        give_read(small);
        assert!(take_read().capacity() >= READ_CAPACITY);
    }

    #[test]
    fn a_grown_write_buffer_is_freed_not_kept() {
        give_write(BytesMut::with_capacity(WRITE_KEEP_MAX + 1));
        assert_eq!(take_write().capacity(), WRITE_CAPACITY);
    }

    #[test]
    fn at_most_keep_buffers_wait() {
        let all: Vec<_> = (0..KEEP + 5).map(|_| take_read()).collect();
        for b in all {
            give_read(b);
        }
        let kept = SPARE.with(|s| s.borrow().read.len());
        assert_eq!(kept, KEEP);
    }
}
