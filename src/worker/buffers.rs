//! The worker's pool of relay buffers. A buffer is the one thing a connection leaves
//! behind for the next one, so the pool's one rule is that **no byte crosses from one
//! connection to another**: a buffer is emptied when it is given back *and* when it is
//! taken out, so no error path of a session, however it ends, can hand the next
//! connection its leftovers (a request a client smuggled into a body, bytes a server
//! sent instead of a response). Emptying a `Vec<u8>` only resets its length. HTTP
//! sessions' head buffers (smaller) have a pool of their own under the same rule.
//!
//! How many are kept follows the traffic (as HAProxy's pools do): every buffer given
//! back is kept (up to [`HARD_MAX`]), and once a period ([`Buffers::settle`], once a
//! second) the buffers that stayed unused the whole period (the list's low-water mark)
//! are freed, down to [`POOL_MAX`]. Under steady load with hundreds of requests in
//! flight, whose count swings by more than a fixed bound, nothing is freed and nothing
//! reallocated (freeing them made the worker trim the heap every second, and every
//! buffer taken next touched fresh pages: docs/benchmarks.md, "HTTP/2 at 500 streams").

use std::cell::{Cell, RefCell};
use std::ops::RangeInclusive;

/// Size of one buffer (HAProxy's default `tune.bufsize`); a session uses two. Larger
/// buffers move bulk data in fewer operations but cost memory per connection.
pub const BUF_SIZE: usize = 16 * 1024;
/// Buffers kept for reuse whatever the traffic (the settling never goes below).
const POOL_MAX: usize = 256;
/// Buffers kept at most, however many were in use at once (beyond: freed at once).
const HARD_MAX: usize = 8192;
/// A buffer that grew past this (a large head or chunk line read in one piece) is
/// freed rather than kept, so an idle pool never holds more than `BUF_SIZE` each.
const KEEP_MAX: usize = 2 * BUF_SIZE;
/// Size of a head buffer (an HTTP session's head written for the other side): most
/// heads fit; a larger one grows it, and one grown past `BUF_SIZE` is not kept.
pub const HEAD_SIZE: usize = 1024;

/// One free list and its low-water mark since the last settling.
#[derive(Default)]
struct List {
    free: Vec<Vec<u8>>,
    /// The fewest buffers the list held since the last [`Buffers::settle`].
    low: usize,
}

#[derive(Default)]
pub struct Buffers {
    free: RefCell<List>,
    /// Head buffers, kept apart: they are smaller.
    heads: RefCell<List>,
    /// Buffers freed (list full, grown too large, or unused for a period) since the
    /// last settling.
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
    fn give_to(&self, list: &RefCell<List>, mut buf: Vec<u8>, keep: RangeInclusive<usize>) {
        buf.clear();
        let mut list = list.borrow_mut();
        if list.free.len() < HARD_MAX && keep.contains(&buf.capacity()) {
            list.free.push(buf);
        } else if buf.capacity() > 0 {
            self.freed.set(self.freed.get() + 1);
        }
    }

    /// A period ended (called once a second): free the buffers that were not taken
    /// during it (the oldest; the list never holds fewer than `POOL_MAX` that way), and
    /// say how many buffers were freed since the last call (0: nothing for a heap
    /// trim to give back).
    pub fn settle(&self) -> usize {
        for list in [&self.free, &self.heads] {
            let mut list = list.borrow_mut();
            let unused = list.low.min(list.free.len().saturating_sub(POOL_MAX));
            list.free.drain(..unused);
            list.low = list.free.len();
            self.freed.set(self.freed.get() + unused);
        }
        self.freed.replace(0)
    }

    /// The memory of the buffers kept free for reuse, in bytes (both lists; what
    /// sessions hold is not counted).
    pub fn pooled_bytes(&self) -> u64 {
        let mut bytes = 0;
        for list in [&self.free, &self.heads] {
            bytes += list.borrow().free.iter().map(Vec::capacity).sum::<usize>();
        }
        bytes as u64
    }

    #[cfg(test)]
    fn kept(&self) -> usize {
        self.free.borrow().free.len()
    }
}

