//! Source of time abstraction.
//!
//! By default, `std::time::Instant::now()` is used. However, when the
//! `test-util` feature flag is enabled, the values returned for `now()` are
//! configurable.

use crate::time::Instant;

#[derive(Default, Debug, Clone)]
pub(crate) struct Clock {}

// ringlb patch: every read is kept (see `coarse_now`).
pub(crate) fn now() -> Instant {
    let now = std::time::Instant::now();
    LAST_READ.with(|last| last.set(Some(now)));
    Instant::from_std(now)
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {}
    }

    pub(crate) fn now(&self) -> Instant {
        now()
    }
}

// ringlb patch: a clock read once per turn of the runtime's loop, not per use.
thread_local! {
    static LAST_READ: std::cell::Cell<Option<std::time::Instant>> =
        const { std::cell::Cell::new(None) };
}

// ringlb patch: see `LAST_READ`.
/// The time this thread's timer driver read last: after each wait for events (when it
/// fires timers) and at each submission without a wait, so at most one turn of the
/// runtime's loop old, never later than the true time. For bookkeeping that would
/// otherwise read the clock per I/O (HAProxy's `now_ms`). Without a timer driver on
/// this thread, or before its first read: the clock, read now.
pub fn coarse_now() -> std::time::Instant {
    match LAST_READ.with(|last| last.get()) {
        Some(at) => at,
        None => std::time::Instant::now(),
    }
}
