//! The wait queue of one backend in one worker (HAProxy's backend queue). When every
//! usable server is at its connection limit (`max_connections`, this worker's share),
//! a request waits here, first in first out, for up to `timeout_queue`; the queue holds
//! at most this worker's share of `max_queue`. A slot that frees up (a lease dropped, a
//! server that comes back or gets more weight) wakes the first waiter, which picks
//! again among all servers: queued requests are not tied to a server, so a server that
//! goes down never strands them. While anyone waits, newcomers queue behind them.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

/// One waiting request.
#[derive(Default)]
pub struct Waiter {
    woken: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Waiter {
    fn wake(&self) {
        self.woken.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            if self.woken.get() {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

#[derive(Default)]
pub struct Queue {
    waiters: VecDeque<Rc<Waiter>>,
    /// Waiters woken that have not picked yet: their slot is spoken for.
    woken: usize,
    /// Most waiters (this worker's share of `max_queue`); 0 = no queue.
    pub capacity: usize,
    /// Requests that waited, that timed out waiting, that found the queue full.
    pub queued: u64,
    pub timeouts: u64,
    pub full: u64,
}

/// Why a request got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue is full (or there is none): 503 at once.
    Full,
    /// Waited `timeout_queue` in vain: 503.
    Timeout,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::Full => "the queue is full",
            Refused::Timeout => "waited timeout_queue in the queue",
        })
    }
}

impl Queue {
    /// Someone waits, or was just woken and has not picked yet: a newcomer must queue.
    pub fn busy(&self) -> bool {
        !self.waiters.is_empty() || self.woken > 0
    }

    /// A woken waiter is about to pick.
    pub fn resumed(&mut self) {
        self.woken = self.woken.saturating_sub(1);
    }

    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Join the back of the queue, unless it is full.
    pub fn join(&mut self) -> Result<Rc<Waiter>, Refused> {
        if self.waiters.len() >= self.capacity {
            self.full += 1;
            return Err(Refused::Full);
        }
        let w = Rc::new(Waiter::default());
        self.waiters.push_back(Rc::clone(&w));
        self.queued += 1;
        Ok(w)
    }

    /// Wake the first waiter (it leaves the queue and picks again).
    pub fn wake_first(&mut self) {
        if let Some(w) = self.waiters.pop_front() {
            self.woken += 1;
            w.wake();
        }
    }

    /// Wake everyone (no server is usable any more: they get their answer at once).
    pub fn wake_all(&mut self) {
        while !self.waiters.is_empty() {
            self.wake_first();
        }
    }

    /// A waiter that gave up leaves the queue.
    pub fn leave(&mut self, waiter: &Rc<Waiter>) {
        self.waiters.retain(|w| !Rc::ptr_eq(w, waiter));
    }
}

/// Wait until `waiter` is woken, for at most `timeout`. The caller removes it from the
/// queue on `Err`.
pub async fn wait(waiter: &Waiter, timeout: Duration) -> Result<(), Refused> {
    super::timer::within(timeout, waiter.wait())
        .await
        .map_err(|_| Refused::Timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_in_first_out_and_bounded() {
        let mut q = Queue {
            capacity: 2,
            ..Queue::default()
        };
        let a = q.join().unwrap();
        let b = q.join().unwrap();
        assert_eq!(q.join().err(), Some(Refused::Full));
        q.wake_first();
        assert!(a.woken.get() && !b.woken.get());
        assert!(q.busy());
        q.leave(&b);
        q.resumed();
        assert!(!q.busy());
        assert_eq!((q.queued, q.full), (2, 1));
    }

    #[test]
    fn no_queue_when_capacity_is_zero() {
        let mut q = Queue::default();
        assert_eq!(q.join().err(), Some(Refused::Full));
    }
}
