//! The budget of streams a client may reset on one connection (CVE-2023-44487, "rapid
//! reset"): a stream opened and at once reset costs the client nothing but may cost a
//! proxy a request to a server. The HTTP/2 library bounds resets of streams not yet
//! accepted; this bounds those of accepted ones: at most `limit` in any `window`
//! (counted in fixed windows), past that the connection is closed with GOAWAY
//! (ENHANCE_YOUR_CALM).

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ResetBudget {
    limit: u32,
    window: Duration,
    start: Option<Instant>,
    count: u32,
}

impl ResetBudget {
    pub fn new(limit: u32, window: Duration) -> Self {
        ResetBudget {
            limit,
            window,
            start: None,
            count: 0,
        }
    }

    /// Count a reset at `now`; false once the budget is spent.
    pub fn on_reset(&mut self, now: Instant) -> bool {
        match self.start {
            Some(s) if now.saturating_duration_since(s) < self.window => {}
            _ => {
                self.start = Some(now);
                self.count = 0;
            }
        }
        self.count = self.count.saturating_add(1);
        self.count <= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spent_within_a_window_and_renewed_after() {
        let t0 = Instant::now();
        let mut b = ResetBudget::new(3, Duration::from_secs(10));
        assert!(b.on_reset(t0));
        assert!(b.on_reset(t0 + Duration::from_secs(1)));
        assert!(b.on_reset(t0 + Duration::from_secs(2)));
        assert!(!b.on_reset(t0 + Duration::from_secs(3)));
        assert!(b.on_reset(t0 + Duration::from_secs(11)));
    }

    #[test]
    fn zero_allows_none() {
        let mut b = ResetBudget::new(0, Duration::from_secs(1));
        assert!(!b.on_reset(Instant::now()));
    }
}
