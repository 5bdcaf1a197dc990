//! Heap slots for the futures made per connection and per HTTP/2 stream (a client
//! connection's session; a stream's task and its session), kept by this thread when
//! one ends and handed to the next, newest first.
//!
//! Why: with 500 streams in flight (`h2load -c 50 -m 10`) ringlb spent 1.6 times the
//! CPU per request it spent with 100, for 2% more instructions: the difference was
//! cache misses (docs/benchmarks.md, "HTTP/2 at many streams per connection"). Both
//! futures are over 1 KiB, past glibc's per-thread cache (tcache, up to 1032 bytes),
//! so `malloc` took their memory from its bins, oldest first (cold), and its `free`
//! merged neighbours (`unlink_chunk`, `malloc_consolidate`), more often the more
//! blocks were live; and `monoio::spawn` copied the whole stream future (~1.5 KB)
//! into that cold block. A slot given back is the next one taken (still warm: the
//! stream that ended just touched it), the future is written into it in place, and
//! the task monoio allocates holds only the slot's pointer (small enough for tcache).

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cell::RefCell;
use std::future::Future;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// Slots kept per layout, at most (more are freed): what the streams of one burst
/// give back, for the next burst's (a turn of the worker may end hundreds of streams
/// before the next requests come in).
const SPARE_MAX: usize = 1024;
/// Slots kept per layout whatever the traffic (`settle` never goes below).
const SPARE_FLOOR: usize = 32;

/// The spare slots of one layout, and their low-water mark since the last `settle`.
struct List {
    layout: Layout,
    free: Vec<NonNull<u8>>,
    low: usize,
}

/// This thread's spare slots, by layout (two layouts in practice).
struct Spares(Vec<List>);

impl Drop for Spares {
    fn drop(&mut self) {
        for list in self.0.drain(..) {
            for ptr in list.free {
                // SAFETY: allocated with `alloc(layout)` (non-zero size), not in use.
                unsafe { dealloc(ptr.as_ptr(), list.layout) };
            }
        }
    }
}

thread_local! {
    static SPARES: RefCell<Spares> = const { RefCell::new(Spares(Vec::new())) };
}

/// A block for `layout` (non-zero size): the newest spare, else a new one.
fn take(layout: Layout) -> NonNull<u8> {
    let spare = SPARES
        .try_with(|s| {
            let mut s = s.borrow_mut();
            let list = s.0.iter_mut().find(|l| l.layout == layout)?;
            let ptr = list.free.pop();
            list.low = list.low.min(list.free.len());
            ptr
        })
        .ok()
        .flatten();
    spare.unwrap_or_else(|| {
        // SAFETY: `layout` has a non-zero size (checked by the callers).
        let ptr = unsafe { alloc(layout) };
        NonNull::new(ptr).unwrap_or_else(|| handle_alloc_error(layout))
    })
}

/// Give a block of `layout` back: kept for the next `take`, or freed past SPARE_MAX
/// (or while the thread ends).
fn give(layout: Layout, ptr: NonNull<u8>) {
    let kept = SPARES
        .try_with(|s| {
            let mut s = s.borrow_mut();
            let i = match s.0.iter().position(|l| l.layout == layout) {
                Some(i) => i,
                None => {
                    s.0.push(List {
                        layout,
                        free: Vec::new(),
                        low: 0,
                    });
                    s.0.len() - 1
                }
            };
            let list = &mut s.0[i];
            if list.free.len() >= SPARE_MAX {
                return false;
            }
            list.free.push(ptr);
            true
        })
        .unwrap_or(false);
    if !kept {
        // SAFETY: allocated with `alloc(layout)`, no longer in use.
        unsafe { dealloc(ptr.as_ptr(), layout) };
    }
}

/// Free the spare slots that stayed unused since the last call (the low-water mark),
/// oldest first, down to SPARE_FLOOR per layout; returns how many were freed. Called
/// once a second by the worker (with the relay buffers' own settling): a burst's
/// slots go a second or two after it ends, a steady load keeps what it uses.
pub(in crate::worker) fn settle() -> usize {
    SPARES
        .try_with(|s| {
            let mut freed = 0;
            for list in s.borrow_mut().0.iter_mut() {
                let unused = list.low.min(list.free.len().saturating_sub(SPARE_FLOOR));
                for ptr in list.free.drain(..unused) {
                    // SAFETY: allocated with `alloc(layout)`, not in use.
                    unsafe { dealloc(ptr.as_ptr(), list.layout) };
                }
                list.low = list.free.len();
                freed += unused;
            }
            freed
        })
        .unwrap_or(0)
}

/// A slot taken for an `F`, not written yet (given back if dropped so).
pub(super) struct Empty<F> {
    ptr: NonNull<MaybeUninit<F>>,
}

