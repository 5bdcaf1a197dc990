//! When requests are meant to be sent, and where their latency is measured from.
//!
//! Open loop (wrk2's way): the total rate R is split over C connections; connection i
//! sends request k at `start + (i + k·C) / R`, whatever happened to earlier requests.
//! When a response comes late, the requests that should have gone out meanwhile are
//! sent as soon as the connection is free, and their latency counts from the time they
//! were *intended* to be sent: that is the coordinated-omission correction. Without it
//! a 100 ms stall shows up as one slow sample instead of the hundred that real users,
//! arriving on their own schedule, would have seen.

use std::time::{Duration, Instant};

/// The send times of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    first: Instant,
    period: Duration,
}

impl Schedule {
    /// Connection `index` of `connections` sharing `rate` requests/s in total.
    pub fn for_connection(start: Instant, rate: f64, connections: usize, index: usize) -> Schedule {
        let rate = rate.max(1e-9);
        Schedule {
            first: start + Duration::from_secs_f64(index as f64 / rate),
            period: Duration::from_secs_f64(connections as f64 / rate),
        }
    }

    /// The intended send time of request `k` (0-based).
    pub fn intended(&self, k: u64) -> Instant {
        self.first + self.period.mul_f64(k as f64)
    }
}

/// Where the corrected latency of a request starts. If the connection only became free
/// (previous response, or connect) after the request's intended time, the system under
/// test held it back: count from the intended time. Otherwise the connection was idle
/// and any gap between intended and actual send is our own timer's slack, not the
/// server's doing: count from the actual send.
pub fn latency_start(intended: Instant, sent: Instant, free_since: Instant) -> Instant {
    if free_since > intended {
        intended
    } else {
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays one connection at a fixed interval against a server whose response time
    /// is `service(k)`, with the same accounting as the real client. Returns the
    /// (corrected, uncorrected) latencies.
    fn simulate(
        n: u64,
        interval: Duration,
        service: impl Fn(u64) -> Duration,
    ) -> (Vec<Duration>, Vec<Duration>) {
        let t0 = Instant::now();
        let sched = Schedule {
            first: t0,
            period: interval,
        };
        let mut free = t0;
        let (mut corrected, mut uncorrected) = (Vec::new(), Vec::new());
        for k in 0..n {
            let intended = sched.intended(k);
            let sent = intended.max(free);
            let done = sent + service(k);
            corrected.push(done - latency_start(intended, sent, free));
            uncorrected.push(done - sent);
            free = done;
        }
        (corrected, uncorrected)
    }

    #[test]
    fn a_100ms_stall_at_1ms_interval_is_seen_by_about_100_requests() {
        // The server answers in 0.5 ms, except once, when it stalls for 100 ms.
        let ms = Duration::from_millis(1);
        let (corrected, uncorrected) =
            simulate(2000, ms, |k| if k == 500 { 100 * ms } else { ms / 2 });
        let above = |v: &[Duration]| v.iter().filter(|d| **d > 50 * ms).count();
        // The backlog drains at 0.5 ms per request: the delay falls from 100 ms to
        // 50 ms over 100 requests.
        let c = above(&corrected);
        assert!(
            (95..=105).contains(&c),
            "corrected samples above 50 ms: {c}"
        );
        assert_eq!(above(&uncorrected), 1);
    }

    #[test]
    fn no_stall_means_no_correction() {
        let ms = Duration::from_millis(1);
        let (corrected, uncorrected) = simulate(100, ms, |_| ms / 2);
        assert_eq!(corrected, uncorrected);
    }

    #[test]
    fn timer_lateness_on_an_idle_connection_is_not_blamed_on_the_server() {
        let t0 = Instant::now();
        let intended = t0 + Duration::from_millis(10);
        let sent = intended + Duration::from_micros(900);
        assert_eq!(latency_start(intended, sent, t0), sent);
        // But when the previous response came after the intended time, it is.
        assert_eq!(latency_start(intended, sent, sent), intended);
    }

    #[test]
    fn connections_interleave_to_an_even_total_rate() {
        let t0 = Instant::now();
        let rate = 1000.0;
        let scheds: Vec<_> = (0..4)
            .map(|i| Schedule::for_connection(t0, rate, 4, i))
            .collect();
        let mut times: Vec<Duration> = scheds
            .iter()
            .flat_map(|s| (0..250).map(move |k| s.intended(k) - t0))
            .collect();
        times.sort();
        for (n, t) in times.iter().enumerate() {
            let want = Duration::from_secs_f64(n as f64 / rate);
            assert!(
                t.abs_diff(want) < Duration::from_micros(1),
                "request {n} at {t:?}, want {want:?}"
            );
        }
    }
}
