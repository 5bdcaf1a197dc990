//! The end of a keep-alive connection's hot wait (`http_keepalive.rs`: its read armed
//! with the buffer for about a second), on a tick of the worker's instead of a timer of
//! its own. A timer per wait cost ~400 instructions per HTTP/1.1 request (a clock read,
//! a timer-wheel entry made, polled and removed), ~3% of one, and the client's next
//! request ends almost every wait long before it would fire. Here a wait notes the
//! worker's generation and puts its waker in that generation's list; one ticker task
//! per worker advances the generation every [`TICK`] while any wait is on, and wakes
//! the waits that began [`AFTER`] ticks before. So a hot wait lasts between 1 and
//! 1.5 s rather than exactly 1 s: it only decides when an idle connection's buffers go
//! back to the pool. The keep-alive timeout itself is still counted exactly (from the
//! wait's start, by the caller), and a timeout shorter than [`COARSE_FROM`] keeps an
//! exact timer for the hot wait as before.

use std::cell::Cell;
use std::future::poll_fn;
use std::task::{Poll, Waker};
use std::time::Duration;

use super::local::{Slot, Waiters};

/// How often the generation advances while waits are on.
const TICK: Duration = Duration::from_millis(500);
/// Ticks a wait lasts: it ends at the third tick after it began (1 to 1.5 s).
const AFTER: u64 = 3;
/// Lists of waiters, by generation modulo this (one more than [`AFTER`]: the list
/// woken at a tick is never the one new waits go into).
const LISTS: u64 = AFTER + 1;
/// Keep-alive timeouts from this long on take the ticks; shorter ones, whose hot wait
/// is the whole timeout (or most of it), keep an exact timer.
pub const COARSE_FROM: Duration = Duration::from_secs(2);

/// A worker's hot waits and their generation.
#[derive(Default)]
pub struct HotTicks {
    now: Cell<u64>,
    lists: [Waiters; LISTS as usize],
    /// Waits on now (the ticker sleeps without a timer when there are none).
    waiting: Cell<usize>,
    /// The ticker, while it waits for a first wait.
    ticker: Cell<Option<Waker>>,
    /// Every wait ends at once, now and from now on (the worker closes idle
    /// connections).
    ended: Cell<bool>,
}

impl HotTicks {
    /// Resolves once [`AFTER`] ticks have passed since the call (1 to 1.5 s), or at
    /// once after [`HotTicks::end_all`].
    pub async fn wait(&self) {
        let start = self.now.get();
        let mut slot = Slot::new(&self.lists[(start % LISTS) as usize]);
        let _on = On::new(self);
        poll_fn(|cx| {
            if self.ended.get() || self.now.get() >= start + AFTER {
                Poll::Ready(())
            } else {
                slot.register(cx.waker());
                Poll::Pending
            }
        })
        .await
    }

    /// End every wait, now and from now on.
    pub fn end_all(&self) {
        self.ended.set(true);
        for list in &self.lists {
            list.wake_all();
        }
    }

    /// One tick: the waits begun [`AFTER`] ticks ago are woken.
    fn advance(&self) {
        let now = self.now.get() + 1;
        self.now.set(now);
        self.lists[((now + LISTS - AFTER) % LISTS) as usize].wake_all();
    }

    /// Resolves when some wait is on.
    async fn until_waiting(&self) {
        poll_fn(|cx| {
            if self.waiting.get() > 0 {
                Poll::Ready(())
            } else {
                self.ticker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

/// Counts a wait as on while it lives; the first one wakes the ticker.
struct On<'a>(&'a HotTicks);

impl<'a> On<'a> {
    fn new(ticks: &'a HotTicks) -> Self {
        let waiting = ticks.waiting.get();
        ticks.waiting.set(waiting + 1);
        if waiting == 0 {
            if let Some(w) = ticks.ticker.take() {
                w.wake();
            }
        }
        On(ticks)
    }
}

impl Drop for On<'_> {
    fn drop(&mut self) {
        self.0.waiting.set(self.0.waiting.get() - 1);
    }
}

/// The worker's ticker: while waits are on, one tick per [`TICK`]. (Runs for the
/// worker's life; with no wait on, it holds no timer.)
pub async fn run(ticks: &HotTicks) {
    loop {
        ticks.until_waiting().await;
        super::timer::sleep(TICK).await;
        ticks.advance();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Wake};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn ready<F: Future>(f: std::pin::Pin<&mut F>, waker: &Waker) -> bool {
        f.poll(&mut Context::from_waker(waker)).is_ready()
    }

    /// Fresh ticks, and a waker that counts its wakes.
    fn counted() -> (HotTicks, Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        (HotTicks::default(), count, waker)
    }

    #[test]
    fn a_wait_ends_at_the_third_tick_and_is_woken_then() {
        let (ticks, count, waker) = counted();
        let mut first = pin!(ticks.wait());
        assert!(!ready(first.as_mut(), &waker));
        assert_eq!(ticks.waiting.get(), 1);
        ticks.advance();
        // One begun a tick later ends a tick later.
        let mut second = pin!(ticks.wait());
        assert!(!ready(second.as_mut(), &waker));
        ticks.advance();
        assert_eq!(count.0.load(Ordering::Relaxed), 0, "woken too early");
        assert!(!ready(first.as_mut(), &waker));
        ticks.advance();
        assert_eq!(
            count.0.load(Ordering::Relaxed),
            1,
            "the first, at its third tick"
        );
        assert!(ready(first.as_mut(), &waker));
        assert!(!ready(second.as_mut(), &waker));
        ticks.advance();
        assert_eq!(count.0.load(Ordering::Relaxed), 2);
        assert!(ready(second.as_mut(), &waker));
    }

    #[test]
    fn the_ticker_is_woken_by_the_first_wait_only_and_waits_are_counted() {
        let (ticks, count, waker) = counted();
        let mut idle = pin!(ticks.until_waiting());
        assert!(!ready(idle.as_mut(), &waker));
        {
            let mut a = pin!(ticks.wait());
            let mut b = pin!(ticks.wait());
            assert!(!ready(a.as_mut(), &waker));
            assert!(!ready(b.as_mut(), &waker));
            assert_eq!(count.0.load(Ordering::Relaxed), 1, "woken once");
            assert_eq!(ticks.waiting.get(), 2);
            assert!(ready(idle.as_mut(), &waker));
        }
        // Dropped (the client's next request came): nothing waits, nothing is kept.
        assert_eq!(ticks.waiting.get(), 0);
        for list in &ticks.lists {
            assert_eq!(list.waiting(), 0);
        }
    }

    #[test]
    fn end_all_ends_the_waits_on_and_the_ones_after() {
        let (ticks, count, waker) = counted();
        let mut on = pin!(ticks.wait());
        assert!(!ready(on.as_mut(), &waker));
        ticks.end_all();
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        assert!(ready(on.as_mut(), &waker));
        let mut later = pin!(ticks.wait());
        assert!(ready(later.as_mut(), &waker));
    }

    #[test]
    fn generations_wrap_around_their_lists() {
        let (ticks, count, waker) = counted();
        for round in 0..3 * LISTS as usize {
            let mut w = pin!(ticks.wait());
            assert!(!ready(w.as_mut(), &waker));
            for _ in 0..AFTER {
                ticks.advance();
            }
            assert_eq!(count.0.load(Ordering::Relaxed), round + 1);
            assert!(ready(w.as_mut(), &waker));
        }
    }
}
