//! Two tiny single-thread synchronisation helpers for tasks of one worker. They use
//! `Cell`/`RefCell` and wakers only: a worker's tasks never run in parallel, so no
//! atomics or locks are needed.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};

/// A flag that is raised once; tasks can wait for it.
#[derive(Default)]
pub struct Flag {
    raised: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Flag {
    pub fn raise(&self) {
        self.raised.set(true);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    pub fn is_raised(&self) -> bool {
        self.raised.get()
    }

    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.raised.get() {
                Poll::Ready(())
            } else {
                register(&self.waiters, cx.waker());
                Poll::Pending
            }
        })
        .await
    }
}

/// Remember a waker once: a task that polls again (e.g. an accept loop going round)
/// must not grow the list.
fn register(waiters: &RefCell<Vec<Waker>>, waker: &Waker) {
    let mut list = waiters.borrow_mut();
    if !list.iter().any(|w| w.will_wake(waker)) {
        list.push(waker.clone());
    }
}

/// Counts this worker's open client connections against its share of
/// `global.max_connections`. Accept loops wait in [`Gate::wait_below_limit`]; the
/// shutdown path waits in [`Gate::wait_empty`].
pub struct Gate {
    open: Cell<usize>,
    limit: usize,
    waiters: RefCell<Vec<Waker>>,
}

impl Gate {
    pub fn new(limit: usize) -> Self {
        Gate {
            open: Cell::new(0),
            limit: limit.max(1),
            waiters: RefCell::new(Vec::new()),
        }
    }

    pub fn open(&self) -> usize {
        self.open.get()
    }

    pub fn enter(&self) {
        self.open.set(self.open.get() + 1);
    }

    pub fn leave(&self) {
        self.open.set(self.open.get().saturating_sub(1));
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    pub async fn wait_below_limit(&self) {
        self.wait_until(|open| open < self.limit).await
    }

    pub async fn wait_empty(&self) {
        self.wait_until(|open| open == 0).await
    }

    async fn wait_until(&self, ready: impl Fn(usize) -> bool) {
        poll_fn(|cx| {
            if ready(self.open.get()) {
                Poll::Ready(())
            } else {
                register(&self.waiters, cx.waker());
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
