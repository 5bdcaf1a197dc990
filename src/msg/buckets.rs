//! A small fixed-bucket latency histogram: four buckets per doubling (each bucket's
//! upper edge is at most 1.25 times its lower edge), from 1 µs to a minute, 104
//! counters. Recording is one array increment (the bucket comes from the value's
//! bits, no search); two copies subtract, so the control plane can take the
//! percentiles of the last few seconds from two cumulative copies (the history), which
//! the cumulative high-resolution histograms (`stats::Latency`) cannot do cheaply.

use std::ops::AddAssign;
use std::time::Duration;

/// Buckets per doubling of the latency.
const PER_OCTAVE: usize = 4;
/// Highest latency recorded, in microseconds (one minute); longer ones count as this.
pub const BUCKETS_MAX_US: u64 = 60_000_000;
/// Enough buckets for `BUCKETS_MAX_US` (below 2^26 µs).
pub const BUCKETS: usize = 26 * PER_OCTAVE;

/// Latencies counted by bucket (microseconds, see [`lower_us`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets(pub [u64; BUCKETS]);

impl Default for Buckets {
    fn default() -> Self {
        Buckets([0; BUCKETS])
    }
}

/// The bucket of a latency of `us` microseconds: the doubling it is in, then which
/// quarter of it (the two bits below the highest).
pub fn index(us: u64) -> usize {
    let v = us.clamp(1, BUCKETS_MAX_US);
    let octave = 63 - v.leading_zeros() as usize;
    let quarter = if octave >= 2 {
        (v >> (octave - 2)) & 3
    } else {
        (v << (2 - octave)) & 3
    };
    (octave * PER_OCTAVE + quarter as usize).min(BUCKETS - 1)
}

/// The lowest latency (µs) bucket `i` holds; bucket `i` ends where `i + 1` starts.
pub fn lower_us(i: usize) -> f64 {
    let octave = (i / PER_OCTAVE) as i32;
    let quarter = (i % PER_OCTAVE) as f64;
    2f64.powi(octave) * (1.0 + quarter / PER_OCTAVE as f64)
}

impl Buckets {
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        if let Some(c) = self.0.get_mut(index(us)) {
            *c += 1;
        }
    }

    pub fn count(&self) -> u64 {
        self.0.iter().sum()
    }

    /// What was recorded since `earlier` (an older copy of the same counters). When a
    /// bucket went down the counters were started again: all of `self` is new.
    pub fn since(&self, earlier: &Buckets) -> Buckets {
        if self.0.iter().zip(&earlier.0).any(|(now, then)| now < then) {
            return self.clone();
        }
        let mut d = Buckets::default();
        for ((out, now), then) in d.0.iter_mut().zip(&self.0).zip(&earlier.0) {
            *out = now - then;
        }
        d
    }

    /// The latency (µs) below which a fraction `q` (0..=1) of the recorded ones are,
    /// interpolated linearly inside its bucket (as Prometheus' `histogram_quantile`
    /// does); `None` when nothing was recorded.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let target = (q.clamp(0.0, 1.0) * total as f64).ceil().max(1.0);
        let mut below = 0u64;
        for (i, &n) in self.0.iter().enumerate() {
            if n > 0 && (below + n) as f64 >= target {
                let fraction = (target - below as f64) / n as f64;
                let (lo, hi) = (lower_us(i), lower_us(i + 1));
                return Some(lo + fraction * (hi - lo));
            }
            below += n;
        }
        None
    }
}

impl AddAssign<&Buckets> for Buckets {
    fn add_assign(&mut self, o: &Buckets) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_falls_in_the_bucket_that_holds_it() {
        for us in (1..5000).chain([65_535, 65_536, 1_000_000, BUCKETS_MAX_US]) {
            let i = index(us);
            assert!(
                lower_us(i) <= us as f64 && (us as f64) < lower_us(i + 1),
                "{us} µs in bucket {i} [{}, {})",
                lower_us(i),
                lower_us(i + 1)
            );
        }
        // Buckets grow by at most a quarter of their lower edge.
        for i in 0..BUCKETS {
            assert!(lower_us(i + 1) / lower_us(i) <= 1.25 + 1e-9, "bucket {i}");
        }
    }

    #[test]
    fn out_of_range_values_are_clamped_not_lost() {
        let mut b = Buckets::default();
        b.record(Duration::ZERO);
        b.record(Duration::from_secs(3600));
        b.record(Duration::MAX);
        assert_eq!(b.count(), 3);
        assert_eq!(b.0[0], 1);
        assert_eq!(b.0[BUCKETS - 1], 2);
        assert_eq!(index(0), 0);
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_are_within_a_bucket_of_the_truth() {
        let mut b = Buckets::default();
        for ms in 1..=100 {
            b.record(Duration::from_millis(ms));
        }
        let near = |got: f64, want: f64| (got / want - 1.0).abs() <= 0.25;
        let p50 = b.quantile_us(0.5).unwrap();
        let p99 = b.quantile_us(0.99).unwrap();
        assert!(near(p50, 50_000.0), "p50 {p50}");
        assert!(near(p99, 99_000.0), "p99 {p99}");
        assert!(p50 < p99);
        // One value: every percentile is inside its bucket.
        let mut one = Buckets::default();
        one.record(Duration::from_micros(700));
        for q in [0.0, 0.5, 0.99, 1.0] {
            let v = one.quantile_us(q).unwrap();
            assert!((lower_us(index(700))..=lower_us(index(700) + 1)).contains(&v));
        }
        assert_eq!(Buckets::default().quantile_us(0.5), None);
    }

    #[test]
    fn a_delta_holds_only_what_came_after() {
        let mut then = Buckets::default();
        for _ in 0..1000 {
            then.record(Duration::from_secs(2));
        }
        let mut now = then.clone();
        for _ in 0..10 {
            now.record(Duration::from_millis(1));
        }
        let d = now.since(&then);
        assert_eq!(d.count(), 10);
        // The slow past no longer weighs on the percentiles.
        assert!(d.quantile_us(0.99).unwrap() < 1300.0);
        // Counters started again (fewer than before): everything is new.
        let mut restarted = Buckets::default();
        restarted.record(Duration::from_millis(5));
        assert_eq!(restarted.since(&then), restarted);
        // Sum then delta gives back the part.
        let mut sum = then.clone();
        sum += &d;
        assert_eq!(sum.since(&then), d);
    }
}