/// A future in a slot of its own: polled in place (it never moves), dropped in place,
/// and its slot given back.
pub(super) struct Slot<F> {
    ptr: NonNull<F>,
}

/// A slot for an `F`.
pub(super) fn empty<F>() -> Empty<F> {
    let layout = Layout::new::<F>();
    assert!(layout.size() > 0, "a slot for a zero-sized value");
    Empty {
        ptr: take(layout).cast(),
    }
}

impl<F> Empty<F> {
    /// Write `value` into the slot. (Inlined, the caller's value is built in place,
    /// not on the stack and then copied.)
    #[inline(always)]
    pub fn write(self, value: F) -> Slot<F> {
        let ptr = self.ptr.cast::<F>();
        std::mem::forget(self);
        // SAFETY: the slot is F's layout, not in use, and written once here.
        unsafe { ptr.as_ptr().write(value) };
        Slot { ptr }
    }
}

impl<F> Drop for Empty<F> {
    fn drop(&mut self) {
        give(Layout::new::<F>(), self.ptr.cast());
    }
}

impl<F> Drop for Slot<F> {
    fn drop(&mut self) {
        // SAFETY: the slot holds an F written by `Empty::write`, dropped once here.
        unsafe { std::ptr::drop_in_place(self.ptr.as_ptr()) };
        give(Layout::new::<F>(), self.ptr.cast());
    }
}

impl<F: Future> Future for Slot<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: the F lives in its slot until the `Slot` is dropped, and is never
        // moved out of it: pinned.
        unsafe { Pin::new_unchecked(&mut *self.ptr.as_ptr()) }.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Counts its drops.
    struct Noted(Rc<Cell<u32>>, #[allow(dead_code)] [u8; 2048]);

    impl Drop for Noted {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn a_slot_given_back_is_the_next_one_taken_and_its_value_is_dropped() {
        let drops = Rc::new(Cell::new(0));
        let a = empty().write(Noted(Rc::clone(&drops), [1; 2048]));
        let first = a.ptr.as_ptr() as usize;
        drop(a);
        assert_eq!(drops.get(), 1);
        let b = empty().write(Noted(Rc::clone(&drops), [2; 2048]));
        assert_eq!(b.ptr.as_ptr() as usize, first, "the newest spare first");
        // SAFETY: written just above.
        assert_eq!(unsafe { &*b.ptr.as_ptr() }.1[0], 2);
        drop(b);
        assert_eq!(drops.get(), 2);
    }

    #[test]
    fn an_empty_slot_dropped_unwritten_goes_back_without_a_drop() {
        let e = empty::<Noted>();
        let at = e.ptr.as_ptr() as usize;
        drop(e);
        let again = empty::<Noted>();
        assert_eq!(again.ptr.as_ptr() as usize, at);
    }

    #[test]
    fn spares_are_bounded() {
        let slots: Vec<_> = (0..SPARE_MAX + 10)
            .map(|i| empty().write([i as u64; 40]))
            .collect();
        drop(slots);
        assert_eq!(kept::<[u64; 40]>(), SPARE_MAX);
    }

    /// Spares of `T`'s layout kept now.
    fn kept<T>() -> usize {
        let layout = Layout::new::<T>();
        SPARES.with(|s| {
            let s = s.borrow();
            s.0.iter()
                .find(|l| l.layout == layout)
                .map_or(0, |l| l.free.len())
        })
    }

    #[test]
    fn settling_frees_what_a_whole_period_left_unused_down_to_the_floor() {
        type T = [u64; 41];
        let burst: Vec<_> = (0..200).map(|i| empty().write([i as u64; 41])).collect();
        drop(burst);
        assert_eq!(kept::<T>(), 200);
        // The period of the burst: all 200 were taken from nothing, so its low-water
        // mark is 0: nothing freed yet.
        settle();
        assert_eq!(kept::<T>(), 200);
        // A quiet period that used 50 of them at once: 150 stayed unused.
        let some: Vec<_> = (0..50).map(|i| empty().write([i as u64; 41])).collect();
        drop(some);
        settle();
        assert_eq!(kept::<T>(), 50);
        // A period that used none: down to the floor, never below.
        settle();
        assert_eq!(kept::<T>(), SPARE_FLOOR);
        settle();
        assert_eq!(kept::<T>(), SPARE_FLOOR);
    }

    #[test]
    fn a_future_in_a_slot_runs_in_place() {
        let out = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime")
            .block_on(async {
                let slot = empty().write(async {
                    monoio::time::sleep(std::time::Duration::from_millis(1)).await;
                    7
                });
                monoio::spawn(slot).await
            });
        assert_eq!(out, 7);
    }
}
