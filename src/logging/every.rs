//! Log lines that could repeat many times a second (accept failures, a full
//! connection limit, checks that cannot run) are written at most once per period,
//! with a count of what was left out; the counts themselves go to `/metrics`.
//! A plain value owned by one thread: no lock, time passed in.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How often a repeated log line is written at most.
pub const EVERY: Duration = Duration::from_secs(10);

/// When a repeated line was last written, and how many were left out since.
#[derive(Debug, Default)]
pub struct LogEvery {
    last: Cell<Option<Instant>>,
    skipped: Cell<u64>,
}

impl LogEvery {
    /// Whether the line may be written now. `false` counts it as left out.
    pub fn due(&self, now: Instant) -> bool {
        let due = self
            .last
            .get()
            .is_none_or(|at| now.saturating_duration_since(at) >= EVERY);
        if due {
            self.last.set(Some(now));
        } else {
            self.skipped.set(self.skipped.get() + 1);
        }
        due
    }

    /// How many lines were left out since the last call (and reset the count): for
    /// the written line to say so.
    pub fn take_skipped(&self) -> u64 {
        self.skipped.replace(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_period_with_the_rest_counted() {
        let log = LogEvery::default();
        let t = Instant::now();
        assert!(log.due(t));
        assert!(!log.due(t + Duration::from_secs(1)));
        assert!(!log.due(t + Duration::from_secs(9)));
        assert_eq!(log.take_skipped(), 2);
        assert!(log.due(t + EVERY));
        assert_eq!(log.take_skipped(), 0);
        assert!(!log.due(t + EVERY + Duration::from_millis(1)));
    }
}
