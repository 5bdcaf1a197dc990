//! Tiny single-thread synchronisation helpers for tasks of one worker (a list of
//! waiters, which `hot_ticks.rs` uses too, a flag and a gate). They use
//! `Cell`/`RefCell` and wakers only: a worker's tasks never run in parallel, so no
//! atomics or locks are needed.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};

/// Wakers of the tasks waiting on something. Each waiting future owns one slot for as
/// long as it waits (it updates its waker there, and frees the slot when it is done
/// or dropped), so the list holds one entry per waiter, however often they poll and
/// whatever wakers the runtime hands out. (An earlier list of wakers, de-duplicated
/// with `will_wake`, grew by a few entries per accepted connection: monoio's wakers
/// for one task do not always compare equal.)
#[derive(Default)]
pub(super) struct Waiters {
    slots: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

impl Waiters {
    pub(super) fn wake_all(&self) {
        let wakers: Vec<Waker> = self
            .slots
            .borrow_mut()
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for w in wakers {
            w.wake();
        }
    }

    /// Slots held by waiting futures.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.slots.borrow().len() - self.free.borrow().len()
    }
}

/// One waiting future's place in a [`Waiters`] list.
pub(super) struct Slot<'a> {
    waiters: &'a Waiters,
    index: Option<usize>,
}

impl<'a> Slot<'a> {
    pub(super) fn new(waiters: &'a Waiters) -> Self {
        Slot {
            waiters,
            index: None,
        }
    }

    pub(super) fn register(&mut self, waker: &Waker) {
        let mut slots = self.waiters.slots.borrow_mut();
        let i = *self
            .index
            .get_or_insert_with(|| match self.waiters.free.borrow_mut().pop() {
                Some(i) => i,
                None => {
                    slots.push(None);
                    slots.len() - 1
                }
            });
        match &mut slots[i] {
            Some(w) if w.will_wake(waker) => {}
            entry => *entry = Some(waker.clone()),
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.index {
            self.waiters.slots.borrow_mut()[i] = None;
            self.waiters.free.borrow_mut().push(i);
        }
    }
}

/// A flag that is raised once; tasks can wait for it.
#[derive(Default)]
pub struct Flag {
    raised: Cell<bool>,
    waiters: Waiters,
}

impl Flag {
    pub fn raise(&self) {
        self.raised.set(true);
        self.waiters.wake_all();
    }

    pub fn is_raised(&self) -> bool {
        self.raised.get()
    }

    pub async fn wait(&self) {
        let mut slot = Slot::new(&self.waiters);
        poll_fn(|cx| {
            if self.raised.get() {
                Poll::Ready(())
            } else {
                slot.register(cx.waker());
                Poll::Pending
            }
        })
        .await
    }

    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.waiters.waiting()
    }
}

/// Counts this worker's open client connections against its share of
/// `global.max_connections`. Accept loops wait in [`Gate::wait_below_limit`]; the
/// shutdown path waits in [`Gate::wait_empty`].
pub struct Gate {
    open: Cell<usize>,
    limit: usize,
    waiters: Waiters,
    /// The most connections open at once since [`Gate::settle_peak`] last ran.
    peak: Cell<usize>,
}

impl Gate {
    pub fn new(limit: usize) -> Self {
        Gate {
            open: Cell::new(0),
            limit: limit.max(1),
            waiters: Waiters::default(),
            peak: Cell::new(0),
        }
    }

    pub fn open(&self) -> usize {
        self.open.get()
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn enter(&self) {
        let open = self.open.get() + 1;
        self.open.set(open);
        self.peak.set(self.peak.get().max(open));
    }

    /// How many fewer connections are open now than at the peak since the last call;
    /// the peak starts again from now.
    pub fn settle_peak(&self) -> usize {
        let open = self.open.get();
        open.max(self.peak.replace(open)) - open
    }

    pub fn leave(&self) {
        self.open.set(self.open.get().saturating_sub(1));
        self.waiters.wake_all();
    }

    /// Below the limit and `also` holds (re-checked whenever a connection leaves).
    pub async fn wait_below_limit(&self, also: impl Fn() -> bool) {
        self.wait_until(|open| open < self.limit && also()).await
    }

    pub async fn wait_empty(&self) {
        self.wait_until(|open| open == 0).await
    }

    async fn wait_until(&self, ready: impl Fn(usize) -> bool) {
        let mut slot = Slot::new(&self.waiters);
        poll_fn(|cx| {
            if ready(self.open.get()) {
                Poll::Ready(())
            } else {
                slot.register(cx.waker());
                Poll::Pending
            }
        })
        .await
    }
}

/// A guard that leaves the gate when the connection ends, however it ends.
pub struct GateTicket(pub std::rc::Rc<Gate>);

impl Drop for GateTicket {
    fn drop(&mut self) {
        self.0.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Wake};

    struct Count;
    impl Wake for Count {
        fn wake(self: Arc<Self>) {}
    }

    #[test]
    fn waiting_over_and_over_keeps_one_slot_per_waiter() {
        let flag = Flag::default();
        for _ in 0..1000 {
            // A fresh waker each time, as a runtime may hand out.
            let waker = Waker::from(Arc::new(Count));
            let mut cx = Context::from_waker(&waker);
            let mut fut = pin!(flag.wait());
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            let other = Waker::from(Arc::new(Count));
            assert!(fut
                .as_mut()
                .poll(&mut Context::from_waker(&other))
                .is_pending());
            assert_eq!(flag.waiting(), 1);
        }
        // Every dropped wait gave its slot back.
        assert_eq!(flag.waiting(), 0);
        flag.raise();
        let waker = Waker::from(Arc::new(Count));
        assert!(pin!(flag.wait())
            .poll(&mut Context::from_waker(&waker))
            .is_ready());
    }

    #[test]
    fn the_gate_says_how_far_connections_fell_from_their_peak() {
        let gate = Gate::new(10);
        for _ in 0..5 {
            gate.enter();
        }
        assert_eq!(gate.settle_peak(), 0);
        for _ in 0..3 {
            gate.leave();
        }
        assert_eq!(gate.settle_peak(), 3);
        // The peak starts again from what is open now.
        assert_eq!(gate.settle_peak(), 0);
        gate.enter();
        gate.leave();
        gate.leave();
        assert_eq!(gate.settle_peak(), 2);
    }
}
