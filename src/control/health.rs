//! HAProxy's health counter, pure: one number from 0 to `rise + fall - 1`. A server is
//! up while the counter is at least `rise`. A success moves it up by one (and, on
//! reaching `rise`, straight to the top: the server is fully up); a failure moves it
//! down by one while it stays up, and drops it to 0 (down) when it was at `rise`. So a
//! server goes down after `fall` failures in a row, comes back after `rise` successes
//! in a row, and a failure while it is coming back starts the count again: flapping
//! is damped.

use std::time::Duration;

use crate::config::HealthCheck;
use crate::lb::Oper;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    counter: u32,
    rise: u32,
    fall: u32,
}

impl Health {
    /// HAProxy's start: up, but the first failure takes it down (a server that is dead
    /// when ringlb starts is out after one check, not `fall`).
    pub fn new(rise: u32, fall: u32) -> Self {
        let (rise, fall) = (rise.max(1), fall.max(1));
        Health {
            counter: rise,
            rise,
            fall,
        }
    }

    fn top(&self) -> u32 {
        self.rise + self.fall - 1
    }

    pub fn oper(&self) -> Oper {
        if self.counter >= self.rise {
            Oper::Up
        } else {
            Oper::Down
        }
    }

    /// Count one check result; the new state when it changed.
    pub fn record(&mut self, ok: bool) -> Option<Oper> {
        let before = self.oper();
        if ok {
            if self.counter < self.top() {
                self.counter += 1;
                if self.counter >= self.rise {
                    self.counter = self.top();
                }
            }
        } else if self.counter > self.rise {
            self.counter -= 1;
        } else {
            self.counter = 0;
        }
        let after = self.oper();
        (after != before).then_some(after)
    }

    /// Passive health: the proxy saw too many errors. Down at once, as if the checks had
    /// failed `fall` times; true when that is a change.
    pub fn force_down(&mut self) -> bool {
        let was_up = self.oper() == Oper::Up;
        self.counter = 0;
        was_up
    }

    /// Consecutive results still needed to change state (for the stats page).
    pub fn needed_to_change(&self) -> u32 {
        match self.oper() {
            Oper::Up => self.counter - self.rise + 1,
            Oper::Down => self.rise - self.counter,
        }
    }

    /// Time to the next check: `interval` when fully up, `down_interval` when fully
    /// down, `fast_interval` while the state is changing (HAProxy's inter, downinter,
    /// fastinter).
    pub fn interval(&self, check: &HealthCheck) -> Duration {
        if self.counter == self.top() {
            check.interval
        } else if self.counter == 0 {
            check.down_interval
        } else {
            check.fast_interval
        }
    }
}

/// `d` moved by up to ±10%, from `random` (any u64): checks of many servers drift
/// apart instead of probing in one burst.
pub fn jitter(d: Duration, random: u64) -> Duration {
    let spread = d.as_nanos() as u64 / 5; // 20% wide window
    if spread == 0 {
        return d;
    }
    let offset = random % spread;
    (d + Duration::from_nanos(offset)).saturating_sub(Duration::from_nanos(spread / 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CheckKind;

    fn check() -> HealthCheck {
        HealthCheck {
            kind: CheckKind::Tcp,
            interval: Duration::from_secs(2),
            fast_interval: Duration::from_millis(500),
            down_interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            rise: 2,
            fall: 3,
            ..HealthCheck::default()
        }
    }

    #[test]
    fn starts_up_and_falls_at_the_first_failure() {
        let mut h = Health::new(2, 3);
        assert_eq!(h.oper(), Oper::Up);
        assert_eq!(h.record(false), Some(Oper::Down));
    }

    #[test]
    fn fully_up_goes_down_after_fall_failures() {
        let mut h = Health::new(2, 3);
        assert_eq!(h.record(true), None);
        assert_eq!(h.interval(&check()), Duration::from_secs(2));
        assert_eq!(h.record(false), None);
        assert_eq!(h.interval(&check()), Duration::from_millis(500));
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), Some(Oper::Down));
        assert_eq!(h.interval(&check()), Duration::from_secs(5));
    }

    #[test]
    fn comes_back_after_rise_successes_and_flapping_restarts_the_count() {
        let mut h = Health::new(2, 3);
        h.record(false);
        assert_eq!(h.record(true), None);
        assert_eq!(h.needed_to_change(), 1);
        assert_eq!(h.record(false), None); // back to 0
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(true), Some(Oper::Up));
        // Straight to the top: it takes `fall` failures again.
        assert_eq!(h.needed_to_change(), 3);
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(true), None); // a success restores the top
        assert_eq!(h.needed_to_change(), 3);
    }

    #[test]
    fn alternating_results_never_bring_a_down_server_back() {
        let mut h = Health::new(2, 3);
        h.record(false);
        for _ in 0..50 {
            assert_eq!(h.record(true), None);
            assert_eq!(h.record(false), None);
        }
        assert_eq!(h.oper(), Oper::Down);
    }

    #[test]
    fn rise_and_fall_of_one() {
        let mut h = Health::new(1, 1);
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(false), Some(Oper::Down));
        assert_eq!(h.record(true), Some(Oper::Up));
    }

    #[test]
    fn forced_down_needs_rise_successes() {
        let mut h = Health::new(3, 2);
        h.record(true);
        assert!(h.force_down());
        assert!(!h.force_down());
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(true), Some(Oper::Up));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let d = Duration::from_secs(2);
        let mut x = 1u64;
        let (mut lo, mut hi) = (d, d);
        for _ in 0..10_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let j = jitter(d, x >> 11);
            lo = lo.min(j);
            hi = hi.max(j);
        }
        assert!(lo >= Duration::from_millis(1800) && lo < Duration::from_millis(1850));
        assert!(hi <= Duration::from_millis(2200) && hi > Duration::from_millis(2150));
        assert_eq!(jitter(Duration::ZERO, 7), Duration::ZERO);
    }
}
