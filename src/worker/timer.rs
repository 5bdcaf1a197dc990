//! Timeouts on a session's waits with no timer inside the waiting future. monoio's
//! `Sleep` is 128-byte aligned (its timer entry is cache-line padded), so a future
//! that holds one inline, as `monoio::time::timeout` does, is 128-byte aligned too,
//! and so is every future that awaits it: an HTTP/2 stream's session, boxed per
//! stream, became an aligned allocation (`posix_memalign`). Here the wait is polled
//! first with no timer at all (a read that finds its bytes is done then); only a wait
//! that pends takes a timer, whose 128-byte slot comes from this thread's spares (a
//! fresh `Sleep` is made in it, so its registration is with the current runtime, and
//! dropped in it after: nothing stale stays in the timer wheel). The deadline is
//! taken then, at the first poll, as `monoio::time::timeout` takes it at creation.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::mem::MaybeUninit;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;

use monoio::time::{Instant, Sleep};

/// Spare timer slots kept per thread (more are freed).
const SPARE_MAX: usize = 1024;

thread_local! {
    /// Slots of timers not armed now, for the next waits that pend. (Boxed one by one:
    /// an armed timer's slot is handed out and must not move while it is in use.)
    #[allow(clippy::vec_box)]
    static SPARE: RefCell<Vec<Box<MaybeUninit<Sleep>>>> = const { RefCell::new(Vec::new()) };
}

/// The wait did not end within its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// `f`, or `Err(Elapsed)` once `limit` has passed (counted from the first poll).
pub async fn within<F: Future>(limit: Duration, f: F) -> Result<F::Output, Elapsed> {
    let mut f = pin!(f);
    let mut timer: Option<Timer> = None;
    let mut unbounded = false;
    poll_fn(|cx| {
        if let Poll::Ready(v) = f.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if unbounded {
            return Poll::Pending;
        }
        let t = match &mut timer {
            Some(t) => t,
            None => match Instant::now().checked_add(limit) {
                Some(deadline) => timer.insert(Timer::armed(deadline)),
                // Past what the clock can say: no limit, as with monoio's timeout.
                None => {
                    unbounded = true;
                    return Poll::Pending;
                }
            },
        };
        t.poll(cx).map(|()| Err(Elapsed))
    })
    .await
}

/// Wait `limit` (counted from the first poll).
pub async fn sleep(limit: Duration) {
    let _ = within(limit, std::future::pending::<()>()).await;
}

/// Wait until `deadline` (a timer taken at the first poll, unless it has passed).
pub async fn sleep_until(deadline: Instant) {
    let mut timer: Option<Timer> = None;
    poll_fn(|cx| match &mut timer {
        Some(t) => t.poll(cx),
        None if Instant::now() >= deadline => Poll::Ready(()),
        None => timer.insert(Timer::armed(deadline)).poll(cx),
    })
    .await
}

/// A timer kept across the waits of one connection (the waits for a server's
/// response head, one per request): armed at the first wait that pends, then moved to
/// each next wait's deadline. A later deadline only updates the timer's entry (monoio's
/// wheel, as tokio's, moves an entry whose deadline grew when its old one comes up), so
/// a busy connection costs no timer-wheel insert or removal per request, and the
/// deadline is taken from the runtime's clock of this turn (`coarse_now`: at most one
/// turn of the worker's loop old), not a clock read. Before, a timer per pending wait
/// cost ~400 instructions per HTTP/1.1 request. Between waits the timer stays in the
/// wheel: it may wake the connection's task once at a past wait's deadline (a spurious
/// wake, nothing more), and it leaves the wheel with the connection.
#[derive(Default)]
pub struct Kept {
    timer: Option<Timer>,
}

impl Kept {
    /// `f`, or `Err(Elapsed)` once `limit` has passed (counted from its first poll).
    pub async fn within<F: Future>(&mut self, limit: Duration, f: F) -> Result<F::Output, Elapsed> {
        let mut f = pin!(f);
        let mut set = false;
        poll_fn(|cx| {
            if let Poll::Ready(v) = f.as_mut().poll(cx) {
                return Poll::Ready(Ok(v));
            }
            if !set {
                set = true;
                // Past what the clock can say: no limit (as `within`).
                let Some(deadline) =
                    Instant::from_std(monoio::time::coarse_now()).checked_add(limit)
                else {
                    self.timer = None;
                    return Poll::Pending;
                };
                match &mut self.timer {
                    Some(t) => t.reset(deadline),
                    None => self.timer = Some(Timer::armed(deadline)),
                }
            }
            match &mut self.timer {
                Some(t) => t.poll(cx).map(|()| Err(Elapsed)),
                None => Poll::Pending,
            }
        })
        .await
    }
}

/// One armed timer in a slot of its own; the slot goes back to the spares on drop.
struct Timer {
    slot: Option<Box<MaybeUninit<Sleep>>>,
}

impl Timer {
    fn armed(deadline: Instant) -> Timer {
        let mut slot = SPARE
            .with(|s| s.borrow_mut().pop())
            .unwrap_or_else(Box::new_uninit);
        slot.write(monoio::time::sleep_until(deadline));
        Timer { slot: Some(slot) }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.sleep() {
            Some(sleep) => sleep.poll(cx),
            None => Poll::Pending,
        }
    }

