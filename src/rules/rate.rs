//! Sliding-window event rates, HAProxy's `freq_ctr` way: a count for the current
//! period and one for the previous period, and the rate read at time `t` is
//! `current + previous × (part of the period still to run)`. It behaves like a
//! window sliding over the last period, with two integers per counter instead of a
//! list of events. One entry's counters share a period start (they rotate together),
//! so three rates cost 8 + 3 × 8 bytes.

/// Which of an entry's rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Which {
    Conn = 0,
    Req = 1,
    Err = 2,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Rates {
    /// Start of the current period, ms.
    start_ms: u64,
    curr: [u32; 3],
    prev: [u32; 3],
}

impl Rates {
    pub(super) fn new(now_ms: u64) -> Self {
        Rates {
            start_ms: now_ms,
            ..Rates::default()
        }
    }

    /// Count one event at `now_ms`.
    pub(super) fn add(&mut self, which: Which, now_ms: u64, period_ms: u64) {
        self.rotate(now_ms, period_ms);
        let c = &mut self.curr[which as usize];
        *c = c.saturating_add(1);
    }

    /// Events over the last period as seen at `now_ms`, rounded down.
    pub(super) fn read(&self, which: Which, now_ms: u64, period_ms: u64) -> u64 {
        let period = period_ms.max(1);
        let elapsed = now_ms.saturating_sub(self.start_ms);
        let i = which as usize;
        let (curr, prev, into) = if elapsed < period {
            (self.curr[i], self.prev[i], elapsed)
        } else if elapsed < 2 * period {
            (0, self.curr[i], elapsed - period)
        } else {
            (0, 0, 0)
        };
        u64::from(curr) + u64::from(prev) * (period - into) / period
    }

    /// For a binary upgrade: how far into its period the counts are at `now_ms`, and
    /// the current and previous periods' counts (after moving to `now_ms`'s period).
    pub(super) fn saved(&self, now_ms: u64, period_ms: u64) -> (u64, [u32; 3], [u32; 3]) {
        let mut r = *self;
        r.rotate(now_ms, period_ms);
        (now_ms.saturating_sub(r.start_ms), r.curr, r.prev)
    }

    /// Counts handed over ([`Rates::saved`]) added to these, at `now_ms`.
    pub(super) fn absorb(
        &mut self,
        age_ms: u64,
        curr: [u32; 3],
        prev: [u32; 3],
        now_ms: u64,
        period_ms: u64,
    ) {
        self.rotate(now_ms, period_ms);
        let mut other = Rates {
            start_ms: now_ms.saturating_sub(age_ms),
            curr,
            prev,
        };
        other.rotate(now_ms, period_ms);
        if self.curr == [0; 3] && self.prev == [0; 3] {
            // A fresh entry takes the period as it was.
            *self = other;
            return;
        }
        for i in 0..3 {
            self.curr[i] = self.curr[i].saturating_add(other.curr[i]);
            self.prev[i] = self.prev[i].saturating_add(other.prev[i]);
        }
    }

    /// Move to the period holding `now_ms`, the current count becoming the previous
    /// one when the periods are consecutive.
    fn rotate(&mut self, now_ms: u64, period_ms: u64) {
        let period = period_ms.max(1);
        let elapsed = now_ms.saturating_sub(self.start_ms);
        if elapsed < period {
            return;
        }
        let periods = elapsed / period;
        self.prev = if periods == 1 { self.curr } else { [0; 3] };
        self.curr = [0; 3];
        self.start_ms += periods * period;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = 10_000;

    #[test]
    fn within_one_period_it_counts_exactly() {
        let mut r = Rates::new(0);
        for i in 0..100 {
            r.add(Which::Req, i * 50, P);
        }
        assert_eq!(r.read(Which::Req, 5_000, P), 100);
        assert_eq!(r.read(Which::Conn, 5_000, P), 0);
        r.add(Which::Req, 9_999, P);
        assert_eq!(r.read(Which::Req, 9_999, P), 101);
    }

    #[test]
    fn the_previous_period_fades_out_linearly() {
        let mut r = Rates::new(0);
        for _ in 0..100 {
            r.add(Which::Req, 1_000, P);
        }
        assert_eq!(r.read(Which::Req, 10_000, P), 100);
        assert_eq!(r.read(Which::Req, 12_500, P), 75);
        assert_eq!(r.read(Which::Req, 15_000, P), 50);
        assert_eq!(r.read(Which::Req, 19_999, P), 0);
        assert_eq!(r.read(Which::Req, 20_000, P), 0);
        // Rotation on write gives the same reading as the read-only view.
        r.add(Which::Err, 15_000, P);
        assert_eq!(r.read(Which::Req, 15_000, P), 50);
        assert_eq!(r.read(Which::Err, 15_000, P), 1);
        r.add(Which::Req, 15_000, P);
        assert_eq!(r.read(Which::Req, 15_000, P), 51);
    }

    #[test]
    fn a_long_pause_forgets_everything() {
        let mut r = Rates::new(0);
        r.add(Which::Conn, 0, P);
        r.add(Which::Conn, 35_000, P);
        assert_eq!(r.read(Which::Conn, 35_000, P), 1);
        assert_eq!(r.read(Which::Conn, 45_000, P), 0);
    }
}
