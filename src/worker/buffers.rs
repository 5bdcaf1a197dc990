//! The worker's pool of relay buffers. A buffer is the one thing a connection leaves
//! behind for the next one, so the pool's one rule is that **no byte crosses from one
//! connection to another**: a buffer is emptied when it is given back *and* when it is
//! taken out, so no error path of a session, however it ends, can hand the next
//! connection its leftovers (a request a client smuggled into a body, bytes a server
//! sent instead of a response). Emptying a `Vec<u8>` only resets its length. HTTP
//! sessions' head buffers (smaller) have a pool of their own under the same rule.

use std::cell::{Cell, RefCell};
use std::ops::RangeInclusive;

/// Size of one buffer (HAProxy's default `tune.bufsize`); a session uses two. Larger
/// buffers move bulk data in fewer operations but cost memory per connection.
pub const BUF_SIZE: usize = 16 * 1024;
/// Buffers kept for reuse; beyond this, returned buffers are freed.
const POOL_MAX: usize = 256;
/// A buffer that grew past this (a large head or chunk line read in one piece) is
/// freed rather than kept, so an idle pool never holds more than `BUF_SIZE` each.
const KEEP_MAX: usize = 2 * BUF_SIZE;
/// Size of a head buffer (an HTTP session's head written for the other side): most
/// heads fit; a larger one grows it, and one grown past `BUF_SIZE` is not kept.
pub const HEAD_SIZE: usize = 1024;

#[derive(Default)]
pub struct Buffers {
    free: RefCell<Vec<Vec<u8>>>,
    /// Head buffers, kept apart: they are smaller.
    heads: RefCell<Vec<Vec<u8>>>,
    /// Buffers freed (pool full, or grown too large) since the heap was last trimmed.
    freed: Cell<usize>,
}

impl Buffers {
    /// An empty buffer of at least `BUF_SIZE` capacity, reused when one is free.
    pub fn take(&self) -> Vec<u8> {
        take_from(&self.free, BUF_SIZE)
    }

    /// Give a buffer back, whatever it still holds: its bytes are discarded.
    pub fn give(&self, buf: Vec<u8>) {
        self.give_to(&self.free, buf, BUF_SIZE..=KEEP_MAX);
    }

    /// An empty head buffer of at least `HEAD_SIZE` capacity, reused when one is free.
    pub fn take_head(&self) -> Vec<u8> {
        take_from(&self.heads, HEAD_SIZE)
    }

    /// Give a head buffer back, whatever it still holds: its bytes are discarded.
    pub fn give_head(&self, buf: Vec<u8>) {
        self.give_to(&self.heads, buf, HEAD_SIZE..=BUF_SIZE);
    }

    /// Keep `buf`, emptied, in `list` if there is room and its capacity is in `keep`;
    /// otherwise free it (counted for the next heap trim).
    fn give_to(&self, list: &RefCell<Vec<Vec<u8>>>, mut buf: Vec<u8>, keep: RangeInclusive<usize>) {
        buf.clear();
        let mut list = list.borrow_mut();
        if list.len() < POOL_MAX && keep.contains(&buf.capacity()) {
            list.push(buf);
        } else if buf.capacity() > 0 {
            self.freed.set(self.freed.get() + 1);
        }
    }

    /// How many buffers were freed since the last call, and reset the count.
    pub fn take_freed(&self) -> usize {
        self.freed.replace(0)
    }

    #[cfg(test)]
    fn kept(&self) -> usize {
        self.free.borrow().len()
    }
}

/// The newest buffer of `list`, emptied, or a new one of `capacity`. Given-back
/// buffers are emptied already; emptying again here makes the guarantee hold whatever
/// path gave a buffer back.
fn take_from(list: &RefCell<Vec<Vec<u8>>>, capacity: usize) -> Vec<u8> {
    match list.borrow_mut().pop() {
        Some(mut buf) => {
            buf.clear();
            buf
        }
        None => Vec::with_capacity(capacity),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_with_bytes_comes_out_empty() {
        let pool = Buffers::default();
        let mut buf = pool.take();
        buf.extend_from_slice(b"GET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n");
        pool.give(buf);
        let again = pool.take();
        assert!(again.is_empty());
        assert!(again.capacity() >= BUF_SIZE);
        assert_eq!(pool.kept(), 0);
    }

    #[test]
    fn take_empties_even_what_bypassed_give() {
        let pool = Buffers::default();
        // A buffer pushed without going through `give` (the rule is enforced at take).
        let mut dirty = Vec::with_capacity(BUF_SIZE);
        dirty.extend_from_slice(b"leftover");
        pool.free.borrow_mut().push(dirty);
        assert!(pool.take().is_empty());
    }

    #[test]
    fn empty_pool_makes_new_buffers() {
        let pool = Buffers::default();
        let a = pool.take();
        let b = pool.take();
        assert!(a.is_empty() && b.is_empty());
        assert!(a.capacity() >= BUF_SIZE && b.capacity() >= BUF_SIZE);
    }

    #[test]
    fn small_grown_and_surplus_buffers_are_freed_not_kept() {
        let pool = Buffers::default();
        pool.give(Vec::new()); // no memory: neither kept nor counted
        pool.give(Vec::with_capacity(100));
        pool.give(Vec::with_capacity(KEEP_MAX + 1));
        assert_eq!(pool.kept(), 0);
        assert_eq!(pool.take_freed(), 2);
        for _ in 0..POOL_MAX + 3 {
            pool.give(Vec::with_capacity(BUF_SIZE));
        }
        assert_eq!(pool.kept(), POOL_MAX);
        assert_eq!(pool.take_freed(), 3);
        assert_eq!(pool.take_freed(), 0);
    }

    #[test]
    fn head_buffers_come_back_empty_and_grown_ones_are_not_kept() {
        let pool = Buffers::default();
        let mut head = pool.take_head();
        assert!(head.capacity() >= HEAD_SIZE);
        head.extend_from_slice(b"HTTP/1.1 200 OK\r\nSet-Cookie: secret\r\n\r\n");
        let ptr = head.as_ptr();
        pool.give_head(head);
        let again = pool.take_head();
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), ptr, "the head buffer was not reused");
        pool.give_head(Vec::with_capacity(BUF_SIZE + 1));
        pool.give_head(Vec::new());
        assert_eq!(pool.heads.borrow().len(), 0);
        assert_eq!(pool.take_freed(), 1);
        // Heads and relay buffers do not mix.
        pool.give_head(again);
        assert!(pool.take().capacity() >= BUF_SIZE);
        assert_eq!(pool.heads.borrow().len(), 1);
    }

    #[test]
    fn newest_buffer_first() {
        let pool = Buffers::default();
        let a = Vec::with_capacity(BUF_SIZE);
        let b = Vec::with_capacity(BUF_SIZE + 1);
        pool.give(a);
        pool.give(b);
        assert_eq!(pool.take().capacity(), BUF_SIZE + 1);
    }
}