    /// Move the deadline (a later one without leaving the wheel).
    fn reset(&mut self, deadline: Instant) {
        if let Some(sleep) = self.sleep() {
            sleep.reset(deadline);
        }
    }

    fn sleep(&mut self) -> Option<Pin<&mut Sleep>> {
        let slot = self.slot.as_mut()?;
        // SAFETY: the slot holds a `Sleep` from `armed` until `drop`, which drops it
        // in place before the slot is reused or freed: it never moves while pinned.
        Some(unsafe { Pin::new_unchecked(slot.assume_init_mut()) })
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some(mut slot) = self.slot.take() {
            // SAFETY: written in `armed`, dropped once, here (it leaves the wheel).
            unsafe { slot.assume_init_drop() };
            SPARE.with(|s| {
                let mut s = s.borrow_mut();
                if s.len() < SPARE_MAX {
                    s.push(slot);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::align_of;

    fn rt() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
    }

    #[test]
    fn a_wait_holds_no_timer_inline() {
        assert_eq!(align_of::<Sleep>(), 128);
        let f = within(Duration::from_secs(1), std::future::ready(1u8));
        assert!(align_of_val(&f) <= 16, "{}", align_of_val(&f));
        let f = sleep_until(Instant::now());
        assert!(align_of_val(&f) <= 16, "{}", align_of_val(&f));
    }

    #[test]
    fn ready_pending_and_elapsed() {
        rt().block_on(async {
            // Done at the first poll: no timer taken.
            assert_eq!(within(Duration::ZERO, async { 7 }).await, Ok(7));
            // Ends before its limit.
            let short = monoio::time::sleep(Duration::from_millis(5));
            assert_eq!(within(Duration::from_secs(5), short).await, Ok(()));
            // Never ends: the limit ends it, and no sooner.
            let start = std::time::Instant::now();
            let never = std::future::pending::<()>();
            assert_eq!(within(Duration::from_millis(30), never).await, Err(Elapsed));
            assert!(start.elapsed() >= Duration::from_millis(30));
            let start = std::time::Instant::now();
            sleep(Duration::from_millis(20)).await;
            assert!(start.elapsed() >= Duration::from_millis(20));
            let start = Instant::now();
            sleep_until(start + Duration::from_millis(15)).await;
            assert!(start.elapsed() >= Duration::from_millis(15));
            // A deadline already past: done at once, with no timer.
            sleep_until(start).await;
            // The slots came back: one per timer alive at once, reused.
            assert_eq!(SPARE.with(|s| s.borrow().len()), 1);
            // A limit past the clock's range is no limit.
            let far = within(Duration::MAX, monoio::time::sleep(Duration::from_millis(1)));
            assert_eq!(far.await, Ok(()));
        });
    }

    #[test]
    fn a_kept_timer_counts_each_wait_from_its_own_start() {
        rt().block_on(async {
            let mut kept = Kept::default();
            // Done at the first poll: no timer taken yet.
            assert_eq!(kept.within(Duration::ZERO, async { 1 }).await, Ok(1));
            assert!(kept.timer.is_none());
            // Waits that end before their limit, one after another on the same timer
            // (each deadline later than the last: the entry is only moved).
            for _ in 0..3 {
                let short = monoio::time::sleep(Duration::from_millis(5));
                assert_eq!(kept.within(Duration::from_millis(200), short).await, Ok(()));
            }
            // Counted from this wait's start, not the first one's.
            monoio::time::sleep(Duration::from_millis(150)).await;
            let start = std::time::Instant::now();
            let never = std::future::pending::<()>();
            assert_eq!(
                kept.within(Duration::from_millis(100), never).await,
                Err(Elapsed)
            );
            let took = start.elapsed();
            // (Counted from the runtime's clock of the turn: a loop turn early at most.)
            assert!(took >= Duration::from_millis(95), "{took:?}");
            // A shorter limit than the last wait's: a deadline earlier than the one the
            // timer holds, still kept.
            let short = monoio::time::sleep(Duration::from_millis(5));
            assert_eq!(kept.within(Duration::from_secs(5), short).await, Ok(()));
            let start = std::time::Instant::now();
            let never = std::future::pending::<()>();
            assert_eq!(
                kept.within(Duration::from_millis(30), never).await,
                Err(Elapsed)
            );
            assert!(start.elapsed() < Duration::from_secs(5));
            // After firing, armed again by the next wait.
            let never = std::future::pending::<()>();
            assert_eq!(
                kept.within(Duration::from_millis(10), never).await,
                Err(Elapsed)
            );
            // One slot, held by the kept timer; back to the spares with it.
            drop(kept);
            assert!(SPARE.with(|s| s.borrow().len()) >= 1);
        });
    }

    #[test]
    fn timers_alive_at_once_fire_each_at_its_own_deadline() {
        rt().block_on(async {
            let first = within(Duration::from_millis(40), std::future::pending::<()>());
            let second = within(Duration::from_millis(10), std::future::pending::<()>());
            let (mut first, mut second) = (pin!(first), pin!(second));
            let which = monoio::select! {
                r = &mut first => ("first", r),
                r = &mut second => ("second", r),
            };
            assert_eq!(which, ("second", Err(Elapsed)));
            assert_eq!(first.await, Err(Elapsed));
            assert_eq!(SPARE.with(|s| s.borrow().len()), 2);
        });
    }
}