/// The newest buffer of `list`, emptied, or a new one of `capacity`. Given-back
/// buffers are emptied already; emptying again here makes the guarantee hold whatever
/// path gave a buffer back.
fn take_from(list: &RefCell<List>, capacity: usize) -> Vec<u8> {
    let mut list = list.borrow_mut();
    let buf = list.free.pop();
    list.low = list.low.min(list.free.len());
    match buf {
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
    fn pooled_bytes_counts_the_free_buffers_of_both_lists() {
        let pool = Buffers::default();
        assert_eq!(pool.pooled_bytes(), 0);
        let (a, b, head) = (pool.take(), pool.take(), pool.take_head());
        assert_eq!(pool.pooled_bytes(), 0, "taken buffers are the sessions'");
        pool.give(a);
        pool.give_head(head);
        assert_eq!(pool.pooled_bytes(), (BUF_SIZE + HEAD_SIZE) as u64);
        pool.give(b);
        assert_eq!(pool.pooled_bytes(), (2 * BUF_SIZE + HEAD_SIZE) as u64);
        let _again = pool.take();
        assert_eq!(pool.pooled_bytes(), (BUF_SIZE + HEAD_SIZE) as u64);
    }

    #[test]
    fn take_empties_even_what_bypassed_give() {
        let pool = Buffers::default();
        // A buffer pushed without going through `give` (the rule is enforced at take).
        let mut dirty = Vec::with_capacity(BUF_SIZE);
        dirty.extend_from_slice(b"leftover");
        pool.free.borrow_mut().free.push(dirty);
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
    fn small_and_grown_buffers_are_freed_not_kept() {
        let pool = Buffers::default();
        pool.give(Vec::new()); // no memory: neither kept nor counted
        pool.give(Vec::with_capacity(100));
        pool.give(Vec::with_capacity(KEEP_MAX + 1));
        assert_eq!(pool.kept(), 0);
        assert_eq!(pool.settle(), 2);
        assert_eq!(pool.settle(), 0);
    }

    /// `n` buffers taken at once, then all given back.
    fn burst(pool: &Buffers, n: usize) {
        let taken: Vec<_> = (0..n).map(|_| pool.take()).collect();
        taken.into_iter().for_each(|b| pool.give(b));
    }

    #[test]
    fn a_burst_is_kept_while_it_recurs_and_freed_a_period_after_it_stops() {
        let pool = Buffers::default();
        let n = POOL_MAX * 3;
        burst(&pool, n);
        assert_eq!(pool.kept(), n);
        // Every period sees the burst again: its buffers are all used, none freed
        // (this is what a steady load with many requests in flight looks like).
        for _ in 0..3 {
            assert_eq!(pool.settle(), 0);
            burst(&pool, n);
            assert_eq!(pool.kept(), n);
        }
        // A period with a smaller burst: what it did not use goes at its end...
        assert_eq!(pool.settle(), 0);
        burst(&pool, POOL_MAX);
        assert_eq!(pool.settle(), n - POOL_MAX);
        assert_eq!(pool.kept(), POOL_MAX);
        // ...and a quiet pool keeps POOL_MAX.
        assert_eq!(pool.settle(), 0);
        assert_eq!(pool.kept(), POOL_MAX);
    }

    #[test]
    fn a_quiet_period_frees_down_to_the_floor_and_the_hard_bound_holds() {
        let pool = Buffers::default();
        for _ in 0..HARD_MAX + 5 {
            pool.give(Vec::with_capacity(BUF_SIZE));
        }
        assert_eq!(pool.kept(), HARD_MAX);
        assert_eq!(pool.settle(), 5, "past the hard bound: freed at once");
        // Nothing taken during the next period: all but POOL_MAX are surplus.
        assert_eq!(pool.settle(), HARD_MAX - POOL_MAX);
        assert_eq!(pool.kept(), POOL_MAX);
        // A period that took some: the low-water mark counts, not the end.
        let a = pool.take();
        pool.give(a);
        assert_eq!(pool.settle(), 0);
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
        assert_eq!(pool.heads.borrow().free.len(), 0);
        assert_eq!(pool.settle(), 1);
        // Heads and relay buffers do not mix.
        pool.give_head(again);
        assert!(pool.take().capacity() >= BUF_SIZE);
        assert_eq!(pool.heads.borrow().free.len(), 1);
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
